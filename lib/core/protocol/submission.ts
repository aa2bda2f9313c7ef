import { z } from 'zod';
import { JobSpecSchema } from '../model/job.ts';
import { type Decoded, decodeMessage, envelope } from './envelope.ts';
import { type SubmitPipeline, SubmitPipelineSchema } from './pipeline.ts';

const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export const JobIdSchema = z.string({ error: 'jobId must be a string' }).regex(JOB_ID, {
  error: 'jobId must be 1-128 characters of letters, digits, ".", "_", ":" or "-"',
});

/**
 * What the SDK sends to the submissions queue. `jobId` is chosen by the client so that a resend after a
 * lost reply names the same job; `idempotencyKey` lets a client dedupe across job ids (e.g. a retried
 * CI step).
 */
export const SubmitJobSchema = envelope('SubmitJob', {
  jobId: JobIdSchema,
  idempotencyKey: z
    .string()
    .min(1, { error: 'idempotencyKey must not be empty' })
    .max(256, { error: 'idempotencyKey must be at most 256 characters' })
    .optional(),
  spec: JobSpecSchema,
});
export type SubmitJob = z.output<typeof SubmitJobSchema>;
export type SubmitJobInput = z.input<typeof SubmitJobSchema>;

/** Messages the submissions queue carries: jobs, and inference pipelines (see pipeline.ts). */
export const SUBMISSION_SCHEMAS = {
  SubmitJob: SubmitJobSchema,
  SubmitPipeline: SubmitPipelineSchema,
} as const;
/** Anything the submissions queue carries; admit routes on `kind`. */
export type QueuedSubmission = SubmitJob | SubmitPipeline;
/** A job submission (kept as its own name: job admission code takes only these). */
export type Submission = SubmitJob;

/** Decode a submissions-queue body (JSON text) into a job or pipeline submission, or field issues. */
export function decodeQueuedSubmission(body: unknown): Decoded<QueuedSubmission> {
  return decodeMessage(SUBMISSION_SCHEMAS, body, { refuseUnknownFields: true });
}

/** Decode a body that must be a SubmitJob (a SubmitPipeline is refused by kind). */
export function decodeSubmission(body: unknown): Decoded<Submission> {
  return decodeMessage({ SubmitJob: SubmitJobSchema }, body, { refuseUnknownFields: true });
}
