import { TetrafleetError } from '../core/errors.ts';

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

export {
  ConflictError,
  NotFoundError,
  TetrafleetError,
  TransientError,
  ValidationError,
} from '../core/errors.ts';
