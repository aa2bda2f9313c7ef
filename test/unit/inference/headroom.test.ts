import { describe, expect, it } from 'vitest';
import {
  HEADROOM_SURGE_FACTOR,
  headroomOnly,
  isHeadroomSlot,
  PLAN_SLACK_MAX,
  planSlack,
  plusHeadroom,
  servingCount,
  splitHeadroomCost,
  surgeHeadroom,
  withSurgeHeadroom,
} from '../../../lib/core/inference/headroom.ts';
import { meetsSlo, type PlannerInput, provisionFor } from '../../../lib/core/inference/planner.ts';
import { simulate } from '../../../lib/core/inference/simulator.ts';
import { gammaTrace, meanRatePerSecond } from '../../../lib/core/inference/traces.ts';
import { tunerBasis } from '../../../lib/core/inference/tuner.ts';
import { profile, stage } from './builders.ts';

// One stage, 5 ms per query at any batch: a replica serves 200 q/s.
const p = profile('c7i.large', (b) => 5 * b, [1, 2, 4, 8], 'a');
const sample = gammaTrace({ ratePerSecond: 100, cv: 1, durationSeconds: 120 }, 7);
const planner: PlannerInput = {
  pipeline: { sloP99Ms: 100, stages: [{ id: 'a' }], edges: [] },
  profiles: { a: [p] },
  arrivalsMs: sample,
  seed: 1,
};

describe('serving headroom for a surge', () => {
  const config = { a: stage({ maxBatch: 8, replicas: 1 }) };
  const basis = tunerBasis({ config, profileOf: () => p, visitFractions: { a: 1 }, arrivalsMs: sample });
  const headroomAt = (surgeFactor: number) =>
    surgeHeadroom({ planner, config, basis, bootMs: () => 60_000, surgeFactor })?.a;

  it('adds nothing at the planning rate and more for larger surges', () => {
    expect(headroomAt(0.5)).toBe(0);
    const two = headroomAt(2) as number;
    const four = headroomAt(4) as number;
    expect(two).toBeGreaterThanOrEqual(1);
    expect(four).toBeGreaterThan(two);
    expect(surgeHeadroom({ planner, config, basis, bootMs: () => 60_000 })?.a).toBe(
      headroomAt(HEADROOM_SURGE_FACTOR),
    );
  });

  it('gives the plan what the estimator says the compressed sample needs, and no more', () => {
    const rB = Math.max(...basis.sample.ratesPerSecond.slice(-1), basis.planningRatePerSecond);
    const factor = 3;
    const extra = headroomAt(factor) as number;
    const squeeze = meanRatePerSecond(sample) / (factor * rB);
    const surge = sample.map((t) => t * squeeze);
    const run = (replicas: number) =>
      simulate({
        pipeline: planner.pipeline,
        config: { a: { ...config.a, replicas } },
        profileOf: () => p,
        arrivalsMs: surge,
        sloMs: 100,
        seed: 1,
      });
    const late = (r: ReturnType<typeof run>) => r.late / r.latenciesMs.length;
    expect(late(run(1 + extra))).toBeLessThanOrEqual(0.01);
    expect(late(run(extra))).toBeGreaterThan(0.01);
  });

  it('leaves hardware and batch as planned, and refuses a start that lacks a stage', () => {
    const out = provisionFor(planner, { a: stage({ maxBatch: 4, replicas: 1 }) });
    expect(out?.a?.maxBatch).toBe(4);
    expect(out?.a?.instanceType).toBe('c7i.large');
    expect(() => provisionFor(planner, {})).toThrow(/start\.a/);
    expect(() => provisionFor(planner, { a: stage({ instanceType: 'g5.xlarge' }) })).toThrow(
      /no usable profile for g5.xlarge/,
    );
  });
});

