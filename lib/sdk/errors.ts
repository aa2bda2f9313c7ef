import { type FieldIssue, TetrafleetError } from '../core/errors.ts';

/** `waitForJob` gave up before the job finished. The job itself goes on. */
export class WaitTimeoutError extends TetrafleetError {
  readonly retryable = true;
  constructor(
    readonly jobId: string,
    readonly lastStatus: string | undefined,
    readonly timeoutMs: number,
  ) {
    super(`job ${jobId} did not finish within ${timeoutMs} ms (last seen ${lastStatus ?? 'nowhere'})`);
  }
}

/** The job was refused at admission; `issues` names every bad field. */
export class SubmissionRejectedError extends TetrafleetError {
  readonly retryable = false;
  constructor(
    readonly jobId: string,
    readonly reason: string,
    readonly issues: readonly FieldIssue[],
  ) {
    super(`job ${jobId} was refused: ${reason}`);
  }
}

export {
  ConflictError,
  NotFoundError,
  TetrafleetError,
  TransientError,
  ValidationError,
} from '../core/errors.ts';
