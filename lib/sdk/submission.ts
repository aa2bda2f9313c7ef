/**
 * The messages `submitJob` and `submitPipeline` put on the submissions queue, built and checked without
 * sending: a caller that sends several (the CLI's `submit`) checks them all before sending the first.
 */

import { randomUUID } from 'node:crypto';
import { ValidationError } from '../core/errors.ts';
import type { JobSpecInput } from '../core/model/job.ts';
import { parseInputOrThrow } from '../core/model/validate.ts';
import { type SubmitPipelineInput, SubmitPipelineSchema } from '../core/protocol/pipeline.ts';
import { SubmitJobSchema } from '../core/protocol/submission.ts';
import type { SubmitOptions, SubmitPipelineOptions } from './client-options.ts';
import { SubmitOptionsSchema, SubmitPipelineOptionsSchema } from './client-validation.ts';
import { jobIdForKey, pipelineIdForKey } from './idempotent-ids.ts';

/**
 * The largest submission, in bytes of JSON. Admission stores a job or pipeline with its spec as one
 * DynamoDB item, and DynamoDB refuses an item over 400 KB: on the emulator a job whose env held 390 KiB
 * was admitted and one holding 400 KiB refused (its refusal is then recorded, later, by admission). JSON
 * is no smaller than the item for strings, so 384 KiB leaves room for the job's own fields. The queue
 * itself would take 1 MiB.
 */
export const MAX_SUBMISSION_BYTES = 384 * 1024;

/**
 * A job's submission: the id (the caller's, derived from the idempotency key, or random) and the body.
 * A bad spec or option, or a submission too large for the queue, is a ValidationError naming each field.
 */
export function jobSubmission(
  spec: JobSpecInput,
  options: SubmitOptions = {},
): { jobId: string; body: string } {
  parseInputOrThrow(SubmitOptionsSchema, options, 'submitJob options');
  const key = options.idempotencyKey;
  const jobId = options.jobId ?? (typeof key === 'string' ? jobIdForKey(key) : `job-${randomUUID()}`);
  const message = parseInputOrThrow(
    SubmitJobSchema,
    { version: 1, kind: 'SubmitJob', jobId, idempotencyKey: key, spec },
    'job submission',
  );
  return { jobId, body: sized(JSON.stringify(message), 'job submission') };
}

/** Pipeline names are pipeline ids' own pattern; only such a name may start a default id. */
const ID_PREFIX = /^[a-z][a-z0-9-]*$/;

/** A pipeline's submission, checked as `jobSubmission` checks a job's. */
export function pipelineSubmission(
  spec: SubmitPipelineInput['spec'],
  options: SubmitPipelineOptions = {},
): { pipelineId: string; body: string } {
  parseInputOrThrow(SubmitPipelineOptionsSchema, options, 'submitPipeline options');
  // A name the spec check refuses must not also make the default id fail: the caller chose neither.
  const name =
    typeof spec?.name === 'string' && ID_PREFIX.test(spec.name) ? spec.name.slice(0, 54) : 'pipeline';
  const key = options.idempotencyKey;
  const pipelineId =
    options.pipelineId ??
    (typeof key === 'string' ? pipelineIdForKey(key) : `${name}-${randomUUID().slice(0, 8)}`);
  const message = parseInputOrThrow(
    SubmitPipelineSchema,
    { version: 1, kind: 'SubmitPipeline', pipelineId, idempotencyKey: key, spec },
    'pipeline submission',
  );
  return { pipelineId, body: sized(JSON.stringify(message), 'pipeline submission') };
}

/** The body, or a ValidationError on `spec` when it is larger than the queue takes. */
function sized(body: string, what: string): string {
  const bytes = Buffer.byteLength(body, 'utf8');
  if (bytes <= MAX_SUBMISSION_BYTES) return body;
  const kib = (n: number) => Math.ceil(n / 1024).toLocaleString('en-US');
  throw new ValidationError(what, [
    {
      path: 'spec',
      message: `the submission is ${kib(bytes)} KiB of JSON; at most ${kib(MAX_SUBMISSION_BYTES)} KiB is stored with a job: keep large data in files the task reads`,
    },
  ]);
}
