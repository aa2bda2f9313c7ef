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
