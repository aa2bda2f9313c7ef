import { z } from 'zod';
import { ValidationError } from '../../lib/core/errors.ts';
import { toFieldIssues } from '../../lib/core/model/validate.ts';
import type { Clock, ReportSink } from '../../lib/core/ports.ts';
import { ModelIdSchema, type ServeModel, ServingSettingsShape } from '../../lib/core/protocol/inference.ts';

/** Fetches a model that is not on local disk (an `s3://` URI) and returns a local path. */
export interface ModelFetcher {
  fetch(uri: string): Promise<string>;
}

/** What `startModelServer` takes. Only `modelPath` and `modelId` are required. */
export interface ModelServerOptions {
  /** An absolute local path, or `s3://bucket/key` (fetched through `modelStore`). */
  readonly modelPath: string;
  readonly modelId: string;
  /** Most rows in one `session.run`. @default 8 */
  readonly maxBatch?: number;
  /** Longest the oldest queued request waits for a batch to fill. @default 2 */
  readonly maxQueueDelayMs?: number;
  /** Queued requests beyond this are shed with 503 + Retry-After. @default 256 */
  readonly queueCapacity?: number;
  /** Batches running at once. onnxruntime-node runs on the JS thread, so more than 1 rarely helps. @default 1 */
  readonly concurrentRunners?: number;
  /** onnxruntime intra-op threads; 0 lets onnxruntime choose. @default 0 */
  readonly intraOpThreads?: number;
  /** @default 'auto' (CUDA where a GPU is present and the provider loads, else CPU) */
  readonly executionProvider?: 'auto' | 'cuda' | 'cpu';
  /** 0 picks a free port; the handle says which. @default 0 */
  readonly port?: number;
  /** @default '0.0.0.0' */
  readonly host?: string;
  /** Where LatencyReports go; none are sent without one. */
  readonly reportSink?: ReportSink;
  /** @default 10000 */
  readonly reportIntervalMs?: number;
  /** Stamped on reports. */
  readonly instanceId?: string;
  /** Fetches `s3://` model paths. @default an S3ModelStore caching under the OS temp dir */
  readonly modelStore?: ModelFetcher;
  /** Wall clock for report interval bounds. @default Date.now */
  readonly clock?: Clock;
  /** @default writes to stderr */
  readonly log?: (message: string) => void;
}

const OptionsSchema = z.object({
  modelPath: z
    .string({ error: 'modelPath must be a string' })
    .regex(/^(s3:\/\/[^/]+\/.+|\/.+)$/, { error: 'modelPath must be s3://bucket/key or an absolute path' }),
  modelId: ModelIdSchema,
  ...ServingSettingsShape,
  host: z.string().min(1).default('0.0.0.0'),
  reportIntervalMs: z.number().min(10, { error: 'reportIntervalMs must be at least 10' }).default(10_000),
  instanceId: z.string().min(1).optional(),
});

export type ResolvedOptions = z.output<typeof OptionsSchema> &
  Pick<ModelServerOptions, 'reportSink' | 'modelStore'> & {
    readonly clock: Clock;
    readonly log: (message: string) => void;
  };

/** Fill defaults once and report every bad field together. */
export function resolveOptions(options: ModelServerOptions): ResolvedOptions {
  const { reportSink, modelStore, clock, log, ...plain } = options;
  const result = OptionsSchema.safeParse(plain);
  if (!result.success) throw new ValidationError('model server options', toFieldIssues(result.error));
  return Object.freeze({
    ...result.data,
    ...(reportSink ? { reportSink } : {}),
    ...(modelStore ? { modelStore } : {}),
    clock: clock ?? { now: () => Date.now() },
    log:
      log ??
      ((message: string) => process.stderr.write(`[model-server ${result.data.modelId}] ${message}\n`)),
  });
}

/** The options a ServeModel message asks for; the caller adds the sink, store and identity. */
export function optionsFromServeModel(
  message: ServeModel,
  extra: Pick<ModelServerOptions, 'reportSink' | 'modelStore' | 'instanceId' | 'host' | 'log' | 'clock'> = {},
): ModelServerOptions {
  return {
    modelPath: message.model.uri,
    modelId: message.modelId,
    maxBatch: message.maxBatch,
    maxQueueDelayMs: message.maxQueueDelayMs,
    queueCapacity: message.queueCapacity,
    concurrentRunners: message.concurrentRunners,
    intraOpThreads: message.intraOpThreads,
    executionProvider: message.executionProvider,
    port: message.port,
    reportIntervalMs: message.reportIntervalSeconds * 1000,
    ...extra,
  };
}
