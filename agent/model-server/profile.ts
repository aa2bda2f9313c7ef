import { cpus } from 'node:os';
import { basename } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Tensor } from 'onnxruntime-node';
import type { ModelProfile, ProfileEntry, ProviderPreference } from '../../lib/core/protocol/inference.ts';
import { seededRandom, uniformInput } from '../../lib/onnx/random.ts';
import { fixedBatchSize, type LoadedModel, loadModel, type TensorInfo } from './session.ts';

/**
 * Profile mode: how long one `session.run` takes at each batch size (powers of two up to `maxBatch`, or
 * the one size a model fixes as its first dimension) on this hardware, and the throughput that gives when
 * batches run back to back. The InferLine planner reads these profiles to choose batch sizes and replica
 * counts, so they are measured, never modelled.
 */

export interface ProfileOptions {
  readonly modelId: string;
  readonly instanceType: string;
  /** Largest batch size profiled; rounded down to a power of two. @default 32 */
  readonly maxBatch?: number;
  /** Runs discarded before timing each batch size. @default 5 */
  readonly warmupRuns?: number;
  /** Timed runs per batch size, at least. @default 30 */
  readonly minSamples?: number;
  /** Keep timing a batch size at least this long (more samples on fast models). @default 500 */
  readonly minDurationMs?: number;
  /** Stop after this many samples per size even if minDurationMs has not passed. @default 2000 */
  readonly maxSamples?: number;
  /** Sizes for symbolic non-batch dimensions (e.g. sequence length), by dimension name. @default 1 each */
  readonly symbolicDims?: Readonly<Record<string, number>>;
}

export function powersOfTwo(max: number): number[] {
  const sizes: number[] = [];
  for (let b = 1; b <= max; b *= 2) sizes.push(b);
  return sizes;
}

/** Load the model at `path` and profile it. */
export async function profileModelFile(
  path: string,
  options: ProfileOptions & {
    readonly provider?: ProviderPreference;
    readonly intraOpThreads?: number;
    readonly log?: (message: string) => void;
  },
): Promise<ModelProfile> {
  const log = options.log ?? (() => {});
  const model = await loadModel(path, {
    provider: options.provider ?? 'auto',
    intraOpThreads: options.intraOpThreads ?? 0,
    log,
  });
  try {
    return await profileModel(model, { ...options, log }, options.intraOpThreads);
  } finally {
    await model.session.release();
  }
}

export async function profileModel(
  model: LoadedModel,
  options: ProfileOptions & { readonly log?: (message: string) => void },
  intraOpThreads?: number,
): Promise<ModelProfile> {
  const entries: ProfileEntry[] = [];
  // A model that fixes its batch dimension runs at that size only, so that is the one size profiled.
  const fixed = fixedBatchSize(model);
  if (fixed !== undefined)
    options.log?.(`the model fixes its batch size at ${fixed}: only batch ${fixed} is profiled`);
  for (const batch of fixed === undefined ? powersOfTwo(options.maxBatch ?? 32) : [fixed]) {
    const entry = await profileBatch(model, batch, options);
    options.log?.(
      `batch ${batch}: p50 ${entry.p50Ms.toFixed(3)} ms, p99 ${entry.p99Ms.toFixed(3)} ms, ${entry.throughputQps.toFixed(0)} qps`,
    );
    entries.push(entry);
  }
  return {
    version: 1,
    kind: 'ModelProfile',
    modelId: options.modelId,
    instanceType: options.instanceType,
    provider: model.provider,
    device: cpus()[0]?.model ?? 'unknown cpu',
    ...(intraOpThreads !== undefined ? { intraOpThreads } : {}),
    measured: true,
    entries,
  };
}

async function profileBatch(
  model: LoadedModel,
  batch: number,
  options: ProfileOptions,
): Promise<ProfileEntry> {
  const feeds = randomFeeds(model.inputs, batch, options.symbolicDims ?? {});
  for (let i = 0; i < (options.warmupRuns ?? 5); i++) await model.session.run(feeds);
  const minSamples = options.minSamples ?? 30;
  const maxSamples = Math.max(minSamples, options.maxSamples ?? 2000);
  const minDurationMs = options.minDurationMs ?? 500;
  const latencies: number[] = [];
  const began = performance.now();
  while (
    latencies.length < maxSamples &&
    (latencies.length < minSamples || performance.now() - began < minDurationMs)
  ) {
    const t0 = performance.now();
    await model.session.run(feeds);
    latencies.push(performance.now() - t0);
  }
  const busyMs = latencies.reduce((a, b) => a + b, 0);
  latencies.sort((a, b) => a - b);
  return {
    batchSize: batch,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    throughputQps: (batch * latencies.length * 1000) / busyMs,
    samples: latencies.length,
  };
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

function randomFeeds(
  inputs: readonly TensorInfo[],
  batch: number,
  symbolic: Readonly<Record<string, number>>,
): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const input of inputs) {
    if (input.type !== 'float32')
      throw new TypeError(`input ${input.name} has type ${input.type}; only float32 models can be profiled`);
    const dims = input.shape.map((d, i) =>
      i === 0 ? batch : typeof d === 'number' && d > 0 ? d : (symbolic[String(d)] ?? 1),
    );
    const data = uniformInput(
      seededRandom(batch),
      dims.reduce((a, b) => a * b, 1),
    );
    feeds[input.name] = new Tensor('float32', data, dims);
  }
  return feeds;
}

/** `models/My_Model.v2.onnx` -> `my-model-v2`. */
export function defaultModelId(path: string): string {
  const slug = basename(path)
    .replace(/\.onnx$/i, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return /^[a-z]/.test(slug) ? slug.slice(0, 63) : `m-${slug}`.slice(0, 63);
}
