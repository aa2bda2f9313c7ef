import { describe, expect, it } from 'vitest';
import { BASE_RATE, DURATION_S, evaluationTraces, sampleTrace } from '../../../bench/inference/setup.ts';

const rate = (a: Float64Array, fromS: number, toS: number) =>
  a.filter((t) => t >= fromS * 1000 && t < toS * 1000).length / (toS - fromS);

describe('bench traces', () => {
  it("keeps the issue's rates by default: 150 qps, a 150 -> 250 step and a 3x spike", () => {
    const [cv1, , step, spike] = evaluationTraces();
    expect(step?.name).toBe('step-150-250');
    expect(rate(cv1?.arrivalsMs as Float64Array, 0, DURATION_S)).toBeGreaterThan(BASE_RATE * 0.95);
    expect(rate(cv1?.arrivalsMs as Float64Array, 0, DURATION_S)).toBeLessThan(BASE_RATE * 1.05);
    expect(rate(step?.arrivalsMs as Float64Array, 130, DURATION_S)).toBeGreaterThan(250 * 0.95);
    expect(rate(spike?.arrivalsMs as Float64Array, 120, 140)).toBeGreaterThan(3 * BASE_RATE * 0.9);
  });

  it('scales every rate and names the step after the scaled rates', () => {
    const base = evaluationTraces();
    const scaled = evaluationTraces(4);
    expect(scaled.map((t) => t.name)).toEqual(['gamma-cv1', 'gamma-cv4', 'step-600-1000', 'spike']);
    scaled.forEach((t, i) => {
      const b = base[i]?.arrivalsMs as Float64Array;
      expect(t.arrivalsMs.length / b.length).toBeGreaterThan(3.8);
      expect(t.arrivalsMs.length / b.length).toBeLessThan(4.2);
      expect(t.bursty).toBe(base[i]?.bursty);
    });
    const spike = scaled[3]?.arrivalsMs as Float64Array;
    expect(rate(spike, 120, 140) / rate(spike, 0, 120)).toBeGreaterThan(2.7);
    expect(sampleTrace(1, 4).length / sampleTrace(1).length).toBeGreaterThan(3.8);
  });

  it('refuses a rate scale that is not a positive number up to 100', () => {
    for (const x of [0, -1, Number.NaN, 101])
      expect(() => evaluationTraces(x)).toThrow(/rate scale must be a number in \(0, 100\]/);
    expect(() => sampleTrace(4, 0)).toThrow(/rate scale/);
  });
});
