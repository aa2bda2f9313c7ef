import { describe, expect, it } from 'vitest';
import { secondsPastDrain, spotGraceMs, watchSpotInterruption } from '../../../agent/drain.ts';
import type { SpotInterruption } from '../../../agent/identity.ts';

describe('drain triggers', () => {
  it('shortens the drain grace so hand-back happens before a spot instance is reclaimed', () => {
    const now = 1_000_000;
    expect(spotGraceMs({ action: 'terminate', at: now + 120_000 }, now, 90_000)).toBe(90_000);
    expect(spotGraceMs({ action: 'terminate', at: now + 60_000 }, now, 90_000)).toBe(40_000);
    expect(spotGraceMs({ action: 'terminate', at: now + 5_000 }, now, 90_000)).toBe(0);
  });

  it('hides a message a draining agent will not act on until the drain and the kill grace are over', () => {
    expect(secondsPastDrain(50_000, 10_000, 5_000)).toBe(45);
    expect(secondsPastDrain(10_100, 10_000, 0)).toBe(1);
    // Already past the deadline: still hidden a second, never zero (that would make it visible at once).
    expect(secondsPastDrain(0, 10_000, 0)).toBe(1);
    // SQS refuses more than 12 h.
    expect(secondsPastDrain(1e12, 0, 0)).toBe(43_200);
  });

  it('keeps polling through errors and calls back once when a spot notice appears', async () => {
    const answers: (SpotInterruption | undefined | Error)[] = [
      undefined,
      new Error('imds hiccup'),
      undefined,
      { action: 'stop', at: 42 },
    ];
    const notices: SpotInterruption[] = [];
    let checks = 0;
    await watchSpotInterruption({
      check: async () => {
        const next = answers[checks++];
        if (next instanceof Error) throw next;
        return next;
      },
      intervalMs: 1,
      signal: new AbortController().signal,
      onNotice: (n) => notices.push(n),
      logger: { log: () => {} },
    });
    expect(notices).toEqual([{ action: 'stop', at: 42 }]);
    expect(checks).toBe(4);
  });

  it('stops polling when aborted', async () => {
    const abort = new AbortController();
    let checks = 0;
    const watching = watchSpotInterruption({
      check: async () => {
        checks++;
        if (checks === 3) abort.abort();
        return undefined;
      },
      intervalMs: 1,
      signal: abort.signal,
      onNotice: () => {
        throw new Error('no notice expected');
      },
      logger: { log: () => {} },
    });
    await watching;
    expect(checks).toBe(3);
  });
});
