import { describe, expect, it } from 'vitest';
import { planOracle } from '../../../lib/core/inference/oracle.ts';
import { type PlannerInput, plan } from '../../../lib/core/inference/planner.ts';
import { stepTrace } from '../../../lib/core/inference/traces.ts';
import { profile } from './builders.ts';

describe('the oracle planner', () => {
  // One stage, 5 ms per query at any batch on c7i.large: a replica serves 200 q/s. One replica is priced
  // at c7i.large's on-demand rate by the default cost.
  const p = profile('c7i.large', (b) => 5 * b, [1, 2, 4, 8], 'a');
  const settings: Omit<PlannerInput, 'arrivalsMs'> = {
    pipeline: { sloP99Ms: 100, stages: [{ id: 'a' }], edges: [] },
    profiles: { a: [p] },
    seed: 1,
    lateFraction: 0.005,
  };
  // 60 s at 100 q/s, then 60 s at 500 q/s: one replica, then at least three.
  const trace = stepTrace(
    [
      { ratePerSecond: 100, cv: 1, durationSeconds: 60 },
      { ratePerSecond: 500, cv: 1, durationSeconds: 60 },
    ],
    3,
  );

  it('re-plans every window for its own traffic and prices the average over time', () => {
    const out = planOracle({ planner: settings, arrivalsMs: trace, windowMs: 30_000, durationMs: 120_000 });
    if (!out.feasible) throw new Error(out.reason);
    expect(out.windows.map((w) => [w.fromMs, w.toMs])).toEqual([
      [0, 30_000],
      [30_000, 60_000],
      [60_000, 90_000],
      [90_000, 120_000],
    ]);
    const replicas = out.windows.map((w) => w.config?.a?.replicas ?? 0);
    expect(replicas[0]).toBe(1);
    expect(replicas[1]).toBe(1);
    expect(replicas[2]).toBeGreaterThanOrEqual(3);
    expect(replicas[3]).toBeGreaterThanOrEqual(3);
    const mean = out.windows.reduce((s, w) => s + w.costPerHour, 0) / out.windows.length;
    expect(out.costPerHour).toBeCloseTo(mean, 9);
    // Every window meets its own bound, so the whole trace does.
    for (const w of out.windows) expect(w.late).toBeLessThanOrEqual(Math.floor(w.queries * 0.005));
    expect(out.windows.reduce((s, w) => s + w.queries, 0)).toBe(trace.length);
    expect(out.missRate).toBeLessThanOrEqual(0.005);
  });

  it('costs less than one static plan for the whole trace, which must hold the peak throughout', () => {
    const out = planOracle({ planner: settings, arrivalsMs: trace, windowMs: 30_000, durationMs: 120_000 });
    const whole = plan({ ...settings, arrivalsMs: trace });
    if (!out.feasible || !whole.feasible) throw new Error('expected feasible');
    expect(out.costPerHour).toBeLessThan(whole.costPerHour);
  });

  it('provisions nothing for an empty window', () => {
    const gap = Float64Array.from([1_000, 2_000, 70_000, 71_000]);
    const out = planOracle({ planner: settings, arrivalsMs: gap, windowMs: 30_000, durationMs: 90_000 });
    if (!out.feasible) throw new Error(out.reason);
    expect(out.windows[1]).toMatchObject({ queries: 0, costPerHour: 0 });
    expect(out.windows[1]?.config).toBeUndefined();
    expect(out.windows[0]?.costPerHour).toBeGreaterThan(0);
  });

  it('fails when a window cannot meet the slo, saying which', () => {
    const slow = profile('c7i.large', (b) => 150 * b, [1, 2], 'a');
    const out = planOracle({
      planner: { ...settings, profiles: { a: [slow] } },
      arrivalsMs: trace,
      windowMs: 30_000,
    });
    expect(out.feasible).toBe(false);
    if (!out.feasible) {
      expect(out.fromMs).toBe(0);
      expect(out.reason).toMatch(/slo of 100 ms/);
    }
  });

  it('fails when the window or duration is not a positive number, naming the field', () => {
    expect(() => planOracle({ planner: settings, arrivalsMs: trace, windowMs: 0 })).toThrow(/windowMs/);
    expect(() =>
      planOracle({ planner: settings, arrivalsMs: trace, windowMs: 1_000, durationMs: Number.NaN }),
    ).toThrow(/durationMs/);
  });
});
