import type { ExitCode } from '../errors.ts';

/**
 * What a command produced: `data` is printed as JSON with `--json`, `text` for people. Commands return
 * this rather than print, so tests call them in-process and check both.
 */
export interface CommandOutput<T> {
  readonly data: T;
  readonly text: string;
  /** @default 0 */
  readonly exitCode?: ExitCode;
}

/** JSON for `--json`: stable two-space indentation, one document per command. */
export function toJson(data: unknown): string {
  return JSON.stringify(data, null, 2);
}
