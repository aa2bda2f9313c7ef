import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  lateLimit,
  PLANNING_LATE_FRACTION,
  type PlannerInput,
  plan,
} from '../../../lib/core/inference/planner.ts';
import { deriveProfile, type StageProfile } from '../../../lib/core/inference/profiles.ts';
import { type PipelineConfig, percentile, simulate } from '../../../lib/core/inference/simulator.ts';
import { gammaTrace } from '../../../lib/core/inference/traces.ts';
import { findInstanceType } from '../../../lib/core/model/catalog.ts';
import {
  feasible,
  plannerInput as input,
  singleStage as one,
  profile,
  stage,
  gammaArrivals as trace,
} from './builders.ts';

const price = (type: string) => findInstanceType(type)?.onDemandPerHour ?? Number.NaN;

const chain = (slo: number) => ({
  sloP99Ms: slo,
  stages: [{ id: 'a' }, { id: 'b' }],
  edges: [{ from: 'a', to: 'b' }],
});

/** P99 of a configuration on the planning trace, checked independently of the planner. */
function p99(i: PlannerInput, config: PipelineConfig): number {
  const lookup = (id: string, type: string) =>
    i.profiles[id]?.find((p) => p.instanceType === type) as StageProfile;
  return percentile(
    simulate({
      pipeline: i.pipeline,
      config,
      profileOf: lookup,
      arrivalsMs: i.arrivalsMs,
      sloMs: i.pipeline.sloP99Ms,
      seed: i.seed ?? 1,
    }).latenciesMs,
    99,
  );
}

const actions = (r: { steps: readonly { action: string }[] }) => r.steps.map((s) => s.action);

describe('initialisation (Alg. 1)', () => {
  it('fails when the SLO is below the batch-1 latency of the longest path on the fastest hardware', () => {
    const result = plan(
      input({
        pipeline: chain(4),
        profiles: {
          a: [profile('c7i.large', () => 3), profile('g5.xlarge', () => 1)],
          b: [profile('g5.xlarge', () => 4)],
        },
      }),
    );
    expect(result.feasible).toBe(false);
    expect(!result.feasible && result.reason).toMatch(/slo of 4 ms is below the 5 ms batch-1 latency/);
    expect(result.simulations).toBe(0);
  });

  it('starts on the lowest-latency hardware and adds replicas only at the throughput bottleneck', () => {
    // b needs 10 ms per query, so 250 queries/s need at least 3 replicas of it; a keeps up alone.
    const i = input({
      pipeline: chain(100),
      profiles: { a: [profile('g5.xlarge', () => 1)], b: [profile('g5.xlarge', () => 10)] },
      arrivalsMs: trace(250),
    });
    const result = feasible(plan(i));
    expect(result.initial.config.a).toEqual(stage({ instanceType: 'g5.xlarge', replicas: 1 }));
    expect(result.initial.config.b?.replicas).toBeGreaterThanOrEqual(3);
    expect(p99(i, result.initial.config)).toBeLessThanOrEqual(100);
  });

  it('fails when the bottleneck would need more replicas than allowed', () => {
    const result = plan(
      input({
        pipeline: one(100),
        profiles: { a: [profile('g5.xlarge', () => 10)] },
        arrivalsMs: trace(250),
        maxReplicasPerStage: 2,
      }),
    );
    expect(result.feasible).toBe(false);
    expect(!result.feasible && result.reason).toMatch(/no configuration within 2 replicas per stage/);
  });

  it('fails when a stage has no profile for any allowed instance type', () => {
    const result = plan(
      input({
        pipeline: { sloP99Ms: 100, stages: [{ id: 'a', instanceTypes: ['c7i.large'] }], edges: [] },
        profiles: { a: [profile('g5.xlarge', () => 1)] },
      }),
    );
    expect(!result.feasible && result.reason).toBe('no usable profile for stage a');
  });
});

describe('planning margin', () => {
  it('counts late queries by the nearest-rank rule for any allowed fraction', () => {
    expect(lateLimit(1000, 0.01)).toBe(10);
    expect(lateLimit(1000, PLANNING_LATE_FRACTION)).toBe(2);
    expect(lateLimit(999, 0.0025)).toBe(2);
    expect(lateLimit(1000, 0)).toBe(0);
  });

  it('meets a stricter late fraction on the sample when asked, at no lower cost', () => {
    const base = input({
      pipeline: one(60),
      profiles: { a: [profile('c7i.large', (b) => 8 + 2 * b)] },
      arrivalsMs: gammaTrace({ ratePerSecond: 200, cv: 4, durationSeconds: 30 }, 3),
    });
    const loose = feasible(plan(base));
    const strict = feasible(plan({ ...base, lateFraction: PLANNING_LATE_FRACTION }));
    const late = (config: PipelineConfig) =>
      simulate({
        pipeline: base.pipeline,
        config,
        profileOf: (id, type) => base.profiles[id]?.find((p) => p.instanceType === type) as StageProfile,
        arrivalsMs: base.arrivalsMs,
        sloMs: 60,
        seed: 1,
      }).late;
    expect(late(strict.config)).toBeLessThanOrEqual(
      lateLimit(base.arrivalsMs.length, PLANNING_LATE_FRACTION),
    );
    expect(strict.costPerHour).toBeGreaterThanOrEqual(loose.costPerHour);
  });

  it('fails when the late fraction is out of range, naming it', () => {
    const base = input({ pipeline: one(60), profiles: { a: [profile('c7i.large', (b) => 8 + 2 * b)] } });
    expect(() => plan({ ...base, lateFraction: 0.9 })).toThrow(/lateFraction must be at most 0.5/);
  });
});

