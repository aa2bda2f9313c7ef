/**
 * Polls `probe` every 250 ms until it gives a value, or fails naming what it waited for. Tests wait for
 * conditions with generous deadlines rather than sleeping: the machine they run on is often loaded.
 */
export async function eventually<T>(
  probe: () => Promise<T | undefined | false>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
