import { describe, expect, it } from 'vitest';
import { computeEnvelope, recentArrivals } from '../../../lib/core/inference/envelope.ts';
import type { PipelineConfig } from '../../../lib/core/inference/simulator.ts';
import { addSpike, gammaTrace } from '../../../lib/core/inference/traces.ts';
import {
  burstNeed,
  burstRhoOf,
  certifiedEnvelope,
  replicasFor,
  type StageBasis,
  safeUtilisation,
  type TunerState,
  tune,
  tunerBasis,
} from '../../../lib/core/inference/tuner.ts';
import { profile, stage } from './builders.ts';

// One replica at batch 4 runs 4 queries in 8 ms: 500 queries/s.
const fast = profile('g5.xlarge', (b) => 4 + b);
// One replica at batch 4 runs 4 queries in 32 ms: 125 queries/s.
const slow = profile('c7i.large', (b) => 28 + b);
const profileOf = (_id: string, type: string) => (type === 'g5.xlarge' ? fast : slow);

const planned: PipelineConfig = { a: stage({ instanceType: 'g5.xlarge', maxBatch: 4, replicas: 2 }) };
const sample = gammaTrace({ ratePerSecond: 100, cv: 1, durationSeconds: 120 }, 1);
const basis = tunerBasis({ config: planned, profileOf, visitFractions: { a: 1 }, arrivalsMs: sample });

const start = (replicas: number, lastChangeMs: number): TunerState => ({
  replicas: { a: replicas },
  lastChangeMs,
});

describe('provisioning basis', () => {
  it('sets rho so that the planning rate gives back the planned replica count', () => {
    const a = basis.stages.a;
    expect(a?.replicaThroughputQps).toBe(500);
    expect(a?.rho).toBeCloseTo(basis.planningRatePerSecond / 1000, 9);
    expect(replicasFor(basis.planningRatePerSecond, 1, 500, a?.rho ?? 0)).toBe(2);
    expect(basis.rhoP).toBe(a?.rho);
  });

  it('starts the envelope windows at the shortest planned service time', () => {
    expect(basis.sample.windowsMs[0]).toBe(8);
    expect(basis.sample.windowsMs.at(-1)).toBeLessThanOrEqual(60_000);
  });

  it('starts the envelope windows at the given floor, such as the SLO', () => {
    const atSlo = tunerBasis({
      config: planned,
      profileOf,
      visitFractions: { a: 1 },
      arrivalsMs: sample,
      envelopeFloorMs: 150,
    });
    expect(atSlo.sample.windowsMs.slice(0, 3)).toEqual([150, 300, 600]);
    expect(atSlo.stages.a?.rho).toBe(basis.stages.a?.rho);
    expect(atSlo.stages.a?.replicaThroughputQps).toBe(basis.stages.a?.replicaThroughputQps);
  });

  it('computes k = ceil(r * s / (mu * rho))', () => {
    expect(replicasFor(100, 1, 50, 0.5)).toBe(4);
    expect(replicasFor(101, 1, 50, 0.5)).toBe(5);
    expect(replicasFor(100, 0.5, 50, 0.5)).toBe(2);
    expect(replicasFor(100, 0, 50, 0.5)).toBe(0);
  });
});

describe('scale up', () => {
  it('adds replicas for the largest rate above the planning envelope', () => {
    const base = gammaTrace({ ratePerSecond: 100, cv: 1, durationSeconds: 60 }, 5);
    const live = addSpike(base, { atSeconds: 50, durationSeconds: 10, ratePerSecond: 400, cv: 1 }, 6);
    const decision = tune(basis, start(2, 0), live, 60_000);
    expect(decision.reason).toBe('scale-up');
    const rate = decision.ratePerSecond ?? 0;
    expect(rate).toBeGreaterThan(100);
    // The plan (2 replicas for the sample) scaled by the live over the sample rate, window by window.
    const live60 = computeEnvelope(recentArrivals(live, 60_000, 60_000), basis.sample.windowsMs);
    const scaled = Math.max(
      ...live60.ratesPerSecond.map((r, i) =>
        Math.ceil((2 * r) / (basis.sample.ratesPerSecond[i] ?? 1) - 1e-9),
      ),
    );
    expect(decision.state.replicas.a).toBe(scaled);
    expect(decision.state.replicas.a).toBe(burstNeed(basis, live60, basis.stages.a as StageBasis, rate));
    expect(decision.state.replicas.a).toBeGreaterThan(2);
    // Never more than the paper's ⌈r_max·s/(μ·ρ_m)⌉, which sets a short-window peak against the mean.
    expect(decision.state.replicas.a).toBeLessThanOrEqual(
      replicasFor(rate, 1, 500, basis.stages.a?.rho ?? 0),
    );
    expect(decision.state.lastChangeMs).toBe(60_000);
  });

  it('scales up even during the stabilisation period', () => {
    const live = gammaTrace({ ratePerSecond: 1000, cv: 1, durationSeconds: 10 }, 7);
    const decision = tune(basis, start(2, 9_000), live, 10_000);
    expect(decision.reason).toBe('scale-up');
  });

  it('keeps the counts when traffic stays inside the planning envelope', () => {
    // Any stretch of the planning trace itself stays within its envelope.
    const decision = tune(basis, start(2, 0), sample, 60_000);
    expect(decision.reason).toBe('steady');
    expect(decision.state).toEqual(start(2, 0));
  });
});

