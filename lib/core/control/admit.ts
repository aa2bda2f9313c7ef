import { type FieldIssue, ValidationError } from '../errors.ts';
import type { Job } from '../model/job.ts';
import type { Clock, CreateJobResult, JobStore } from '../ports.ts';
import type { SubmitJob } from '../protocol/submission.ts';
import { hostingIssues, reservedIssues } from './admit-checks.ts';

/**
 * Admission: a valid SubmitJob becomes a PENDING job, written once. The job id is the client's, so a
 * resend (SQS redelivery, a client retry after a lost reply) finds the job already there and changes
 * nothing; the idempotency key dedupes across ids.
 *
 * Throws ValidationError, with every field issue, for a job that claims what only the control plane may
 * (admit-checks.ts: reserved labels and ids, pipeline-bound tasks) or that no instance type can host; the
 * handler then records the refusal under the job id and sets the message aside. A submission whose
 * idempotency key already belongs to another job is not created: the refusal naming that job is recorded
 * under its id here, and the other job is returned (`created: false`).
 */
export async function admitSubmission(
  submission: SubmitJob,
  deps: { readonly jobs: JobStore; readonly clock: Clock },
): Promise<CreateJobResult> {
  const issues = [...reservedIssues(submission.jobId, submission.spec), ...hostingIssues(submission.spec)];
  if (issues.length > 0) throw new ValidationError('job submission', issues);
  const now = deps.clock.now();
  const job: Job = {
    id: submission.jobId,
    spec: submission.spec,
    status: 'PENDING',
    version: 0,
    submittedAt: now,
    updatedAt: now,
    attempts: 0,
  };
  const result = await deps.jobs.create(job, submission.idempotencyKey);
  if (!result.created && result.job.id !== submission.jobId) {
    // Without this, the id never exists and whoever waits for it learns nothing until it gives up.
    const message = `idempotency key ${submission.idempotencyKey} already used by job ${result.job.id}`;
    await deps.jobs.recordRejection({
      jobId: submission.jobId,
      reason: message,
      issues: [{ path: 'idempotencyKey', message }],
      at: now,
    });
  }
  return result;
}

/**
 * A refused submission: remember why under its job id when the body names one, so `getJob` can tell the
 * submitter. Returns false when the body is too broken to name a job (the DLQ reason is then all there is).
 */
export async function rejectSubmission(
  body: string,
  reason: string,
  issues: readonly FieldIssue[],
  deps: { readonly jobs: JobStore; readonly clock: Clock },
): Promise<boolean> {
  const jobId = jobIdOf(body);
  if (!jobId) return false;
  // Never shadow a job that was admitted under this id (a later, broken resend).
  if (await deps.jobs.get(jobId)) return false;
  await deps.jobs.recordRejection({ jobId, reason, issues, at: deps.clock.now() });
  return true;
}

const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** The `jobId` field of a JSON body, if there is a well-formed one. */
export function jobIdOf(body: string): string | undefined {
  try {
    const value: unknown = JSON.parse(body);
    if (typeof value !== 'object' || value === null) return undefined;
    const id = (value as { jobId?: unknown }).jobId;
    return typeof id === 'string' && JOB_ID.test(id) ? id : undefined;
  } catch {
    return undefined;
  }
}
