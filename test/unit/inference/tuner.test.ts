import { describe, expect, it } from 'vitest';
import type { PipelineConfig } from '../../../lib/core/inference/simulator.ts';
import { addSpike, gammaTrace } from '../../../lib/core/inference/traces.ts';
import { replicasFor, type TunerState, tune, tunerBasis } from '../../../lib/core/inference/tuner.ts';
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
    expect(atSlo.stages).toEqual(basis.stages);
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
    expect(decision.state.replicas.a).toBe(replicasFor(rate, 1, 500, basis.stages.a?.rho ?? 0));
    expect(decision.state.replicas.a).toBeGreaterThan(2);
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
