import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compareEnvelopes,
  computeEnvelope,
  envelopeWindows,
  maxArrivalsInWindow,
  maxBucketRate,
  recentArrivals,
} from '../../../lib/core/inference/envelope.ts';
import { at } from './builders.ts';

describe('envelope windows', () => {
  it('doubles from the service time up to 60 s', () => {
    const windows = envelopeWindows(10);
    expect(windows[0]).toBe(10);
    expect(windows.at(-1)).toBe(40_960);
    expect(windows).toHaveLength(13);
    expect(envelopeWindows(15_000)).toEqual([15_000, 30_000, 60_000]);
  });

  it('fails when the service time is not positive', () => {
    expect(() => envelopeWindows(0)).toThrow(/serviceTimeMs: serviceTimeMs must be greater than 0/);
  });
});

describe('sliding-window maxima', () => {
  const trace = at(0, 1, 2, 10, 11, 30);

  it('counts the busiest half-open window', () => {
    expect(maxArrivalsInWindow(trace, 1)).toBe(1);
    expect(maxArrivalsInWindow(trace, 2)).toBe(2);
    expect(maxArrivalsInWindow(trace, 5)).toBe(3);
    expect(maxArrivalsInWindow(trace, 11)).toBe(4);
    expect(maxArrivalsInWindow(trace, 12)).toBe(5);
    expect(maxArrivalsInWindow(at(), 5)).toBe(0);
  });

  it('turns counts into rates per second', () => {
    const env = computeEnvelope(at(0, 0, 0, 500, 1500), [10, 1000, 2000]);
    expect(env.counts).toEqual([3, 4, 5]);
    expect(env.ratesPerSecond).toEqual([300, 4, 2.5]);
  });
});

const sortedTrace = fc
  .array(fc.integer({ min: 0, max: 20_000 }), { minLength: 1, maxLength: 300 })
  .map((xs) => Float64Array.from(xs.sort((a, b) => a - b)));

describe('envelope properties', () => {
  it('never decreases in count as the window grows', () => {
    fc.assert(
      fc.property(sortedTrace, fc.integer({ min: 1, max: 500 }), (trace, service) => {
        const env = computeEnvelope(trace, envelopeWindows(service));
        env.counts.forEach((q, i) => {
          if (i > 0) expect(q).toBeGreaterThanOrEqual(env.counts[i - 1] as number);
          expect(q).toBeLessThanOrEqual(trace.length);
          expect(q).toBeGreaterThanOrEqual(1);
        });
      }),
      { seed: 17, numRuns: 200 },
    );
  });

  it('never shows a rate above the burst rate of the smallest window', () => {
    fc.assert(
      fc.property(sortedTrace, fc.integer({ min: 1, max: 500 }), (trace, service) => {
        const env = computeEnvelope(trace, envelopeWindows(service));
        const burst = env.ratesPerSecond[0] as number;
        for (const r of env.ratesPerSecond) expect(r).toBeLessThanOrEqual(burst + 1e-9);
      }),
      { seed: 18, numRuns: 200 },
    );
  });

  it('agrees with a brute-force count over every window start', () => {
    fc.assert(
      fc.property(sortedTrace, fc.integer({ min: 1, max: 5_000 }), (trace, w) => {
        let best = 0;
        for (const start of trace)
          best = Math.max(best, trace.filter((t) => t >= start && t < start + w).length);
        expect(maxArrivalsInWindow(trace, w)).toBe(best);
      }),
      { seed: 19, numRuns: 100 },
    );
  });
});

describe('comparing envelopes', () => {
  const windows = [10, 20, 40];
  const sample = { windowsMs: windows, counts: [2, 3, 4], ratesPerSecond: [200, 150, 100] };

  it('reports the largest live rate among the windows that exceed the sample', () => {
    const live = { windowsMs: windows, counts: [2, 4, 6], ratesPerSecond: [200, 200, 150] };
    expect(compareEnvelopes(live, sample)).toEqual({ exceeded: true, maxRatePerSecond: 200, windowMs: 20 });
  });

  it('reports nothing when the live envelope stays at or under the sample', () => {
    const live = { windowsMs: windows, counts: [2, 3, 4], ratesPerSecond: [200, 150, 100] };
    expect(compareEnvelopes(live, sample)).toEqual({ exceeded: false });
  });
});

describe('recent traffic', () => {
  it('keeps arrivals in (now - history, now]', () => {
    expect([...recentArrivals(at(1, 5, 10, 15, 20), 15, 10)]).toEqual([10, 15]);
  });

  it('takes the highest rate over fixed buckets of the lookback', () => {
    // Buckets ending at 30 s: (25,30] holds 1, (20,25] holds 3, (0,5] holds 2 arrivals.
    const trace = at(1_000, 2_000, 21_000, 22_000, 23_000, 29_000, 31_000);
    expect(maxBucketRate(trace, 30_000, 30_000, 5_000)).toBeCloseTo(3 / 5, 9);
    expect(maxBucketRate(trace, 30_000, 5_000, 5_000)).toBeCloseTo(1 / 5, 9);
  });
});
