/** Lets the drain wait for "no task left" without polling: every change wakes the waiters to re-check. */
export class ChangeSignal {
  private readonly waiters = new Set<() => void>();

  notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Resolves once `predicate` holds (checked now and on every notify), or after `timeoutMs`. */
  waitFor(predicate: () => boolean, timeoutMs = Number.POSITIVE_INFINITY): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const check = () => {
        if (predicate()) done();
      };
      const timer = Number.isFinite(timeoutMs) ? setTimeout(done, timeoutMs) : undefined;
      this.waiters.add(check);
      check();
    });
  }
}
