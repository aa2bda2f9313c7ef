/** The base every in-memory fake of the control loop's ports builds on, and the copy they hand out. */
import { TransientError } from '../../lib/core/errors.ts';

export interface RecordedCall {
  readonly method: string;
  readonly args: readonly unknown[];
}

/** Call log and scripted failures shared by every fake. */
export class Recorder<M extends string> {
  readonly calls: RecordedCall[] = [];
  private readonly failures = new Map<string, Error[]>();

  /** The next call of `method` throws `error` (a TransientError by default); queue several to fail more. */
  failNext(method: M, error: Error = new TransientError(`${method} throttled`)): this {
    this.failures.set(method, [...(this.failures.get(method) ?? []), error]);
    return this;
  }

  /** Calls of one method, in order. */
  callsOf(method: M): RecordedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  protected record(method: M, ...args: unknown[]): void {
    this.calls.push({ method, args: structuredClone(args) });
    const error = this.failures.get(method)?.shift();
    if (error) throw error;
  }
}

export const copy = <T>(value: T): T => structuredClone(value);
