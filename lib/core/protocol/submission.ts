import { z } from 'zod';
import { JobSpecSchema } from '../model/job.ts';
import { type Decoded, decodeMessage, envelope } from './envelope.ts';

const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/**
 * What the SDK sends to the submissions queue. `jobId` is chosen by the client so that a resend after a
 * lost reply names the same job; `idempotencyKey` lets a client dedupe across job ids (e.g. a retried
 * CI step).
 */
export const SubmitJobSchema = envelope('SubmitJob', {
  jobId: z.string({ error: 'jobId must be a string' }).regex(JOB_ID, {
    error: 'jobId must be 1-128 characters of letters, digits, ".", "_", ":" or "-"',
  }),
  idempotencyKey: z
    .string()
    .min(1, { error: 'idempotencyKey must not be empty' })
    .max(256, { error: 'idempotencyKey must be at most 256 characters' })
    .optional(),
  spec: JobSpecSchema,
});
export type SubmitJob = z.output<typeof SubmitJobSchema>;
export type SubmitJobInput = z.input<typeof SubmitJobSchema>;

/** Messages the submissions queue carries. Pipelines join here later. */
export const SUBMISSION_SCHEMAS = { SubmitJob: SubmitJobSchema } as const;
export type Submission = SubmitJob;

/** Decode a submissions-queue body (JSON text) into a typed message or field issues. */
export function decodeSubmission(body: unknown): Decoded<Submission> {
  return decodeMessage(SUBMISSION_SCHEMAS, body);
}