describe('cost minimisation (Alg. 2)', () => {
  it('increases the batch size so that replicas can be removed', () => {
    // 10 ms at batch 1 (100 queries/s per replica) but 24 ms at batch 8 (333 queries/s per replica).
    const i = input({
      pipeline: one(100),
      profiles: { a: [profile('c7i.large', (b) => 8 + 2 * b)] },
      arrivalsMs: trace(250),
    });
    const result = feasible(plan(i));
    expect(actions(result)).toContain('increase-batch');
    expect(actions(result)).toContain('remove-replica');
    expect(result.config.a?.maxBatch).toBeGreaterThan(1);
    expect(result.config.a?.replicas).toBeLessThan(result.initial.config.a?.replicas ?? 0);
    expect(result.costPerHour).toBeLessThan(result.initial.costPerHour);
    expect(p99(i, result.config)).toBeLessThanOrEqual(100);
  });

  it('downgrades to cheaper hardware when it still meets the SLO', () => {
    const i = input({
      pipeline: one(100),
      profiles: { a: [profile('g5.xlarge', (b) => 1 + 0.1 * b), profile('c7i.large', (b) => 5 + 2 * b)] },
      arrivalsMs: trace(20),
    });
    const result = feasible(plan(i));
    expect(result.initial.config.a?.instanceType).toBe('g5.xlarge');
    expect(actions(result)).toContain('downgrade-hw');
    expect(result.config.a?.instanceType).toBe('c7i.large');
    expect(result.costPerHour).toBeCloseTo(price('c7i.large') * (result.config.a?.replicas ?? 0), 9);
    expect(p99(i, result.config)).toBeLessThanOrEqual(100);
  });

  it('downgrades past a next-cheaper type that cannot serve the stage to a cheaper one that can', () => {
    // c7i.4xlarge ($0.71/h) sits between the GPU types and never meets the SLO; the T4 ($0.53/h) does.
    const i = (downgrade?: 'any' | 'next') =>
      input({
        pipeline: one(100),
        profiles: {
          a: [
            profile('g5.xlarge', (b) => 1 + 0.1 * b),
            profile('c7i.4xlarge', (b) => 150 * b),
            profile('g4dn.xlarge', (b) => 3 + 0.3 * b),
          ],
        },
        arrivalsMs: trace(100),
        ...(downgrade ? { downgrade } : {}),
      });
    const any = feasible(plan(i()));
    expect(any.config.a?.instanceType).toBe('g4dn.xlarge');
    expect(actions(any)).toContain('downgrade-hw');
    expect(p99(i(), any.config)).toBeLessThanOrEqual(100);
    // The paper's rule tries the next-cheaper type only, and stops there.
    const next = feasible(plan(i('next')));
    expect(next.config.a?.instanceType).toBe('g5.xlarge');
    expect(any.costPerHour).toBeLessThan(next.costPerHour);
    expect(() => plan({ ...i(), downgrade: 'all' as 'any' })).toThrow(/downgrade must be any or next/);
  });

  it('keeps the faster hardware when the cheaper one cannot meet the SLO', () => {
    const result = feasible(
      plan(
        input({
          pipeline: one(20),
          profiles: { a: [profile('g5.xlarge', () => 2), profile('c7i.large', () => 25)] },
          arrivalsMs: trace(20),
        }),
      ),
    );
    expect(actions(result)).not.toContain('downgrade-hw');
    expect(result.config.a?.instanceType).toBe('g5.xlarge');
  });

  it('charges through the given cost function', () => {
    // With the CPU type priced above the GPU one, downgrading would not save anything.
    const costOf = (config: PipelineConfig) =>
      Object.values(config).reduce(
        (sum, c) => sum + c.replicas * (c.instanceType === 'g5.xlarge' ? 1 : 5),
        0,
      );
    const result = feasible(
      plan(
        input({
          pipeline: one(100),
          profiles: { a: [profile('g5.xlarge', () => 1), profile('c7i.large', () => 5)] },
          arrivalsMs: trace(20),
          costOf,
        }),
      ),
    );
    expect(result.config.a?.instanceType).toBe('g5.xlarge');
    expect(result.costPerHour).toBe(1);
  });

  it('says which chosen profiles were derived rather than measured', () => {
    const measured = profile('c7i.large', (b) => 5 + 2 * b);
    const derived = deriveProfile(measured, {
      instanceType: 'c7i.xlarge',
      factor: 2,
      derivation: 'twice the vcpus',
    });
    const result = feasible(
      plan(input({ pipeline: one(12), profiles: { a: [measured, derived] }, arrivalsMs: trace(20) })),
    );
    expect(result.config.a?.instanceType).toBe('c7i.xlarge');
    expect(result.derivedStages).toEqual(['a']);
  });

  it('respects the instance types a stage allows', () => {
    const result = feasible(
      plan(
        input({
          pipeline: { sloP99Ms: 100, stages: [{ id: 'a', instanceTypes: ['c7i.xlarge'] }], edges: [] },
          profiles: { a: [profile('c7i.large', () => 4), profile('c7i.xlarge', () => 2)] },
          arrivalsMs: trace(20),
        }),
      ),
    );
    expect(result.config.a?.instanceType).toBe('c7i.xlarge');
  });
});

