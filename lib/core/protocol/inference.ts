import { z } from 'zod';
import { ModelRefSchema } from '../model/job.ts';
import { type Decoded, decodeMessage, envelope } from './envelope.ts';

/**
 * Messages about served models. The scheduler sends ServeModel / StopModel to an instance queue; the
 * agent answers on the reports queue with LatencyReport (every interval while serving) and ModelProfile
 * (after a profiling run, for the InferLine planner).
 */

const MODEL_ID = /^[a-z][a-z0-9-]{0,62}$/;

export const ModelIdSchema = z
  .string({ error: 'modelId must be a string' })
  .regex(MODEL_ID, { error: 'modelId must be lowercase letters, digits and "-", starting with a letter' });

/** `auto` tries CUDA where a GPU is present and falls back to CPU; `cuda` always tries CUDA first. */
export const ProviderPreferenceSchema = z.enum(['auto', 'cuda', 'cpu'], {
  error: 'executionProvider must be one of auto, cuda, cpu',
});
export type ProviderPreference = z.infer<typeof ProviderPreferenceSchema>;

/** The provider a session actually runs on. */
export const ExecutionProviderSchema = z.enum(['cuda', 'cpu'], { error: 'provider must be cuda or cpu' });
export type ExecutionProvider = z.infer<typeof ExecutionProviderSchema>;

/**
 * How a model is served: batching, shedding, threads, provider, port. Shared by the ServeModel message
 * and the model server's own options, so the two cannot disagree on limits or defaults.
 */
export const ServingSettingsShape = {
  maxBatch: z
    .number()
    .int({ error: 'maxBatch must be an integer' })
    .min(1, { error: 'maxBatch must be at least 1' })
    .max(1024, { error: 'maxBatch must be at most 1024' })
    .default(8),
  maxQueueDelayMs: z
    .number()
    .min(0, { error: 'maxQueueDelayMs must be at least 0' })
    .max(10_000, { error: 'maxQueueDelayMs must be at most 10,000' })
    .default(2),
  queueCapacity: z
    .number()
    .int()
    .min(1, { error: 'queueCapacity must be at least 1' })
    .max(100_000, { error: 'queueCapacity must be at most 100,000' })
    .default(256),
  concurrentRunners: z
    .number()
    .int()
    .min(1, { error: 'concurrentRunners must be at least 1' })
    .max(16, { error: 'concurrentRunners must be at most 16' })
    .default(1),
  /** 0 lets onnxruntime choose (one per physical core). */
  intraOpThreads: z
    .number()
    .int()
    .min(0, { error: 'intraOpThreads must be at least 0' })
    .max(256, { error: 'intraOpThreads must be at most 256' })
    .default(0),
  executionProvider: ProviderPreferenceSchema.default('auto'),
  /** 0 picks a free port; the agent reports the bound port. */
  port: z
    .number()
    .int()
    .min(0, { error: 'port must be between 0 and 65,535' })
    .max(65_535, { error: 'port must be between 0 and 65,535' })
    .default(0),
};

export const ServeModelSchema = envelope('ServeModel', {
  modelId: ModelIdSchema,
  model: ModelRefSchema,
  jobId: z.string().min(1).optional(),
  taskId: z.string().min(1).optional(),
  ...ServingSettingsShape,
  reportIntervalSeconds: z
    .number()
    .min(1, { error: 'reportIntervalSeconds must be at least 1' })
    .max(3600, { error: 'reportIntervalSeconds must be at most 3,600' })
    .default(10),
});
export type ServeModel = z.output<typeof ServeModelSchema>;
export type ServeModelInput = z.input<typeof ServeModelSchema>;

export const StopModelSchema = envelope('StopModel', {
  modelId: ModelIdSchema,
  /** Finish queued requests before closing (true) or fail them at once (false). */
  drain: z.boolean().default(true),
});
export type StopModel = z.output<typeof StopModelSchema>;

const nonNegative = z.number().min(0);

/** Percentiles of one latency component over one interval, in milliseconds. */
export const LatencySummarySchema = z.object({
  p50Ms: nonNegative,
  p90Ms: nonNegative,
  p99Ms: nonNegative,
  maxMs: nonNegative,
});
export type LatencySummary = z.infer<typeof LatencySummarySchema>;

export const BatchSizeCountSchema = z.object({
  size: z.number().int().min(1),
  count: z.number().int().min(0),
});

export const LatencyReportSchema = envelope('LatencyReport', {
  modelId: ModelIdSchema,
  instanceId: z.string().min(1).optional(),
  provider: ExecutionProviderSchema,
  intervalStartMs: nonNegative,
  intervalEndMs: nonNegative,
  /** Requests completed in the interval; the histograms hold exactly this many values. */
  count: z.number().int().min(0),
  /** Requests that arrived (accepted or shed) in the interval: the arrival rate the tuner watches. */
  arrivals: z.number().int().min(0),
  shed: z.number().int().min(0),
  errors: z.number().int().min(0),
  total: LatencySummarySchema,
  queueing: LatencySummarySchema,
  compute: LatencySummarySchema,
  /** How many batches of each size ran in the interval, ascending by size. */
  batchSizes: z.array(BatchSizeCountSchema),
});
export type LatencyReport = z.output<typeof LatencyReportSchema>;

export const ProfileEntrySchema = z.object({
  batchSize: z.number().int().min(1),
  p50Ms: nonNegative,
  p99Ms: nonNegative,
  /** Queries (batch items) per second when batches of this size run back to back. */
  throughputQps: z.number().positive(),
  samples: z.number().int().min(1),
});
export type ProfileEntry = z.infer<typeof ProfileEntrySchema>;

export const ModelProfileSchema = envelope('ModelProfile', {
  modelId: ModelIdSchema,
  instanceType: z.string().min(1),
  provider: ExecutionProviderSchema,
  /** A free-text hardware description, e.g. the CPU model. */
  device: z.string().optional(),
  intraOpThreads: z.number().int().min(0).optional(),
  /** Always true: profiles are measured on the hardware, never estimated. */
  measured: z.literal(true),
  entries: z.array(ProfileEntrySchema).min(1, { error: 'entries must list at least one batch size' }),
});
export type ModelProfile = z.output<typeof ModelProfileSchema>;

/** Messages an agent reads about models from its instance queue. */
export const MODEL_COMMAND_SCHEMAS = { ServeModel: ServeModelSchema, StopModel: StopModelSchema } as const;
export type ModelCommand = ServeModel | StopModel;

/** Messages an agent sends about models on the reports queue. */
export const MODEL_REPORT_SCHEMAS = {
  LatencyReport: LatencyReportSchema,
  ModelProfile: ModelProfileSchema,
} as const;
export type ModelReport = LatencyReport | ModelProfile;

export function decodeModelCommand(body: unknown): Decoded<ModelCommand> {
  return decodeMessage(MODEL_COMMAND_SCHEMAS, body);
}

export function decodeModelReport(body: unknown): Decoded<ModelReport> {
  return decodeMessage(MODEL_REPORT_SCHEMAS, body);
}
