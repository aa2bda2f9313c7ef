import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CDK = join(ROOT, 'node_modules', '.bin', 'cdk');
/** The construct id of the stack in bin/app.ts; the CLI selects stacks by it. */
export const STACK_CONSTRUCT_ID = 'TetrafleetStack';

export interface DeployOptions {
  /** Emulator endpoint; all AWS calls of the CLI go there. */
  readonly endpoint: string;
  readonly stackName: string;
  /** Extra `-c key=value` context for bin/app.ts (e.g. maxFleetSize). `localMode=true` is always set. */
  readonly context?: Readonly<Record<string, string>>;
  /** Called with each step's name as it starts. */
  readonly onStep?: (step: 'synth' | 'bootstrap' | 'deploy') => void;
  readonly env?: NodeJS.ProcessEnv;
}

/** The environment for the CDK CLI and agents that must reach the emulator. */
export function emulatorProcessEnv(
  endpoint: string,
  env: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  return {
    ...env,
    AWS_ENDPOINT_URL: endpoint,
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID ?? 'test',
    AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY ?? 'test',
    CDK_DISABLE_CLI_TELEMETRY: 'true',
  };
}

/**
 * Deploys the real stack into an emulator with the CDK CLI, as a user would into an account: synth once,
 * bootstrap, then deploy from the same cloud assembly. Two emulator quirks shape the commands:
 * `--method=direct`, because the emulator drops a stack's outputs when it is created from a change set;
 * and `localMode=true`, because the emulator fires SQS event source mappings by itself and loses messages
 * (the local runtime delivers them instead). The emulator creates stacks well but updates them badly,
 * so deploy once into a fresh one.
 */
export async function deployStack(options: DeployOptions): Promise<void> {
  const env = emulatorProcessEnv(options.endpoint, options.env);
  const assembly = join(mkdtempSync(join(tmpdir(), 'tetrafleet-deploy-')), 'cdk.out');
  const context = Object.entries({
    localMode: 'true',
    stackName: options.stackName,
    ...options.context,
  }).flatMap(([k, v]) => ['-c', `${k}=${v}`]);
  options.onStep?.('synth');
  await cdk(['synth', '--quiet', '-o', assembly, ...context], env, 300_000);
  options.onStep?.('bootstrap');
  await cdk(['bootstrap', '--app', assembly], env, 180_000);
  options.onStep?.('deploy');
  await cdk(
    ['deploy', '--app', assembly, '--require-approval', 'never', '--method=direct', STACK_CONSTRUCT_ID],
    env,
    300_000,
  );
}

/** Runs the CDK CLI; rejects with the tail of its output when it fails or runs past `timeoutMs`. */
function cdk(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(CDK, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-20_000);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`cdk ${args[0]} exited with ${code}:\n${output.slice(-4000)}`));
    });
  });
}
