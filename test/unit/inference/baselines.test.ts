import { describe, expect, it } from 'vitest';
import {
  peakRatePerSecond,
  planCgPeak,
  targetTrackingConfig,
  targetTrackingController,
} from '../../../lib/core/inference/baselines.ts';
import { runClosedLoop } from '../../../lib/core/inference/closed-loop.ts';
import { packedCostPerHour } from '../../../lib/core/inference/packed-cost.ts';
import type { StageProfile } from '../../../lib/core/inference/profiles.ts';
import type { PipelineConfig } from '../../../lib/core/inference/simulator.ts';
import { gammaTrace, stepTrace } from '../../../lib/core/inference/traces.ts';
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
  const shape = { stages: [{ id: 'a' }, { id: 'b' }], edges: [{ from: 'a', to: 'b', probability: 0.25 }] };
  const visitFractions = { a: 1, b: 0.25 };

  it('replicates one replica of every stage, on one type and batch, for the peak rate', () => {
    const arrivals = stepTrace(
      [
        { ratePerSecond: 100, cv: 1, durationSeconds: 30 },
        { ratePerSecond: 400, cv: 1, durationSeconds: 10 },
      ],
      2,
    );
    const peak = peakRatePerSecond(arrivals, 150);
    const plan = planCgPeak({
      shape,
      profiles,
      visitFractions,
      sloMs: 150,
      peakRatePerSecond: peak,
      costOf: packedCostPerHour,
    });
    expect(plan).toBeDefined();
    if (!plan) return;
    for (const id of ['a', 'b'])
      expect(plan.config[id]).toEqual({
        instanceType: plan.instanceType,
        maxBatch: plan.maxBatch,
        replicas: plan.units,
        maxQueueDelayMs: 0,
      });
    expect(plan.capacityQps).toBeGreaterThanOrEqual(peak);
    expect(2 * plan.unitLatencyMs).toBeLessThanOrEqual(150);
    expect(plan.costPerHour).toBeCloseTo(packedCostPerHour(plan.config), 9);
    const run = runClosedLoop({
      pipeline: shape,
      config: plan.config,
      profileOf: (id, type) => profiles[id as 'a' | 'b'].find((p) => p.instanceType === type) as StageProfile,
      arrivalsMs: arrivals,
      sloMs: 150,
    });
    expect(run.missRate).toBeLessThan(0.01);
  });

  it('sizes units by the slowest stage per query, and replicates every other stage with it', () => {
    // On c7i.large at batch 8: a serves 8000 / 19 = 421 q/s, b 8000 / 37 = 216 q/s of its quarter of
    // the queries, 865 q/s of pipeline traffic. a is the bottleneck, and b gets as many replicas. (At batch 4 a
    // serves 364 q/s: 4 units for 1100 q/s against 3.)
    const only = { a: [profiles.a[0]], b: [profiles.b[0]] };
    const plan = planCgPeak({
      shape,
      profiles: only,
      visitFractions,
      sloMs: 1000,
      peakRatePerSecond: 1100,
      costOf: packedCostPerHour,
    });
    expect(plan?.maxBatch).toBe(8);
    expect(plan?.units).toBe(Math.ceil(1100 / (8000 / 19)));
    expect(plan?.config.b?.replicas).toBe(plan?.units);
    // The unit's latency is the path's: a then b at the same batch.
    expect(plan?.unitLatencyMs).toBe(19 + 37);
  });

  it('fails to plan when no unit meets the SLO', () => {
    expect(
      planCgPeak({
        shape,
        profiles,
        visitFractions,
        sloMs: 4,
        peakRatePerSecond: 10,
        costOf: packedCostPerHour,
      }),
    ).toBeUndefined();
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