describe('scale down', () => {
  const quiet = gammaTrace({ ratePerSecond: 20, cv: 1, durationSeconds: 120 }, 8);

  it('waits for the stabilisation delay after a change', () => {
    const decision = tune(basis, start(10, 50_000), quiet, 60_000);
    expect(decision.reason).toBe('stabilising');
    expect(decision.state.replicas.a).toBe(10);
  });

  it('sizes for the highest 5 s rate of the last 30 s once stable', () => {
    const decision = tune(basis, start(10, 40_000), quiet, 60_000);
    expect(decision.reason).toBe('scale-down');
    const rate = decision.ratePerSecond ?? 0;
    expect(rate).toBeGreaterThan(10);
    expect(decision.state.replicas.a).toBe(Math.max(1, replicasFor(rate, 1, 500, basis.rhoP)));
    expect(decision.state.replicas.a).toBeLessThan(10);
    expect(decision.state.lastChangeMs).toBe(60_000);
  });

  it('scales down while a small window still beats the sample, but not below what that rate needs', () => {
    // A short burst 20 s ago still exceeds the sample's envelope at its windows, yet needs far fewer
    // replicas than the 40 held: the counts come down to the exceeding rate's own need.
    const base = gammaTrace({ ratePerSecond: 100, cv: 1, durationSeconds: 60 }, 5);
    const live = addSpike(base, { atSeconds: 38, durationSeconds: 2, ratePerSecond: 300, cv: 1 }, 6);
    const decision = tune(basis, start(40, 0), live, 60_000);
    expect(decision.reason).toBe('scale-down');
    const up = tune(basis, start(1, 0), live, 60_000);
    expect(up.reason).toBe('scale-up');
    expect(decision.state.replicas.a).toBeLessThan(40);
    expect(decision.state.replicas.a).toBeGreaterThanOrEqual(up.state.replicas.a ?? 0);
  });

  it('never goes below one replica', () => {
    const decision = tune(basis, start(5, 0), new Float64Array(0), 60_000);
    expect(decision.state.replicas.a).toBe(1);
  });

  it('uses the smallest rho of any stage when asked for the paper rule, so every stage keeps headroom', () => {
    const config: PipelineConfig = {
      a: stage({ instanceType: 'g5.xlarge', maxBatch: 4, replicas: 2 }),
      b: stage({ instanceType: 'c7i.large', maxBatch: 4, replicas: 1 }),
    };
    const two = tunerBasis({ config, profileOf, visitFractions: { a: 1, b: 1 }, arrivalsMs: sample });
    expect(two.rhoP).toBe(two.stages.a?.rho);
    expect(two.stages.b?.rho).toBeGreaterThan(two.rhoP);
    const decision = tune(two, { replicas: { a: 10, b: 10 }, lastChangeMs: 0 }, sample, 60_000, {
      scaleDownRho: 'pipeline',
    });
    const rate = decision.ratePerSecond ?? 0;
    expect(decision.state.replicas.b).toBe(replicasFor(rate, 1, 125, two.rhoP));
    expect(decision.state.replicas.b).toBeGreaterThan(replicasFor(rate, 1, 125, two.stages.b?.rho ?? 0));
  });

  it('scales each stage down with its own rho by default, back to its plan at the planning rate', () => {
    const config: PipelineConfig = {
      a: stage({ instanceType: 'g5.xlarge', maxBatch: 4, replicas: 2 }),
      b: stage({ instanceType: 'c7i.large', maxBatch: 4, replicas: 1 }),
    };
    const two = tunerBasis({ config, profileOf, visitFractions: { a: 1, b: 1 }, arrivalsMs: sample });
    const decision = tune(two, { replicas: { a: 10, b: 10 }, lastChangeMs: 0 }, sample, 60_000);
    const rate = decision.ratePerSecond ?? 0;
    expect(decision.reason).toBe('scale-down');
    expect(decision.state.replicas.a).toBe(replicasFor(rate, 1, 500, two.stages.a?.rho ?? 0));
    expect(decision.state.replicas.b).toBe(replicasFor(rate, 1, 125, two.stages.b?.rho ?? 0));
    expect(decision.state.replicas.b).toBeLessThan(replicasFor(rate, 1, 125, two.rhoP));
  });

  it('fails when an option is out of range, naming it', () => {
    expect(() => tune(basis, start(2, 0), sample, 60_000, { stabilisationMs: -1 })).toThrow(
      /stabilisationMs: stabilisationMs must be at least 0/,
    );
    expect(() =>
      tune(basis, start(2, 0), sample, 60_000, { scaleDownRho: 'median' as unknown as 'stage' }),
    ).toThrow(/scaleDownRho/);
  });
});

