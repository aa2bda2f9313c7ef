import { TetrafleetError, TransientError } from '../../lib/core/errors.ts';

/** The router has no serving configuration yet (pipeline still planning) or is stopping. */
export class NotServingError extends TransientError {
  constructor(
    readonly pipelineId: string,
    readonly why: string,
  ) {
    super(`pipeline ${pipelineId} is not serving: ${why}`);
  }
}

/** A stage queue is at its bound: the query is refused (503) rather than queued without end. */
export class ShedError extends TransientError {
  constructor(
    readonly stageId: string,
    readonly depth: number,
    readonly bound: number,
    readonly retryAfterSeconds: number,
  ) {
    super(`stage ${stageId} queue is full: ${depth} queued, bound ${bound}`);
  }
}

/**
 * A query that was accepted but could not be answered: a replica failed twice (502), its deadline passed
 * (504), the router stopped (503), or on its own it is over a replica's body limit (413).
 */
export class QueryFailedError extends TetrafleetError {
  readonly retryable = true;
  constructor(
    readonly reason: 'replica' | 'deadline' | 'closed' | 'too-large',
    message: string,
  ) {
    super(message);
  }
}
