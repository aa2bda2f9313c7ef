import { z } from 'zod';
import { PipelineSpecSchema } from '../model/pipeline.ts';
import { type Decoded, decodeMessage, envelope } from './envelope.ts';
import { LatencySummarySchema } from './inference.ts';

/**
 * Messages about inference pipelines.
 *
 * - SubmitPipeline: SDK -> submissions queue -> admit (validated, stored, profiling jobs submitted).
 * - PipelineReport: the router (an agent in frontend role) -> reports queue -> ingest, every interval:
 *   arrivals, end-to-end latency, shedding and each stage's queue, what the scale handler and `tetrafleet
 *   pipeline status` read.
 * - ReplicaRequest: the router's tuner -> reports queue -> ingest, when it changes a stage's replica
 *   count; ingest turns targets into SLO-service replica jobs, and the schedule cycle places them.
 */

const PIPELINE_ID = /^[a-z][a-z0-9-]{0,62}$/;

export const PipelineIdSchema = z.string({ error: 'pipelineId must be a string' }).regex(PIPELINE_ID, {
  error: 'pipelineId must be lowercase letters, digits and "-", starting with a letter',
});

export const SubmitPipelineSchema = envelope('SubmitPipeline', {
  /** Chosen by the client, so that a resend names the same pipeline. */
  pipelineId: PipelineIdSchema,
  idempotencyKey: z
    .string()
    .min(1, { error: 'idempotencyKey must not be empty' })
    .max(256, { error: 'idempotencyKey must be at most 256 characters' })
    .optional(),
  spec: PipelineSpecSchema,
});
export type SubmitPipeline = z.output<typeof SubmitPipelineSchema>;
export type SubmitPipelineInput = z.input<typeof SubmitPipelineSchema>;

const count = z.number().int().min(0);

/** One stage as the router saw it over one interval. */
export const StageReportSchema = z.object({
  /** Replicas the router could dispatch to at the end of the interval. */
  replicas: count,
  /** Queries that entered this stage's queue. */
  visits: count,
  batches: count,
  /** Largest queue depth seen in the interval. */
  maxQueueDepth: count,
});
export type StageReport = z.infer<typeof StageReportSchema>;

export const PipelineReportSchema = envelope('PipelineReport', {
  pipelineId: PipelineIdSchema,
  instanceId: z.string().min(1, { error: 'instanceId must not be empty' }),
  intervalStartMs: z.number().min(0),
  intervalEndMs: z.number().min(0),
  /** Queries that reached the router (accepted or shed). */
  arrivals: count,
  /** Queries answered in the interval; the latency summary holds exactly these. */
  completed: count,
  /** Queries refused with 503. */
  shed: count,
  /** Completed queries slower than the SLO. */
  late: count,
  /** Queries that failed: a stage's replicas answered 5xx twice, or the query's deadline passed in a queue. */
  errors: count,
  /** Of the errors, queries dropped with 504 because their deadline passed while queued. */
  dropped: count.default(0),
  /** End-to-end latency of completed queries. */
  latency: LatencySummarySchema,
  stages: z.record(z.string(), StageReportSchema),
});
export type PipelineReport = z.output<typeof PipelineReportSchema>;
export type PipelineReportInput = z.input<typeof PipelineReportSchema>;

export const ReplicaRequestSchema = envelope('ReplicaRequest', {
  pipelineId: PipelineIdSchema,
  instanceId: z.string().min(1, { error: 'instanceId must not be empty' }),
  /** When the tuner decided, epoch ms. Later requests win; an older one arriving late is ignored. */
  at: z.number().int().min(0),
  /** Replica count wanted per stage id (every stage of the pipeline). */
  targets: z.record(
    z.string(),
    z
      .number()
      .int({ error: 'targets must be whole numbers' })
      .min(1, { error: 'targets must be at least 1' }),
  ),
  reason: z.enum(['scale-up', 'scale-down']),
  /** The rate that sized the change (r_max on scale-up, the recent peak on scale-down), queries/s. */
  ratePerSecond: z.number().min(0),
});
export type ReplicaRequest = z.output<typeof ReplicaRequestSchema>;
export type ReplicaRequestInput = z.input<typeof ReplicaRequestSchema>;

/** Pipeline messages the reports queue carries. */
export const PIPELINE_REPORT_SCHEMAS = {
  PipelineReport: PipelineReportSchema,
  ReplicaRequest: ReplicaRequestSchema,
} as const;
export type PipelineReportMessage = PipelineReport | ReplicaRequest;

export function decodePipelineReport(body: unknown): Decoded<PipelineReportMessage> {
  return decodeMessage(PIPELINE_REPORT_SCHEMAS, body);
}
