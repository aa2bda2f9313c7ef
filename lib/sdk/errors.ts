import { type FieldIssue, TetrafleetError } from '../core/errors.ts';
import { inWords } from '../core/model/pipeline-serving.ts';

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

/** AWS refused a request as invalid (or it could not be encoded); retrying cannot help. */
export { InvalidRequestError } from '../aws/errors.ts';
export {
  ConflictError,
  NotFoundError,
  TetrafleetError,
  TransientError,
  ValidationError,
} from '../core/errors.ts';

/** The pipeline was refused at admission; `issues` names every bad field. */
export class PipelineRejectedError extends TetrafleetError {
  readonly retryable = false;
  constructor(
    readonly pipelineId: string,
    readonly reason: string,
    readonly issues: readonly FieldIssue[],
  ) {
    super(`pipeline ${pipelineId} was refused: ${reason}`);
  }
}

/** The pipeline ended in a status it cannot leave (REFUSED, STOPPED) before reaching the one waited for. */
export class PipelineEndedError extends TetrafleetError {
  readonly retryable = false;
  constructor(
    readonly pipelineId: string,
    readonly status: string,
    readonly reason: string | undefined,
    readonly wanted: string,
  ) {
    super(`pipeline ${pipelineId} is ${status}${reason ? ` (${reason})` : ''} and will never be ${wanted}`);
  }
}

/** `waitForPipeline` gave up before the pipeline reached the status. The pipeline itself goes on. */
export class PipelineWaitTimeoutError extends TetrafleetError {
  readonly retryable = true;
  constructor(
    readonly pipelineId: string,
    readonly wanted: string,
    readonly lastStatus: string | undefined,
    readonly timeoutMs: number,
    /** What it still lacked when waiting for it to answer queries (`answering`). */
    readonly waitingFor: readonly string[] = [],
  ) {
    super(
      waitingFor.length > 0
        ? `pipeline ${pipelineId} was ${wanted} but not answering within ${timeoutMs} ms: still waiting for ${inWords(waitingFor)}`
        : `pipeline ${pipelineId} was not ${wanted} within ${timeoutMs} ms (last seen ${lastStatus ?? 'nowhere'})`,
    );
  }
}