describe('plans across pipelines', () => {
  const social = {
    sloP99Ms: 150,
    stages: [{ id: 'lang' }, { id: 'nmt' }, { id: 'image' }],
    edges: [
      { from: 'lang', to: 'nmt', probability: 0.3 },
      { from: 'lang', to: 'image', probability: 1 },
    ],
  };
  const profiles = {
    lang: [profile('c7i.large', (b) => 2 + 0.5 * b), profile('g5.xlarge', (b) => 1 + 0.1 * b)],
    nmt: [profile('c7i.xlarge', (b) => 20 + 10 * b), profile('g5.xlarge', (b) => 5 + 0.8 * b)],
    image: [profile('c7i.large', (b) => 25 + 15 * b), profile('g5.xlarge', (b) => 4 + 0.5 * b)],
  };

  it.each([
    [50, 1],
    [150, 4],
  ])('finds a feasible plan no costlier than its start at %s queries/s, cv %s', (rate, cv) => {
    const i = input({
      pipeline: social,
      profiles,
      arrivalsMs: gammaTrace({ ratePerSecond: rate, cv, durationSeconds: 40 }, 3),
    });
    const result = feasible(plan(i));
    expect(result.costPerHour).toBeLessThanOrEqual(result.initial.costPerHour);
    const costs = result.steps.map((s) => s.costPerHour);
    costs.forEach((c, k) => {
      if (k > 0) expect(c).toBeLessThanOrEqual(costs[k - 1] as number);
    });
    expect(result.p99Ms).toBeLessThanOrEqual(150);
    expect(p99(i, result.config)).toBe(result.p99Ms);
    expect(result.visitFractions.nmt).toBeGreaterThan(0.25);
    expect(result.visitFractions.nmt).toBeLessThan(0.35);
  });

  it('finds a plan whenever a hand-built configuration is feasible', () => {
    const i = input({ pipeline: social, profiles, arrivalsMs: trace(200, 30, 8) });
    const hand: PipelineConfig = {
      lang: stage({ instanceType: 'g5.xlarge', maxBatch: 8, replicas: 1 }),
      nmt: stage({ instanceType: 'g5.xlarge', maxBatch: 8, replicas: 2 }),
      image: stage({ instanceType: 'g5.xlarge', maxBatch: 8, replicas: 2 }),
    };
    expect(p99(i, hand)).toBeLessThanOrEqual(150);
    expect(plan(i).feasible).toBe(true);
  });
});

describe('planner properties', () => {
  const scenario = fc.record({
    gpuMs: fc.integer({ min: 1, max: 5 }),
    cpuMs: fc.integer({ min: 5, max: 40 }),
    perItemMs: fc.integer({ min: 0, max: 4 }),
    rate: fc.integer({ min: 5, max: 1500 }),
    slo: fc.integer({ min: 3, max: 200 }),
  });

  function build(s: { gpuMs: number; cpuMs: number; perItemMs: number; rate: number; slo: number }) {
    return input({
      pipeline: one(s.slo),
      profiles: {
        a: [
          profile('g5.xlarge', (b) => s.gpuMs + (s.perItemMs * b) / 4),
          profile('c7i.large', (b) => s.cpuMs + s.perItemMs * b),
        ],
      },
      arrivalsMs: trace(s.rate, 10),
      maxReplicasPerStage: 16,
    });
  }

  it('finds a plan whenever the most generous configuration meets the SLO, and ends no costlier', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const i = build(s);
        const generous = { a: stage({ instanceType: 'g5.xlarge', replicas: 16 }) };
        const result = plan(i);
        if (p99(i, generous) <= s.slo) expect(result.feasible).toBe(true);
        if (result.feasible) {
          expect(result.costPerHour).toBeLessThanOrEqual(result.initial.costPerHour);
          expect(result.p99Ms).toBeLessThanOrEqual(s.slo);
        }
      }),
      { seed: 23, numRuns: 30 },
    );
  });
});
