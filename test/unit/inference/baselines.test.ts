import { describe, expect, it } from 'vitest';
import {
  binomialP99,
  CG_PIPELINE,
  CG_STAGE,
  peakRatePerSecond,
  planCgPeak,
  standbyHeadroom,
  targetTrackingConfig,
  targetTrackingController,
  unitProfile,
} from '../../../lib/core/inference/baselines.ts';
import { runClosedLoop } from '../../../lib/core/inference/closed-loop.ts';
import { packedCostPerHour } from '../../../lib/core/inference/packed-cost.ts';
import { replicaThroughputQps, type StageProfile } from '../../../lib/core/inference/profiles.ts';
import type { PipelineConfig } from '../../../lib/core/inference/simulator.ts';
import { gammaTrace, stepTrace } from '../../../lib/core/inference/traces.ts';
import { tunerBasis } from '../../../lib/core/inference/tuner.ts';
import { profile, stage } from './builders.ts';

const single = { stages: [{ id: 'a' }], edges: [] };

describe('cg-peak', () => {
  const profiles: Record<'a' | 'b', [StageProfile, StageProfile]> = {
    a: [
      profile('c7i.large', (b) => 3 + 2 * b, [1, 2, 4, 8], 'a'),
      profile('c7i.xlarge', (b) => 2 + b, [1, 2, 4, 8], 'a'),
    ],
    b: [
      profile('c7i.large', (b) => 5 + 4 * b, [1, 2, 4, 8], 'b'),
      profile('c7i.xlarge', (b) => 3 + 2 * b, [1, 2, 4, 8], 'b'),
    ],
  };
  const visitFractions = { a: 1, b: 0.25 };

  it('covers the peak rate with whole pipeline units', () => {
    const arrivals = stepTrace(
      [
        { ratePerSecond: 100, cv: 1, durationSeconds: 30 },
        { ratePerSecond: 400, cv: 1, durationSeconds: 10 },
      ],
      2,
    );
    const peak = peakRatePerSecond(arrivals, 150);
    const plan = planCgPeak({
      profiles,
      visitFractions,
      sloMs: 150,
      peakRatePerSecond: peak,
      costOf: packedCostPerHour,
    });
    expect(plan).toBeDefined();
    if (!plan) return;
    expect(plan.capacityQps).toBeGreaterThanOrEqual(peak);
    expect(plan.units * replicaThroughputQps(plan.profile, plan.maxBatch)).toBeGreaterThanOrEqual(peak);
    expect(
      2 * (plan.profile.points.find((p) => p.batchSize === plan.maxBatch)?.latencyMs ?? 1e9),
    ).toBeLessThanOrEqual(150);
    const run = runClosedLoop({
      pipeline: CG_PIPELINE,
      config: plan.config,
      profileOf: () => plan.profile,
      arrivalsMs: arrivals,
      sloMs: 150,
    });
    expect(run.missRate).toBeLessThan(0.01);
  });

  it('charges a conditional stage only for its P99 share of a batch', () => {
    expect(binomialP99(8, 1)).toBe(8);
    expect(binomialP99(8, 0.25)).toBeLessThan(8);
    expect(binomialP99(8, 0.25)).toBeGreaterThanOrEqual(2);
    const every = [1, 2, 3, 4, 5, 6, 7, 8];
    const unit = unitProfile(
      {
        a: profile('c7i.large', (b) => 3 + 2 * b, every, 'a'),
        b: profile('c7i.large', (b) => 5 + 4 * b, every, 'b'),
      },
      visitFractions,
      'c7i.large',
    );
    const at8 = unit.points.find((p) => p.batchSize === 8)?.latencyMs ?? 0;
    // Full batches through both stages would take 19 + 37 ms; b sees its P99 share of 8 queries.
    expect(at8).toBe(19 + 5 + 4 * binomialP99(8, 0.25));
    expect(at8).toBeLessThan(19 + 37);
    // A batch of one still visits b in the 99th percentile case.
    expect(unit.points.find((p) => p.batchSize === 1)?.latencyMs).toBe(5 + 9);
  });

  it('fails to plan when no unit meets the SLO', () => {
    expect(
      planCgPeak({ profiles, visitFractions, sloMs: 4, peakRatePerSecond: 10, costOf: packedCostPerHour }),
    ).toBeUndefined();
    expect(CG_STAGE).toBe('pipeline');
  });
});