describe('one-replica stages against envelope rates', () => {
  // One replica at batch 4 (8 ms a batch, 500 queries/s) planned for a 100 qps trickle: ρ_m = 0.2.
  const one: PipelineConfig = { a: stage({ instanceType: 'g5.xlarge', maxBatch: 4, replicas: 1 }) };
  const atSlo = tunerBasis({
    config: one,
    profileOf,
    visitFractions: { a: 1 },
    arrivalsMs: sample,
    envelopeFloorMs: 150,
  });
  const base = gammaTrace({ ratePerSecond: 100, cv: 1, durationSeconds: 60 }, 5);

  it('bounds rho below by the utilisation at which one replica meets its share of the slo', () => {
    const a = atSlo.stages.a;
    // (SLO/n − T(B)) / W = (150 − 8) / 150 with one stage and the envelope starting at the SLO.
    expect(a?.burstRho).toBeCloseTo(142 / 150, 9);
    expect(a?.rho).toBeCloseTo(atSlo.planningRatePerSecond / 500, 9);
    expect(burstRhoOf(a ?? { visitFraction: 1, replicaThroughputQps: 1, plannedReplicas: 1, rho: 0.3 })).toBe(
      a?.burstRho,
    );
  });

  it('keeps one replica through a burst that replica absorbs, where the paper rule adds replicas', () => {
    const live = addSpike(base, { atSeconds: 50, durationSeconds: 10, ratePerSecond: 150, cv: 1 }, 6);
    const decision = tune(atSlo, start(1, 0), live, 60_000);
    expect(decision.state.replicas.a).toBe(1);
    const paper = tune(basis1(), start(1, 0), live, 60_000);
    expect(paper.reason).toBe('scale-up');
    expect(paper.state.replicas.a).toBeGreaterThan(1);
  });

  it('scales a one-replica stage up once its peak load needs a second replica', () => {
    const live = addSpike(base, { atSeconds: 50, durationSeconds: 10, ratePerSecond: 700, cv: 1 }, 6);
    const decision = tune(atSlo, start(1, 0), live, 60_000);
    expect(decision.reason).toBe('scale-up');
    const rate = decision.ratePerSecond ?? 0;
    expect(decision.state.replicas.a).toBe(replicasFor(rate, 1, 500, atSlo.stages.a?.burstRho ?? 0));
    expect(decision.state.replicas.a).toBeGreaterThanOrEqual(2);
  });

  it('returns a stage to one replica once its envelope no longer needs two', () => {
    // 120 qps for the last 30 s: above the 100 qps planning mean, so ⌈λ_new/λ⌉ alone would keep two.
    const live = gammaTrace({ ratePerSecond: 120, cv: 1, durationSeconds: 60 }, 9);
    const decision = tune(atSlo, start(2, 0), live, 60_000);
    expect(replicasFor(decision.ratePerSecond ?? 0, 1, 500, atSlo.stages.a?.rho ?? 0)).toBeGreaterThan(1);
    expect(decision.reason).toBe('scale-down');
    expect(decision.state.replicas.a).toBe(1);
  });

  it('gives a stage no allowance when its batch alone uses its share of the slo', () => {
    const heavy: PipelineConfig = {
      a: stage({ instanceType: 'c7i.large', maxBatch: 4, replicas: 1 }),
      b: stage({ instanceType: 'g5.xlarge', maxBatch: 4, replicas: 1 }),
    };
    // Two stages share a 60 ms SLO: 30 ms each; stage a's batch of 4 takes 32 ms.
    const two = tunerBasis({
      config: heavy,
      profileOf,
      visitFractions: { a: 1, b: 1 },
      arrivalsMs: sample,
      envelopeFloorMs: 60,
    });
    expect(two.stages.a?.burstRho).toBe(two.stages.a?.rho);
    expect(two.stages.b?.burstRho).toBeCloseTo((30 - 8) / 60, 9);
  });

  it('keeps the paper rule when no envelope floor is given', () => {
    expect(basis1().stages.a?.burstRho).toBe(basis1().stages.a?.rho);
  });

  it('never plans a replica full and gives no allowance past the budget', () => {
    expect(safeUtilisation(1000, 1, 10)).toBe(0.95);
    expect(safeUtilisation(50, 60, 150)).toBe(0);
    expect(safeUtilisation(50, 5, 150)).toBeCloseTo(0.3, 9);
  });

  function basis1() {
    return tunerBasis({ config: one, profileOf, visitFractions: { a: 1 }, arrivalsMs: sample });
  }
});

