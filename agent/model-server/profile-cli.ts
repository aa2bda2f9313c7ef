import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ModelProfileSchema, ProviderPreferenceSchema } from '../../lib/core/protocol/inference.ts';
import { localModelPath } from './model-path.ts';
import { defaultModelId, profileModelFile } from './profile.ts';

/**
 * Profile a model on this machine and print its ModelProfile as one line of JSON:
 *   tsx agent/model-server/profile-cli.ts --model PATH|s3://bucket/key [--model-id ID] [--max-batch 32]
 *     [--instance-type TYPE] [--provider auto|cuda|cpu] [--threads N] [--min-samples N]
 *     [--min-duration-ms MS] [--out FILE]
 * Progress goes to stderr; the profile to stdout (and to --out when given).
 */

const USAGE =
  'usage: profile-cli --model PATH|s3://bucket/key [--model-id ID] [--max-batch N] [--instance-type T] [--provider auto|cuda|cpu] [--threads N] [--out FILE]';

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      'model-id': { type: 'string' },
      'max-batch': { type: 'string', default: '32' },
      'instance-type': { type: 'string' },
      provider: { type: 'string', default: 'auto' },
      threads: { type: 'string', default: '0' },
      'min-samples': { type: 'string', default: '30' },
      'min-duration-ms': { type: 'string', default: '500' },
      out: { type: 'string' },
    },
  });
  const problems: string[] = [];
  if (!values.model) problems.push('--model is required');
  const maxBatch = intArg(values['max-batch'], '--max-batch', 1, 1024, problems);
  const threads = intArg(values.threads, '--threads', 0, 256, problems);
  const minSamples = intArg(values['min-samples'], '--min-samples', 1, 100_000, problems);
  const minDurationMs = intArg(values['min-duration-ms'], '--min-duration-ms', 0, 600_000, problems);
  const provider = ProviderPreferenceSchema.safeParse(values.provider);
  if (!provider.success) problems.push(`--provider must be one of auto, cuda, cpu, got ${values.provider}`);
  if (problems.length > 0 || !values.model || !provider.success) {
    throw new Error(`${problems.join('; ')}\n${USAGE}`);
  }
  // An s3:// model is fetched with the model server's store, so a profiling job runs on any instance.
  const path = values.model.startsWith('s3://') ? await localModelPath(values.model) : resolve(values.model);
  const modelId = values['model-id'] ?? defaultModelId(values.model);
  const profile = await profileModelFile(path, {
    modelId,
    instanceType: values['instance-type'] ?? process.env.TETRAFLEET_INSTANCE_TYPE ?? 'unknown',
    maxBatch,
    minSamples,
    minDurationMs,
    provider: provider.data,
    intraOpThreads: threads,
    log: (m) => process.stderr.write(`${m}\n`),
  });
  // One compact line: the control plane reads it from the task's stdout tail (16 KiB at most).
  const text = `${JSON.stringify(ModelProfileSchema.parse(profile))}\n`;
  if (values.out) await writeFile(values.out, text);
  process.stdout.write(text);
}

function intArg(
  text: string | undefined,
  name: string,
  min: number,
  max: number,
  problems: string[],
): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) {
    problems.push(`${name} must be an integer between ${min} and ${max}, got ${text}`);
    return min;
  }
  return n;
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
