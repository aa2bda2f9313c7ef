import { describe, expect, it } from 'vitest';
import {
  fixedController,
  inferlineController,
  type PolicyController,
  runClosedLoop,
  withInterruption,
} from '../../../lib/core/inference/closed-loop.ts';
import { computeEnvelope, envelopeWindows } from '../../../lib/core/inference/envelope.ts';
import { type PipelineConfig, simulate } from '../../../lib/core/inference/simulator.ts';
import { gammaTrace, stepTrace } from '../../../lib/core/inference/traces.ts';
import { tunerBasis } from '../../../lib/core/inference/tuner.ts';
import { at, evenly, profile, stage } from './builders.ts';

const chain = {
  stages: [{ id: 'a' }, { id: 'b' }, { id: 'c' }],
  edges: [
    { from: 'a', to: 'b', probability: 0.4 },
    { from: 'a', to: 'c' },
    { from: 'b', to: 'c' },
  ],
};
const linear = (base: number, per: number) => profile('c7i.large', (b) => base + per * b);
const profiles = { a: linear(2, 1), b: linear(5, 2), c: linear(1, 0.5) };
const profileOf = (id: string) => profiles[id as keyof typeof profiles];
const config: PipelineConfig = {
  a: stage({ maxBatch: 4, replicas: 2 }),
  b: stage({ maxBatch: 8, replicas: 1, maxQueueDelayMs: 3 }),
  c: stage({ maxBatch: 2, replicas: 2 }),
};
const single = { stages: [{ id: 'a' }], edges: [] };
const flat = (ms: number) => profile('c7i.large', () => ms);

/** A one-stage plan of one replica (4 ms a query), with a tuner basis of its 100 q/s sample. */
function onePlannedReplica() {
  const sample = gammaTrace({ ratePerSecond: 100, cv: 1, durationSeconds: 60 }, 3);
  const planned: PipelineConfig = { a: stage({ replicas: 1 }) };
  const p = profile('c7i.large', (b) => 4 * b);
  const basis = tunerBasis({
    config: planned,
    profileOf: () => p,
    visitFractions: { a: 1 },
    arrivalsMs: sample,
  });
  return { planned, p, basis };
}

/** 20 s at 100 q/s, then 20 s at `rate`. */
const stepTo = (rate: number, seed: number) =>
  stepTrace(
    [
      { ratePerSecond: 100, cv: 1, durationSeconds: 20 },
      { ratePerSecond: rate, cv: 1, durationSeconds: 20 },
    ],
    seed,
  );

/** A controller that applies a fixed list of changes at given ticks. */
function scripted(
  tickMs: number,
  script: Record<number, { delta: number; delay?: number }>,
): PolicyController {
  return {
    tickMs,
    tick: (now) => {
      const step = script[now];
      return step ? [{ stage: 'a', delta: step.delta, activationDelayMs: step.delay ?? 0 }] : [];
    },
  };
}

