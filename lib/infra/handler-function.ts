import { join } from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export type HandlerName = 'admit' | 'schedule' | 'ingest' | 'scale';

export interface HandlerFunctionProps {
  /** Project root: holds `lambdas/<name>.ts`, `package-lock.json` and `node_modules`. */
  readonly projectRoot: string;
  readonly name: HandlerName;
  readonly environment: Record<string, string>;
  /**
   * @default Duration.seconds(30)
   */
  readonly timeout?: Duration;
  /**
   * @default 256
   */
  readonly memorySize?: number;
  /**
   * Concurrent executions reserved (and so capped). Set it where two overlapping runs would be wrong.
   * @default - unreserved
   */
  readonly reservedConcurrentExecutions?: number;
  /**
   * Files copied next to the bundle, as paths relative to the project root.
   * @default - none
   */
  readonly extraFiles?: readonly string[];
  /**
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

// The handlers are ES modules; some bundled CommonJS dependencies still call require() or read
// __dirname, so the bundle defines both from import.meta.url.
const ESM_BANNER = [
  "import { createRequire as __tfCreateRequire } from 'node:module';",
  "import { fileURLToPath as __tfFileURLToPath } from 'node:url';",
  "import { dirname as __tfDirname } from 'node:path';",
  'const require = __tfCreateRequire(import.meta.url);',
  'const __filename = __tfFileURLToPath(import.meta.url);',
  'const __dirname = __tfDirname(__filename);',
].join(' ');

/**
 * One Lambda handler from `lambdas/<name>.ts`, bundled locally with esbuild (no Docker), with its own
 * role and log group so that each function's permissions are exactly what the stack grants it: no
 * managed policy, logs only to its own group.
 */
export class HandlerFunction extends Construct {
  readonly function: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: HandlerFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `tetrafleet ${props.name} handler`,
    });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );
    const extraFiles = props.extraFiles ?? [];
    this.function = new nodejs.NodejsFunction(this, 'Resource', {
      entry: join(props.projectRoot, 'lambdas', `${props.name}.ts`),
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? Duration.seconds(30),
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      environment: props.environment,
      projectRoot: props.projectRoot,
      depsLockFilePath: join(props.projectRoot, 'package-lock.json'),
      bundling: {
        forceDockerBundling: false,
        format: nodejs.OutputFormat.ESM,
        target: 'node22',
        mainFields: ['module', 'main'],
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        banner: ESM_BANNER,
        // The Node 22 runtime ships AWS SDK v3; bundling it again only grows cold starts.
        externalModules: ['@aws-sdk/*'],
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (inputDir: string, outputDir: string) =>
            extraFiles.map((file) => `cp "${join(inputDir, file)}" "${outputDir}/"`),
        },
      },
    });
  }
}