describe("the plan's certified slack", () => {
  // The plan was shown to hold the sample compressed to 1.5x its rate.
  const slack = { ...basis, slack: 1.5 };
  const base = gammaTrace({ ratePerSecond: 100, cv: 1, durationSeconds: 60 }, 5);

  it('scales the sample envelope by sigma, and leaves it alone without one', () => {
    const env = certifiedEnvelope(slack);
    env.ratesPerSecond.forEach((r, i) => {
      expect(r).toBeCloseTo(1.5 * (basis.sample.ratesPerSecond[i] as number), 9);
    });
    expect(certifiedEnvelope(basis)).toBe(basis.sample);
    expect(
      tunerBasis({ config: planned, profileOf, visitFractions: { a: 1 }, arrivalsMs: sample, slack: 1 }),
    ).not.toHaveProperty('slack');
  });

  it('keeps the counts for traffic above the sample but within what the plan was shown to hold', () => {
    // 120 q/s against a 100 q/s sample: above the bare sample somewhere, inside 1.5x of it everywhere.
    const live = gammaTrace({ ratePerSecond: 120, cv: 1, durationSeconds: 60 }, 9);
    expect(tune(basis, start(2, 0), live, 60_000).reason).toBe('scale-up');
    const decision = tune(slack, start(2, 0), live, 60_000);
    expect(decision.reason).toBe('steady');
    expect(decision.state.replicas.a).toBe(2);
  });

  it('scales up past it, by the live rate over the certified one', () => {
    const live = addSpike(base, { atSeconds: 50, durationSeconds: 10, ratePerSecond: 500, cv: 1 }, 6);
    const plain = tune(basis, start(2, 0), live, 60_000);
    const decision = tune(slack, start(2, 0), live, 60_000);
    expect(decision.reason).toBe('scale-up');
    const live60 = computeEnvelope(recentArrivals(live, 60_000, 60_000), basis.sample.windowsMs);
    const scaled = Math.max(
      ...live60.ratesPerSecond.map((r, i) =>
        Math.ceil((2 * r) / (1.5 * (basis.sample.ratesPerSecond[i] ?? 1)) - 1e-9),
      ),
    );
    expect(decision.state.replicas.a).toBe(scaled);
    expect(decision.state.replicas.a).toBeGreaterThan(2);
    expect(decision.state.replicas.a).toBeLessThan(plain.state.replicas.a ?? 0);
  });

  it('scales down to the plan once the recent rate is within what the plan holds', () => {
    // The last 30 s run at 130 q/s: a 5 s bucket beats the 100 q/s planning mean, not 1.5x of it.
    const live = gammaTrace({ ratePerSecond: 130, cv: 1, durationSeconds: 60 }, 10);
    const plain = tune(basis, start(6, 0), live, 60_000);
    const decision = tune(slack, start(6, 0), live, 60_000);
    expect(decision.reason).toBe('scale-down');
    expect(decision.state.replicas.a).toBe(2);
    expect(plain.state.replicas.a).toBeGreaterThan(2);
  });
});