describe('plan and headroom chosen together', () => {
  // No batching gain: a batch of b takes 10·b ms, so a large batch only adds latency under load.
  const p = profile('c7i.large', (b) => 10 * b, [1, 2, 4, 8], 'a');
  const sample = gammaTrace({ ratePerSecond: 150, cv: 1, durationSeconds: 120 }, 11);
  const planner: PlannerInput = {
    pipeline: { sloP99Ms: 150, stages: [{ id: 'a' }], edges: [] },
    profiles: { a: [p] },
    arrivalsMs: sample,
    seed: 1,
    costOf: (c) => Object.values(c).reduce((n, x) => n + x.replicas, 0),
  };
  const basis = (config: Record<string, ReturnType<typeof stage>>) =>
    tunerBasis({ config, profileOf: () => p, visitFractions: { a: 1 }, arrivalsMs: sample });

  it('lowers a batch when that makes plan plus headroom cheaper, keeping the sample feasible', () => {
    const big = provisionFor(planner, { a: stage({ maxBatch: 8, replicas: 1 }) });
    expect(big).toBeDefined();
    if (!big) return;
    const surge = { basis: basis(big), bootMs: () => 60_000, surgeFactor: 2.5 };
    const own = surgeHeadroom({ planner, config: big, ...surge });
    const ownTotal = (big.a?.replicas ?? 0) + (own?.a ?? 0);
    const joint = withSurgeHeadroom({ planner, config: big, ...surge });
    expect(joint).toBeDefined();
    if (!joint) return;
    expect(joint.totalCostPerHour).toBeLessThan(ownTotal);
    expect(joint.lowered.a).toBeLessThan(8);
    expect(joint.config.a?.maxBatch).toBe(joint.lowered.a);
    // Still feasible on the sample as it stands: the replica loop adds nothing to it.
    expect(provisionFor(planner, joint.config)).toEqual(joint.config);
    expect(joint.p99Ms).toBeLessThanOrEqual(150);
    expect(joint.totalCostPerHour).toBe((joint.config.a?.replicas ?? 0) + (joint.headroom.a ?? 0));
  });

  it('keeps the plan when no smaller batch is cheaper in total', () => {
    const one = provisionFor(planner, { a: stage({ maxBatch: 1, replicas: 1 }) });
    if (!one) throw new Error('batch 1 must be feasible');
    const joint = withSurgeHeadroom({ planner, config: one, basis: basis(one), bootMs: () => 60_000 });
    expect(joint?.config).toEqual(one);
    expect(joint?.lowered).toEqual({});
  });
});

