import { TetrafleetError } from '../core/errors.ts';

/** What a CLI exit code means; scripts rely on these staying put. */
export const EXIT = Object.freeze({
  ok: 0,
  failure: 1,
  usage: 2,
  notFound: 3,
  environment: 4,
});
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/**
 * The environment is not ready for the command (no emulator, no local cloud, a busy port). The message is
 * one line that says what is wrong and how to fix it.
 */
export class CliEnvironmentError extends TetrafleetError {
  readonly retryable = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A flag or argument the command cannot use (exit code 2). */
export class CliUsageError extends TetrafleetError {
  readonly retryable = false;
}

/** A wait the CLI was asked for ran out; what it waited for goes on (exit code 1). */
export class WaitGaveUpError extends TetrafleetError {
  readonly retryable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A job `submit` sent, as the command reports it. */
export interface SubmittedJob {
  readonly jobId: string;
  readonly name: string;
}

/**
 * A multi-job `submit` failed part way: `submitted` were sent (they run), the specs from `failedAt` on
 * were not. The exit code is the cause's.
 */
export class SubmitInterruptedError extends TetrafleetError {
  readonly retryable = false;
  constructor(
    readonly submitted: readonly SubmittedJob[],
    /** The names of every spec of the file, in order. */
    readonly names: readonly string[],
    readonly failedAt: number,
    cause: unknown,
  ) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(
      `submitted ${submitted.length} of ${names.length} jobs, then job #${failedAt + 1} (${names[failedAt]}) failed: ${why.split('\n')[0]}`,
      { cause },
    );
  }
}
