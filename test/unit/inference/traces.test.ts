import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../lib/core/errors.ts';
import {
  addSpike,
  createRng,
  fromInterArrivals,
  gammaTrace,
  meanRatePerSecond,
  stepTrace,
  traceFromSpec,
} from '../../../lib/core/inference/traces.ts';

/** σ²/μ² of the gaps between arrivals. */
function gapCv(arrivals: Float64Array): number {
  const gaps = arrivals.slice(1).map((t, i) => t - (arrivals[i] as number));
  const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
  const variance = gaps.reduce((a, g) => a + (g - mean) ** 2, 0) / gaps.length;
  return variance / mean ** 2;
}

function countBetween(arrivals: Float64Array, fromMs: number, toMs: number): number {
  return arrivals.filter((t) => t >= fromMs && t < toMs).length;
}

describe('seeded random numbers', () => {
  it('repeats the same sequence for the same seed and differs across seeds', () => {
    const a = createRng(42);
    const b = createRng(42);
    const c = createRng(43);
    const xs = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
  });
});

describe('gamma traces', () => {
  it('is deterministic for a seed', () => {
    const seg = { ratePerSecond: 50, cv: 2, durationSeconds: 10 };
    expect(gammaTrace(seg, 7)).toEqual(gammaTrace(seg, 7));
    expect(gammaTrace(seg, 7)).not.toEqual(gammaTrace(seg, 8));
  });

  it.each([0.25, 1, 4])('matches the rate and the sigma^2/mu^2 burstiness at cv %s', (cv) => {
    const trace = gammaTrace({ ratePerSecond: 200, cv, durationSeconds: 600 }, 3);
    expect(meanRatePerSecond(trace)).toBeGreaterThan(200 * 0.97);
    expect(meanRatePerSecond(trace)).toBeLessThan(200 * 1.03);
    expect(gapCv(trace)).toBeGreaterThan(cv * 0.9);
    expect(gapCv(trace)).toBeLessThan(cv * 1.1);
  });

  it('draws only the first arrivals when told how many, the same as without the limit', () => {
    const seg = { ratePerSecond: 300, cv: 4, durationSeconds: 20 };
    const whole = gammaTrace(seg, 5);
    expect(whole.length).toBeGreaterThan(1000);
    expect(gammaTrace(seg, 5, 1000)).toEqual(whole.slice(0, 1000));
    const steps = [seg, { ...seg, ratePerSecond: 600 }];
    expect(stepTrace(steps, 5, 7000)).toEqual(stepTrace(steps, 5).slice(0, 7000));
    expect(traceFromSpec({ kind: 'recorded', interArrivalMs: [1, 2, 3] }, 2)).toEqual(
      Float64Array.from([1, 3]),
    );
  });

  it('draws a sample of 100,000/s for an hour no further than the limit', () => {
    const spec = { kind: 'gamma', ratePerSecond: 100_000, cv: 1, durationSeconds: 3600, seed: 1 } as const;
    const trace = traceFromSpec(spec, 20_000);
    expect(trace.length).toBe(20_000);
    expect(trace[19_999]).toBeLessThan(1000);
  });

  it('keeps arrivals sorted and inside the duration', () => {
    const trace = gammaTrace({ ratePerSecond: 100, cv: 4, durationSeconds: 5 }, 1);
    expect(trace.every((t, i) => i === 0 || t >= (trace[i - 1] as number))).toBe(true);
    expect(trace.every((t) => t >= 0 && t < 5000)).toBe(true);
  });

  it('fails when the rate is not positive, naming the field', () => {
    expect(() => gammaTrace({ ratePerSecond: 0, cv: 1, durationSeconds: 1 }, 1)).toThrow(ValidationError);
    expect(() => gammaTrace({ ratePerSecond: 0, cv: 1, durationSeconds: 1 }, 1)).toThrow(
      /0\.ratePerSecond: ratePerSecond must be greater than 0/,
    );
  });
});

describe('rate steps and spikes', () => {
  it('changes rate at each segment boundary', () => {
    const trace = stepTrace(
      [
        { ratePerSecond: 50, cv: 1, durationSeconds: 100 },
        { ratePerSecond: 200, cv: 1, durationSeconds: 100 },
      ],
      5,
    );
    const first = countBetween(trace, 0, 100_000) / 100;
    const second = countBetween(trace, 100_000, 200_000) / 100;
    expect(first).toBeGreaterThan(45);
    expect(first).toBeLessThan(55);
    expect(second).toBeGreaterThan(190);
    expect(second).toBeLessThan(210);
  });

  it('adds extra traffic only inside the spike and keeps the trace sorted', () => {
    const base = gammaTrace({ ratePerSecond: 50, cv: 1, durationSeconds: 60 }, 1);
    const spiked = addSpike(base, { atSeconds: 20, durationSeconds: 10, ratePerSecond: 300, cv: 1 }, 2);
    expect(spiked.every((t, i) => i === 0 || t >= (spiked[i - 1] as number))).toBe(true);
    expect(countBetween(spiked, 0, 20_000)).toBe(countBetween(base, 0, 20_000));
    expect(countBetween(spiked, 30_000, 60_000)).toBe(countBetween(base, 30_000, 60_000));
    expect(countBetween(spiked, 20_000, 30_000) - countBetween(base, 20_000, 30_000)).toBeGreaterThan(2500);
  });
});

describe('recorded traces', () => {
  it('accumulates inter-arrival gaps into arrival times', () => {
    expect([...fromInterArrivals([5, 0, 10])]).toEqual([5, 5, 15]);
    expect([...traceFromSpec({ kind: 'recorded', interArrivalMs: [1, 2] })]).toEqual([1, 3]);
  });

  it('builds the gamma sample trace a pipeline spec describes', () => {
    const spec = { kind: 'gamma' as const, ratePerSecond: 20, cv: 1, durationSeconds: 30, seed: 4 };
    expect(traceFromSpec(spec)).toEqual(gammaTrace({ ratePerSecond: 20, cv: 1, durationSeconds: 30 }, 4));
  });
});
