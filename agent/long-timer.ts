/**
 * A timeout of any length. Node's setTimeout takes at most 2^31 - 1 ms (about 24.8 days) and fires a
 * longer one after 1 ms, which would kill a task with a month-long limit at once; the wait is chained
 * in steps of at most that instead.
 */

const MAX_DELAY_MS = 2 ** 31 - 1;

export interface LongTimer {
  clear(): void;
}

/** Call `fn` after `ms` (never, when `ms` is not finite). */
export function setLongTimeout(fn: () => void, ms: number): LongTimer {
  let timer: NodeJS.Timeout | undefined;
  const arm = (left: number) => {
    timer = setTimeout(
      () => (left > MAX_DELAY_MS ? arm(left - MAX_DELAY_MS) : fn()),
      Math.max(0, Math.min(left, MAX_DELAY_MS)),
    );
  };
  if (Number.isFinite(ms)) arm(ms);
  return { clear: () => clearTimeout(timer) };
}
