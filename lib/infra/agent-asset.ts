import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AssetHashType, BundlingOutput, DockerImage } from 'aws-cdk-lib';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import type { Construct } from 'constructs';
import { buildSync } from 'esbuild';

/** Packages the agent loads at run time instead of from the bundle: native code built per platform. */
const AGENT_EXTERNALS = ['onnxruntime-node'] as const;

export interface AgentAssetProps {
  readonly projectRoot: string;
  /** Entry file relative to the project root, e.g. `agent/main.ts`. */
  readonly entry: string;
}

/**
 * The instance agent as an S3 asset: a zip with `main.mjs` (esbuild bundle) and a `package.json` naming
 * the native packages left out of the bundle, which the instance installs with npm at boot.
 * Bundled locally; the Docker image below is never pulled because local bundling always answers.
 */
export function agentAsset(scope: Construct, id: string, props: AgentAssetProps): s3assets.Asset {
  const entry = join(props.projectRoot, props.entry);
  if (!existsSync(entry)) {
    throw new Error(`agent entry ${props.entry} not found under ${props.projectRoot}`);
  }
  return new s3assets.Asset(scope, id, {
    path: dirname(entry),
    // The bundle also pulls in lib/, so hash what was built rather than the agent folder alone.
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      image: DockerImage.fromRegistry('scratch'),
      outputType: BundlingOutput.NOT_ARCHIVED,
      local: { tryBundle: (outputDir) => bundleAgent(props.projectRoot, entry, outputDir) },
    },
  });
}

function bundleAgent(projectRoot: string, entry: string, outputDir: string): boolean {
  const result = buildSync({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: join(outputDir, 'main.mjs'),
    absWorkingDir: projectRoot,
    external: [...AGENT_EXTERNALS],
    logLevel: 'silent',
    banner: {
      js: "import { createRequire as __tfCreateRequire } from 'node:module'; const require = __tfCreateRequire(import.meta.url);",
    },
  });
  if (result.errors.length > 0) {
    throw new Error(`bundling the agent failed: ${result.errors.map((e) => e.text).join('; ')}`);
  }
  writeFileSync(join(outputDir, 'package.json'), JSON.stringify(agentPackageJson(projectRoot), null, 2));
  return true;
}

/** Pins the externals to the versions the project tests with. */
function agentPackageJson(projectRoot: string): object {
  const root = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  const dependencies = Object.fromEntries(
    AGENT_EXTERNALS.map((name) => [name, root.dependencies?.[name] ?? 'latest']),
  );
  return { name: 'tetrafleet-agent', private: true, type: 'module', dependencies };
}