describe('target-tracking', () => {
  const p = profile('c7i.large', (b) => 10 * b);
  const config: PipelineConfig = { a: stage({ replicas: 4 }) };

  it('scales out when invocations per replica exceed the target, after the boot latency', () => {
    const controller = targetTrackingController({ config, profileOf: () => p, bootMs: () => 60_000 });
    const arrivals = gammaTrace({ ratePerSecond: 300, cv: 1, durationSeconds: 200 }, 1);
    const result = runClosedLoop({
      pipeline: single,
      config,
      profileOf: () => p,
      arrivalsMs: arrivals,
      sloMs: 500,
      controller,
    });
    const first = controller.activities[0];
    expect(first?.delta).toBeGreaterThan(0);
    expect(first?.atMs).toBe(60_000);
    const active = result.timeline.find((pt) => (pt.active.a ?? 0) > 4);
    expect(active?.atMs).toBe(120_000);
  });

  it('holds scale-in for the cooldown after the last scaling activity', () => {
    const controller = targetTrackingController({ config, profileOf: () => p, bootMs: () => 60_000 });
    const arrivals = stepTrace(
      [
        { ratePerSecond: 300, cv: 1, durationSeconds: 120 },
        { ratePerSecond: 20, cv: 1, durationSeconds: 600 },
      ],
      2,
    );
    runClosedLoop({
      pipeline: single,
      config,
      profileOf: () => p,
      arrivalsMs: arrivals,
      sloMs: 500,
      controller,
    });
    const acts = controller.activities;
    const ins = acts.filter((a) => a.delta < 0);
    expect(ins.length).toBeGreaterThan(0);
    for (const a of ins) {
      const before = acts.filter((b) => b.atMs < a.atMs);
      const last = before[before.length - 1];
      if (last) expect(a.atMs - last.atMs).toBeGreaterThanOrEqual(300_000);
    }
  });
});

describe('standby headroom', () => {
  const p = profile('c7i.large', (b) => 5 * b);
  const sample = gammaTrace({ ratePerSecond: 100, cv: 1, durationSeconds: 120 }, 7);

  it('sizes standby as the extra replicas the tuner would need at the surge rate', () => {
    const config = { a: stage({ replicas: 2 }) };
    const basis = tunerBasis({ config, profileOf: () => p, visitFractions: { a: 1 }, arrivalsMs: sample });
    const none = standbyHeadroom(basis, config, () => 60_000, 1);
    const double = standbyHeadroom(basis, config, () => 60_000, 2);
    expect(none['c7i.large']).toBeLessThanOrEqual(1);
    expect(double['c7i.large']).toBeGreaterThanOrEqual(2);
  });

  it('shares one pool per instance type, rounding the summed need of its stages once', () => {
    // Three stages of one replica each at ρ = 0.5: a 1.2x surge needs 1.2 replicas per stage.
    const config: PipelineConfig = {
      a: stage({ replicas: 1 }),
      b: stage({ replicas: 1 }),
      c: stage({ replicas: 1, instanceType: 'g5.xlarge' }),
    };
    const basis = {
      sample: { windowsMs: [1000], counts: [100], ratesPerSecond: [100] },
      planningRatePerSecond: 100,
      rhoP: 0.5,
      stages: Object.fromEntries(
        ['a', 'b', 'c'].map((s) => [
          s,
          { visitFraction: 1, replicaThroughputQps: 200, plannedReplicas: 1, rho: 0.5 },
        ]),
      ),
    };
    const standby = standbyHeadroom(basis, config, () => 60_000, 1.2);
    // c7i.large: ⌈2 × 1.2⌉ − 2 = 1 shared slot, where per stage it would be one each.
    expect(standby).toEqual({ 'c7i.large': 1, 'g5.xlarge': 1 });
  });
});

describe('target-tracking start', () => {
  it('serves every stage at batch 1, sized for the mean rate at the target utilisation', () => {
    const q = profile('c7i.large', (b) => 10 + 2 * b);
    const config: PipelineConfig = {
      a: stage({ maxBatch: 8, replicas: 1 }),
      b: stage({ maxBatch: 4, replicas: 1 }),
    };
    const tt = targetTrackingConfig({
      config,
      profileOf: () => q,
      visitFractions: { a: 1, b: 0.25 },
      meanRatePerSecond: 150,
      targetUtilisation: 0.7,
    });
    // μ(1) = 1000 / 12 = 83.3 q/s: a needs ⌈150 / 58.3⌉ = 3, b ⌈37.5 / 58.3⌉ = 1.
    expect(tt).toEqual({
      a: { ...config.a, maxBatch: 1, replicas: 3 },
      b: { ...config.b, maxBatch: 1, replicas: 1 },
    });
  });
});