describe('plan and headroom chosen together, across hardware', () => {
  // A CPU type with no batching gain (10 ms per query) at 1 per replica-hour, and a GPU type that batches
  // (4 ms + 1 ms per query) at 3: at the sample's 150 q/s two CPU replicas are cheapest, at a 3x surge
  // one GPU batching deeper holds what would take several more CPU replicas.
  const cpu = profile('c7i.large', (b) => 10 * b, [1, 2, 4, 8], 'a');
  const gpu = profile('g4dn.xlarge', (b) => 4 + b, [1, 2, 4, 8, 16], 'a');
  const price: Record<string, number> = { 'c7i.large': 1, 'g4dn.xlarge': 3 };
  const sample = gammaTrace({ ratePerSecond: 150, cv: 1, durationSeconds: 120 }, 13);
  const input = (instanceTypes?: string[]): PlannerInput => ({
    pipeline: {
      sloP99Ms: 150,
      stages: [{ id: 'a', ...(instanceTypes ? { instanceTypes } : {}) }],
      edges: [],
    },
    profiles: { a: [cpu, gpu] },
    arrivalsMs: sample,
    seed: 1,
    costOf: (c) => Object.values(c).reduce((n, x) => n + x.replicas * (price[x.instanceType] ?? 0), 0),
  });
  const onCpu = provisionFor(input(), { a: stage({ instanceType: 'c7i.large', maxBatch: 1, replicas: 1 }) });
  const basis = tunerBasis({
    config: onCpu ?? {},
    profileOf: (_s, t) => (t === 'g4dn.xlarge' ? gpu : cpu),
    visitFractions: { a: 1 },
    arrivalsMs: sample,
  });
  const boots: string[] = [];
  const bootMs = (_stage: string, type: string) => {
    boots.push(type);
    return 60_000;
  };

  it('moves a stage to the hardware that is cheaper with its headroom, sizing the surge over its boot', () => {
    if (!onCpu) throw new Error('the CPU type must be feasible');
    const own = surgeHeadroom({ planner: input(), config: onCpu, basis, bootMs });
    const ownTotal = (onCpu.a?.replicas ?? 0) + (own?.a ?? 0);
    const joint = withSurgeHeadroom({ planner: input(), config: onCpu, basis, bootMs });
    if (!joint) throw new Error('the surge must be servable');
    expect(joint.config.a?.instanceType).toBe('g4dn.xlarge');
    expect(joint.rehosted).toEqual({ a: 'g4dn.xlarge' });
    expect(joint.lowered).toEqual({});
    expect(joint.totalCostPerHour).toBeLessThan(ownTotal);
    expect(joint.totalCostPerHour).toBe(3 * ((joint.config.a?.replicas ?? 0) + (joint.headroom.a ?? 0)));
    expect(provisionFor(input(), joint.config)).toEqual(joint.config);
    expect(boots).toContain('g4dn.xlarge');
  });

  it('prices headroom bought apart (spot) on its own, which can change the best hardware', () => {
    if (!onCpu) throw new Error('the CPU type must be feasible');
    const together = withSurgeHeadroom({ planner: input(), config: onCpu, basis, bootMs });
    // Headroom at a tenth of the price, packed apart: the total is the two parts, and never dearer.
    const tenth = (c: Record<string, ReturnType<typeof stage>>) =>
      Object.values(c).reduce((n, x) => n + 0.1 * x.replicas * (price[x.instanceType] ?? 0), 0);
    const spot = withSurgeHeadroom({ planner: input(), config: onCpu, basis, bootMs, headroomCostOf: tenth });
    if (!together || !spot) throw new Error('the surge must be servable');
    const own = input().costOf;
    if (!own) throw new Error('the planner input prices configurations');
    expect(spot.totalCostPerHour).toBeCloseTo(
      own(spot.config) + tenth(headroomOnly(spot.config, spot.headroom)),
      9,
    );
    expect(spot.totalCostPerHour).toBeLessThan(together.totalCostPerHour);
    // Free headroom: the surge costs nothing, so the plan's own cheapest hardware stays.
    const free = withSurgeHeadroom({
      planner: input(),
      config: onCpu,
      basis,
      bootMs,
      headroomCostOf: () => 0,
    });
    expect(free?.config.a?.instanceType).toBe('c7i.large');
    expect(free?.totalCostPerHour).toBe(own(onCpu));
    expect(free?.headroom.a).toBeGreaterThan(0);
  });

  it('keeps the hardware when told to, or when the stage may not use the other type', () => {
    if (!onCpu) throw new Error('the CPU type must be feasible');
    const batchOnly = withSurgeHeadroom({ planner: input(), config: onCpu, basis, bootMs, hardware: false });
    expect(batchOnly?.config.a?.instanceType).toBe('c7i.large');
    const pinned = withSurgeHeadroom({ planner: input(['c7i.large']), config: onCpu, basis, bootMs });
    expect(pinned?.config.a?.instanceType).toBe('c7i.large');
    expect(pinned?.rehosted).toEqual({});
  });
});

