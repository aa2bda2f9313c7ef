/**
 * Typed domain errors. Each sets `name`, carries context fields and says whether a retry can help,
 * so adapters and handlers can route failures (retry, DLQ, user message) without string matching.
 */

export abstract class TetrafleetError extends Error {
  abstract readonly retryable: boolean;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** One problem with one field of an input, e.g. `alternatives.0.durationSeconds`. */
export interface FieldIssue {
  readonly path: string;
  readonly message: string;
}

/** Input was malformed. Never retryable: the same input fails the same way. */
export class ValidationError extends TetrafleetError {
  readonly retryable = false;
  constructor(
    readonly what: string,
    readonly issues: readonly FieldIssue[],
  ) {
    super(
      `invalid ${what}: ${issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')}`,
    );
  }
}

/** A state change that the job state machine forbids. */
export class InvalidTransitionError extends TetrafleetError {
  readonly retryable = false;
  constructor(
    readonly from: string,
    readonly to: string,
    readonly entity = 'job',
  ) {
    super(`${entity} cannot move from ${from} to ${to}`);
  }
}

/** A conditional write lost a race (version moved, item exists, lease held). Retry after re-reading. */
export class ConflictError extends TetrafleetError {
  readonly retryable = true;
  constructor(
    message: string,
    readonly key?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Something that should exist does not. */
export class NotFoundError extends TetrafleetError {
  readonly retryable = false;
  constructor(
    readonly entity: string,
    readonly id: string,
  ) {
    super(`${entity} ${id} not found`);
  }
}

/** Every launch attempt failed for lack of capacity (all alternatives and markets tried). */
export class InsufficientCapacityError extends TetrafleetError {
  readonly retryable = true;
  constructor(
    readonly instanceTypes: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(`no capacity for any of ${instanceTypes.join(', ')}`, options);
  }
}

/** A transient infrastructure failure (throttling, timeouts, 5xx). */
export class TransientError extends TetrafleetError {
  readonly retryable = true;
}

/** A plan that breaks an invariant (over-commit). This is a bug, never a user error. */
export class PlanInvariantError extends TetrafleetError {
  readonly retryable = false;
}