describe('closed-loop simulation', () => {
  it('equals the plain estimator when the schedule is constant', () => {
    const arrivalsMs = gammaTrace({ ratePerSecond: 300, cv: 4, durationSeconds: 20 }, 5);
    const input = { pipeline: chain, config, profileOf, arrivalsMs, sloMs: 100, seed: 9 };
    const plain = simulate(input);
    const looped = runClosedLoop({ ...input, controller: fixedController(250) });
    expect(looped.latenciesMs).toEqual(plain.latenciesMs);
    expect(looped.late).toBe(plain.late);
    expect(looped.timeline).toHaveLength(1);
  });

  it('serves on an added replica only after its activation delay', () => {
    // One replica, 10 ms per query, four queries at 0; at t=1 a second replica is asked for with 15 ms delay.
    const result = runClosedLoop({
      pipeline: single,
      config: { a: stage() },
      profileOf: () => flat(10),
      arrivalsMs: at(0, 0, 0, 0, 1),
      sloMs: 1000,
      controller: scripted(1, { 1: { delta: 1, delay: 15 } }),
    });
    // The first replica serves 0-10 and 10-20; the new one starts at 16 and takes the third query.
    expect([...result.latenciesMs]).toEqual([10, 20, 26, 30, 35]);
    expect(result.timeline.map((p) => [p.atMs, p.provisioned.a, p.active.a])).toEqual([
      [0, 1, 1],
      [1, 2, 1],
      [16, 2, 2],
    ]);
  });

  it('lets a removed replica finish its batch before it leaves', () => {
    const result = runClosedLoop({
      pipeline: single,
      config: { a: stage({ replicas: 2 }) },
      profileOf: () => flat(10),
      arrivalsMs: at(0, 0, 0, 0, 5),
      sloMs: 1000,
      controller: scripted(5, { 5: { delta: -1 } }),
    });
    // Both replicas are busy at 5: one retires at 10 and the remaining one serves the rest.
    expect([...result.latenciesMs]).toEqual([10, 10, 20, 30, 35]);
    expect(result.timeline.at(-1)?.provisioned.a).toBe(1);
  });

  it('never removes the last replica of a stage', () => {
    const result = runClosedLoop({
      pipeline: single,
      config: { a: stage() },
      profileOf: () => flat(1),
      arrivalsMs: evenly(20, 5),
      sloMs: 1000,
      controller: scripted(10, { 10: { delta: -3 } }),
    });
    expect(result.late).toBe(0);
    expect(result.timeline.every((p) => (p.provisioned.a ?? 0) >= 1)).toBe(true);
  });

  it('loses serving replicas, not activating ones, when replicas go with their instance', () => {
    // Two serving replicas; at t=1 a third is asked for (20 ms boot) and one serving replica is lost.
    const lossAt1: PolicyController = {
      tickMs: 1,
      tick: (now) =>
        now === 1
          ? [
              { stage: 'a', delta: 1, activationDelayMs: 20 },
              { stage: 'a', delta: -1, lose: true },
            ]
          : [],
    };
    const result = runClosedLoop({
      pipeline: single,
      config: { a: stage({ replicas: 2 }) },
      profileOf: () => flat(10),
      arrivalsMs: at(2, 2, 2, 40),
      sloMs: 1000,
      controller: lossAt1,
    });
    // The one serving replica takes two of the queries at 2 (done at 12 and 22); the new one serves from
    // 21, takes the third (done at 31) and then the query at 40. A plain removal would have cancelled the
    // activating replica and kept both serving ones: [10, 10, 20, 10].
    expect([...result.latenciesMs]).toEqual([10, 20, 29, 10]);
    expect(result.timeline.map((p) => [p.atMs, p.provisioned.a, p.active.a])).toEqual([
      [0, 2, 2],
      [1, 2, 1],
      [21, 2, 2],
    ]);
    expect(() =>
      runClosedLoop({
        pipeline: single,
        config: { a: stage() },
        profileOf: () => flat(10),
        arrivalsMs: at(0, 5),
        sloMs: 1000,
        controller: { tickMs: 1, tick: () => [{ stage: 'a', delta: 1, lose: true }] },
      }),
    ).toThrow(/lose only with a removal/);
  });

  /** Three replicas, two of them interrupted at `noticeAtMs`: the replica timeline [at, provisioned, active]. */
  const interrupted = (noticeAtMs: number, serveForMs: number) =>
    runClosedLoop({
      pipeline: single,
      config: { a: stage({ replicas: 3 }) },
      profileOf: () => flat(1),
      arrivalsMs: evenly(10, 300),
      sloMs: 1000,
      controller: withInterruption(fixedController(10), {
        noticeAtMs,
        lost: { a: 2 },
        bootMs: () => 100,
        serveForMs,
      }),
    }).timeline.map((p) => [p.atMs, p.provisioned.a, p.active.a]);

  it('interrupts once: replacements boot from the notice, the lost replicas serve on through the grace', () => {
    const run = (serveForMs: number) => interrupted(25, serveForMs);
    // The first tick at or after the notice is 30: replacements are asked for then and serve one boot after
    // the notice, from 125. Lost at the notice: one replica serves until the replacements do.
    expect(run(0)).toEqual([
      [0, 3, 3],
      [30, 3, 1],
      [125, 3, 3],
    ]);
    // Serving on for 60 ms, less than a boot: five paid for while both run, and the gap shrinks to 90-125.
    expect(run(60)).toEqual([
      [0, 3, 3],
      [30, 5, 3],
      [90, 3, 1],
      [125, 3, 3],
    ]);
    // Serving on past the replacements' boot: no gap at all.
    expect(run(150)).toEqual([
      [0, 3, 3],
      [30, 5, 3],
      [125, 5, 5],
      [180, 3, 3],
    ]);
  });

  it('boots the replacements from a notice that precedes the run (an early rebalance recommendation)', () => {
    const timeline = interrupted(-60, 150);
    // Asked for at the first tick (10), serving from 40 (one boot after the notice); the lost ones go at 90.
    expect(timeline).toEqual([
      [0, 3, 3],
      [10, 5, 3],
      [40, 5, 5],
      [90, 3, 3],
    ]);
  });

  it('integrates cost over the replica timeline', () => {
    // One c7i.large for 10 s, then two for 10 s: 1.5 replicas on average.
    const result = runClosedLoop({
      pipeline: single,
      config: { a: stage() },
      profileOf: () => flat(1),
      arrivalsMs: evenly(21, 1000),
      sloMs: 1000,
      controller: scripted(10_000, { 10000: { delta: 1 } }),
      costOf: (c) => (c.a?.replicas ?? 0) * 0.1,
    });
    expect(result.costPerHour).toBeCloseTo(0.15, 9);
    expect(result.replicaSeconds.a).toBeCloseTo(30, 9);
  });

  it('keeps the headroom the run starts with, and adds tuner replicas after their boot', () => {
    const { planned, p, basis } = onePlannedReplica();
    const live = stepTo(400, 4);
    const controller = inferlineController({ basis, config: planned, bootMs: () => 5_000 });
    // The plan's one replica plus two of headroom serve from the start.
    const result = runClosedLoop({
      pipeline: single,
      config: { a: stage({ replicas: 3 }) },
      profileOf: () => p,
      arrivalsMs: live,
      sloMs: 200,
      controller,
      costOf: (c) => Object.values(c).reduce((n, x) => n + x.replicas, 0),
    });
    const firstUp = result.timeline.find((pt) => (pt.provisioned.a ?? 0) > 3);
    expect(firstUp).toBeDefined();
    const firstActive = result.timeline.find((pt) => (pt.active.a ?? 0) > 3);
    // A replica the tuner adds serves one boot after it asks; the headroom never leaves.
    expect((firstActive?.atMs ?? 0) - (firstUp?.atMs ?? 0)).toBe(5000);
    expect(result.timeline.every((pt) => (pt.provisioned.a ?? 0) >= 3)).toBe(true);
    // Paid for: three replicas throughout and more after the step.
    expect(result.costPerHour).toBeGreaterThan(3);
    expect(result.replicaSeconds.a).toBeGreaterThan(3 * 39);
  });

  it('serves a scale-up from the warm headroom first, launching only past it (absorb), unlike on-top', () => {
    const { planned, p, basis } = onePlannedReplica();
    const run = (live: Float64Array, headroomRule: 'absorb' | 'on-top') =>
      runClosedLoop({
        pipeline: single,
        // The plan's one replica and two of headroom serve from the start.
        config: { a: stage({ replicas: 3 }) },
        profileOf: () => p,
        arrivalsMs: live,
        sloMs: 200,
        controller: inferlineController({
          basis,
          config: planned,
          bootMs: () => 5_000,
          headroom: { a: 2 },
          headroomRule,
        }),
        costOf: (c) => Object.values(c).reduce((n, x) => n + x.replicas, 0),
      });
    const most = (r: ReturnType<typeof run>) => Math.max(...r.timeline.map((pt) => pt.provisioned.a ?? 0));
    const least = (r: ReturnType<typeof run>) => Math.min(...r.timeline.map((pt) => pt.provisioned.a ?? 0));
    // A step to 2x: the tuner wants more than the plan, and the warm replicas hold it.
    const double = stepTo(200, 4);
    const onTop = run(double, 'on-top');
    const absorbed = run(double, 'absorb');
    expect(most(onTop)).toBeGreaterThan(3);
    expect(most(absorbed)).toBe(3);
    expect(least(absorbed)).toBe(3);
    expect(absorbed.late).toBeLessThanOrEqual(onTop.late);
    expect(absorbed.costPerHour).toBeLessThan(onTop.costPerHour);
    // A step to 6x: past the headroom, absorb launches too, for what the target exceeds plan + headroom.
    const sixfold = stepTo(600, 5);
    const past = run(sixfold, 'absorb');
    const pastOnTop = run(sixfold, 'on-top');
    expect(most(past)).toBeGreaterThan(3);
    expect(most(pastOnTop) - most(past)).toBe(2);
  });

  it('scales each stage back to its own plan with per-stage ρ, where the pipeline-wide ρ_p holds it up', () => {
    const two = { stages: [{ id: 'a' }, { id: 'b' }], edges: [{ from: 'a', to: 'b' }] };
    const heavy = profile('c7i.large', (b) => 10 * b);
    const light = profile('c7i.large', (b) => b);
    const profileOf2 = (id: string) => (id === 'a' ? heavy : light);
    const planned: PipelineConfig = { a: stage({ replicas: 4 }), b: stage({ replicas: 1 }) };
    const sample = gammaTrace({ ratePerSecond: 200, cv: 1, durationSeconds: 60 }, 8);
    const planned0 = tunerBasis({
      config: planned,
      profileOf: profileOf2,
      visitFractions: { a: 1, b: 1 },
      arrivalsMs: sample,
    });
    // Envelope windows from the SLO up, as the benchmark runs the tuner.
    const basis = { ...planned0, sample: computeEnvelope(sample, envelopeWindows(500)) };
    // ρ_a = 0.5 and ρ_b = 0.2: with ρ_p = 0.2 stage a would keep 2.5x its plan after any scale-up.
    const live = stepTrace(
      [
        { ratePerSecond: 200, cv: 1, durationSeconds: 20 },
        { ratePerSecond: 400, cv: 1, durationSeconds: 10 },
        { ratePerSecond: 200, cv: 1, durationSeconds: 150 },
      ],
      9,
    );
    const finalA = (scaleDownRho: 'pipeline' | 'stage') => {
      const controller = inferlineController({
        basis,
        config: planned,
        bootMs: () => 1000,
        scaleDownRho,
      });
      const r = runClosedLoop({
        pipeline: two,
        config: planned,
        profileOf: profileOf2,
        arrivalsMs: live,
        sloMs: 500,
        controller,
      });
      return {
        peak: Math.max(...r.timeline.map((p) => p.provisioned.a ?? 0)),
        last: r.timeline.at(-1)?.provisioned.a ?? 0,
      };
    };
    const perStage = finalA('stage');
    const pipelineWide = finalA('pipeline');
    expect(perStage.peak).toBeGreaterThan(4);
    expect(pipelineWide.peak).toBeGreaterThan(4);
    expect(perStage.last).toBeLessThan(pipelineWide.last);
    expect(perStage.last).toBeLessThanOrEqual(6);
  });
});