describe("a plan's certified slack", () => {
  const holdsAt = (config: Record<string, ReturnType<typeof stage>>, c: number) =>
    meetsSlo({ ...planner, arrivalsMs: sample.map((t) => t / c) }, config);

  it('is the largest compression the plan was shown to hold, up to the bound', () => {
    const one = { a: stage({ maxBatch: 8, replicas: 1 }) };
    const slack = planSlack(planner, one, 4);
    expect(slack).toBeGreaterThan(1);
    expect(slack).toBeLessThan(4);
    expect(holdsAt(one, slack)).toBe(true);
    // Within the search's precision (1/64 of the range) above it, the plan no longer holds.
    expect(holdsAt(one, slack + 3 / 32)).toBe(false);
    // The default bound caps it.
    expect(slack).toBeGreaterThan(PLAN_SLACK_MAX);
    expect(planSlack(planner, one)).toBe(PLAN_SLACK_MAX);
  });

  it('is the bound itself when the plan holds there, and 1 for a plan with nothing to spare', () => {
    expect(planSlack(planner, { a: stage({ maxBatch: 8, replicas: 4 }) }, 2)).toBe(2);
    expect(planSlack(planner, { a: stage({ maxBatch: 8, replicas: 1 }) }, 1)).toBe(1);
    const tight = { ...planner, pipeline: { ...planner.pipeline, sloP99Ms: 6 } };
    expect(planSlack(tight, { a: stage({ maxBatch: 1, replicas: 1 }) })).toBe(1);
  });
});

describe('servingCount', () => {
  it('absorbs a scale-up above the plan into the warm replicas, and keeps them on top below it', () => {
    // Planned 4, headroom 3: up to 7 the warm replicas serve the scale-up; past 7 the target alone.
    expect([2, 4, 5, 7, 8, 12].map((t) => servingCount('absorb', t, 4, 3))).toEqual([5, 7, 7, 7, 8, 12]);
    expect([2, 4, 5, 7, 8, 12].map((t) => servingCount('on-top', t, 4, 3))).toEqual([5, 7, 8, 10, 11, 15]);
  });

  it('is the target itself without headroom, under either rule', () => {
    for (const t of [0, 1, 4, 9]) {
      expect(servingCount('absorb', t, 4, 0)).toBe(t);
      expect(servingCount('on-top', t, 4, 0)).toBe(t);
    }
  });

  it('never serves fewer than the target, and never more than on-top', () => {
    for (let planned = 1; planned <= 6; planned++)
      for (let headroom = 0; headroom <= 4; headroom++)
        for (let target = 0; target <= 15; target++) {
          const n = servingCount('absorb', target, planned, headroom);
          expect(n).toBeGreaterThanOrEqual(target);
          expect(n).toBeLessThanOrEqual(servingCount('on-top', target, planned, headroom));
          // Never below the plan plus its headroom once the tuner asks for more than the plan.
          if (target > planned) expect(n).toBeGreaterThanOrEqual(planned + headroom);
        }
  });
});

describe('headroom bought apart', () => {
  const planned = { a: stage({ replicas: 2 }), b: stage({ instanceType: 'g6.xlarge', replicas: 1 }) };
  const headroom = { a: 1, b: 2 };

  it('names the warm slots: planned..planned+headroom-1', () => {
    expect([0, 1, 2, 3].map((slot) => isHeadroomSlot(slot, 2, 1))).toEqual([false, false, true, false]);
    expect(isHeadroomSlot(0, 0, 0)).toBe(false);
  });

  it('keeps only the headroom replicas of each stage', () => {
    expect(headroomOnly(planned, headroom)).toEqual({
      a: { ...planned.a, replicas: 1 },
      b: { ...planned.b, replicas: 2 },
    });
  });

  it('prices the warm slots of a count apart from the rest', () => {
    const count = (c: Record<string, ReturnType<typeof stage>>) =>
      Object.values(c).reduce((n, x) => n + x.replicas, 0);
    const cost = splitHeadroomCost({
      planned,
      headroom,
      costOf: count,
      headroomCostOf: (c) => 100 * count(c),
    });
    // At plan + headroom: 3 + 3 replicas, 3 of them warm.
    expect(cost(plusHeadroom(planned, headroom))).toBe(3 + 300);
    // Below the plan (a at 1, b at 1): no warm slot in use.
    expect(cost({ a: { ...planned.a, replicas: 1 }, b: planned.b })).toBe(2);
    // Past plan + headroom (a at 5): the slots past the headroom are on-demand again.
    expect(cost({ a: { ...planned.a, replicas: 5 }, b: { ...planned.b, replicas: 2 } })).toBe(
      2 + 2 + 1 + 100 + 100,
    );
  });
});
