/**
 * The checks the client runs on its options and ids before any request, so that a bad value is a
 * ValidationError naming the option rather than a raw error from the queue or the store.
 */

import { z } from 'zod';
import { JOB_STATES } from '../core/model/job-state.ts';
import { PIPELINE_STATUSES } from '../core/model/pipeline-serving.ts';
import { parseOrThrow } from '../core/model/validate.ts';
import { PipelineIdSchema } from '../core/protocol/pipeline.ts';
import { JobIdSchema } from '../core/protocol/submission.ts';

/** Shortest first poll interval: faster polling only spends reads. */
export const MIN_POLL_MS = 10;
/** Longest first poll interval (later polls are every 2 s at most anyway). */
export const MAX_POLL_MS = 60_000;
/** Most jobs one `listJobs` page returns: what the store reads per page at most. */
export const MAX_LIST_LIMIT = 1000;

/** A non-negative, finite number of milliseconds (NaN would make a wait poll for ever). */
const TimeoutMsSchema = z
  .number({
    error: (issue) => `timeoutMs must be a finite number of milliseconds, got ${String(issue.input)}`,
  })
  .min(0, { error: 'timeoutMs must be at least 0' });

const PollMsSchema = z
  .number({ error: (issue) => `pollMs must be a finite number of milliseconds, got ${String(issue.input)}` })
  .min(MIN_POLL_MS, { error: `pollMs must be at least ${MIN_POLL_MS}` })
  .max(MAX_POLL_MS, { error: `pollMs must be at most ${MAX_POLL_MS}` });

const CallbackSchema = z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', {
  error: 'onProgress must be a function',
});

/** What a value is, for a message: `null`, `an array`, `a string`. */
function kindOf(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'an array';
  const type = typeof input;
  return `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`;
}

/** The options argument of `method`: an object (its fields are checked by the schema's shape). */
function optionsOf<S extends z.core.$ZodLooseShape>(method: string, shape: S) {
  return z.object(shape, {
    error: (issue) => `${method} options must be an object, got ${kindOf(issue.input)}`,
  });
}

export const WaitOptionsSchema = optionsOf('waitForJob', {
  timeoutMs: TimeoutMsSchema.optional(),
  pollMs: PollMsSchema.optional(),
  onProgress: CallbackSchema.optional(),
});

export const WaitForPipelineOptionsSchema = optionsOf('waitForPipeline', {
  ...WaitOptionsSchema.shape,
  status: z
    .enum(PIPELINE_STATUSES, { error: `status must be one of ${PIPELINE_STATUSES.join(', ')}` })
    .optional(),
  answering: z.boolean({ error: 'answering must be true or false' }).optional(),
});

/**
 * A page cursor as the job store returns it: DynamoDB's LastEvaluatedKey (string and number attributes)
 * as base64url JSON. Checked here so that a mangled cursor is a clear error, not the store's.
 */
const CursorSchema = z
  .string({ error: 'cursor must be a string' })
  .regex(/^[A-Za-z0-9_-]{1,4096}$/, {
    error: 'cursor must be a cursor listJobs returned (base64url)',
    abort: true,
  })
  .refine(isStoreCursor, { error: 'cursor must be a cursor listJobs returned' });

function isStoreCursor(cursor: string): boolean {
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (typeof key !== 'object' || key === null || Array.isArray(key)) return false;
    const values = Object.values(key);
    return values.length > 0 && values.every((v) => typeof v === 'string' || typeof v === 'number');
  } catch {
    return false;
  }
}

export const ListJobsQuerySchema = optionsOf('listJobs', {
  status: z.enum(JOB_STATES, { error: `status must be one of ${JOB_STATES.join(', ')}` }).optional(),
  limit: z
    .number({ error: 'limit must be a number' })
    .int({ error: 'limit must be a whole number' })
    .min(1, { error: 'limit must be at least 1' })
    .max(MAX_LIST_LIMIT, { error: `limit must be at most ${MAX_LIST_LIMIT}` })
    .optional(),
  cursor: CursorSchema.optional(),
});

/**
 * The options of `submitJob` and `submitPipeline`: their fields are checked with the submission (the
 * message schemas), so here only that the options are an object without fields it does not know.
 */
export const SubmitOptionsSchema = optionsOf('submitJob', {
  idempotencyKey: z.unknown().optional(),
  jobId: z.unknown().optional(),
});
export const SubmitPipelineOptionsSchema = optionsOf('submitPipeline', {
  idempotencyKey: z.unknown().optional(),
  pipelineId: z.unknown().optional(),
});

const JobRefSchema = z.object({ jobId: JobIdSchema });
const PipelineRefSchema = z.object({ pipelineId: PipelineIdSchema });

/** A job id as admission accepts it; any other could only draw a raw error from the store. */
export function checkJobId(jobId: string): void {
  parseOrThrow(JobRefSchema, { jobId }, 'job id');
}

export function checkPipelineId(pipelineId: string): void {
  parseOrThrow(PipelineRefSchema, { pipelineId }, 'pipeline id');
}
