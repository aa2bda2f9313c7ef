import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../lib/core/errors.ts';
import {
  allowedLate,
  type PipelineConfig,
  percentile,
  type SimulationInput,
  simulate,
} from '../../../lib/core/inference/simulator.ts';
import { gammaTrace } from '../../../lib/core/inference/traces.ts';
import { at, evenly, profile, stage } from './builders.ts';

const single = { stages: [{ id: 'a' }], edges: [] };

/** One stage whose batches all take `ms`, whatever their size (up to 32). */
function flat(ms: number) {
  return profile('c7i.large', () => ms);
}

function run(overrides: Partial<SimulationInput> & Pick<SimulationInput, 'arrivalsMs'>) {
  return simulate({
    pipeline: single,
    config: { a: stage() },
    profileOf: () => flat(5),
    sloMs: 1000,
    ...overrides,
  });
}

const mean = (xs: Float64Array) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('estimator against closed forms', () => {
  it.each([
    [120, 11],
    [160, 12],
  ])('matches the M/D/1 mean wait at %s queries/s on a long Poisson trace', (rate, seed) => {
    // D = 5 ms, μ = 200/s, ρ = λD; mean wait ρ / (2μ(1-ρ)) ms: 3.75 ms at ρ = 0.6, 10 ms at ρ = 0.8.
    const rho = rate * 0.005;
    const expectedWait = (rho / (2 * 200 * (1 - rho))) * 1000;
    const result = run({
      arrivalsMs: gammaTrace({ ratePerSecond: rate, cv: 1, durationSeconds: 2000 }, seed),
    });
    const wait = mean(result.latenciesMs) - 5;
    expect(result.complete).toBe(true);
    expect(Math.abs(wait - expectedWait) / expectedWait).toBeLessThan(0.03);
  });

  it('matches the M/G/1 mean wait (Pollaczek-Khinchine) when batch times are drawn from a spread', () => {
    // S uniform on [2.5, 7.5] ms (spread [0.5, 1.5] of 5 ms): E[S] = 5, E[S^2] = 25 + 25/12 ms^2.
    // W = λ E[S^2] / (2(1 - ρ)) = 10.83 ms at 160/s (ρ = 0.8), against 10 ms for fixed 5 ms batches.
    const varied = flat(5);
    const spread = { ...varied, points: varied.points.map((pt) => ({ ...pt, spread: [0.5, 1.5] })) };
    const lambda = 0.16;
    const expectedWait = (lambda * (25 + 25 / 12)) / (2 * (1 - 0.8));
    const result = run({
      arrivalsMs: gammaTrace({ ratePerSecond: 160, cv: 1, durationSeconds: 2000 }, 12),
      profileOf: () => spread,
    });
    const served = result.latenciesMs;
    expect(result.complete).toBe(true);
    expect(Math.abs(mean(served) - 5 - expectedWait) / expectedWait).toBeLessThan(0.03);
    // Every batch time lies in the spread's range, and both ends of it are drawn.
    const alone = run({ arrivalsMs: evenly(2000, 10), profileOf: () => spread }).latenciesMs;
    expect(Math.min(...alone)).toBeGreaterThanOrEqual(2.5);
    expect(Math.min(...alone)).toBeLessThan(2.6);
    expect(Math.max(...alone)).toBeLessThanOrEqual(7.5);
    expect(Math.max(...alone)).toBeGreaterThan(7.4);
  });

  it('matches D/D/1: no waiting when arrivals are spaced wider than service', () => {
    const result = run({ arrivalsMs: evenly(100, 10), profileOf: () => flat(4) });
    expect([...new Set(result.latenciesMs)]).toEqual([4]);
  });

  it('matches D/D/1 at exactly full load: back to back, still no waiting', () => {
    const result = run({ arrivalsMs: evenly(100, 4), profileOf: () => flat(4) });
    expect([...new Set(result.latenciesMs)]).toEqual([4]);
  });

  it('queues simultaneous arrivals one after another on one replica', () => {
    const result = run({ arrivalsMs: at(0, 0, 0), profileOf: () => flat(4) });
    expect([...result.latenciesMs]).toEqual([4, 8, 12]);
  });

  it('serves simultaneous arrivals in parallel on as many replicas', () => {
    const result = run({
      arrivalsMs: at(0, 0, 0),
      config: { a: stage({ replicas: 3 }) },
      profileOf: () => flat(4),
    });
    expect([...result.latenciesMs]).toEqual([4, 4, 4]);
  });
});

describe('batching', () => {
  it('pulls whatever is queued up to maxBatch when a replica frees, without waiting to fill', () => {
    const result = run({
      arrivalsMs: at(0, 1, 2, 3),
      config: { a: stage({ maxBatch: 4 }) },
      profileOf: () => flat(10),
    });
    // q0 runs alone at 0; q1..q3 queue and run together at 10.
    expect([...result.latenciesMs]).toEqual([10, 19, 18, 17]);
    expect(result.stages.a).toEqual({ visits: 4, batches: 2, meanBatch: 2 });
  });

  it('charges a batch the service time of the next profiled size up', () => {
    const p = profile('c7i.large', (b) => (b === 1 ? 5 : 8), [1, 4]);
    const result = run({
      arrivalsMs: at(0, 0, 0, 0),
      config: { a: stage({ maxBatch: 4 }) },
      profileOf: () => p,
    });
    // q0 alone (5 ms), then q1..q3 as a batch of 3 that costs the batch-4 time.
    expect([...result.latenciesMs]).toEqual([5, 13, 13, 13]);
  });

  it('caps a batch at maxBatch', () => {
    const result = run({
      arrivalsMs: at(0, 0, 0, 0, 0),
      config: { a: stage({ maxBatch: 2 }) },
      profileOf: () => flat(10),
    });
    expect([...result.latenciesMs]).toEqual([10, 20, 20, 30, 30]);
  });
});

describe('given batch times', () => {
  it('takes a batch time from batchTimeMs by stage, size and start, and the profile where it gives none', () => {
    const asked: [string, number, number][] = [];
    const result = run({
      arrivalsMs: at(0, 1, 2, 3, 50),
      config: { a: stage({ maxBatch: 4 }) },
      profileOf: () => flat(10),
      batchTimeMs: (stage, size, atMs) => {
        asked.push([stage, size, atMs]);
        // Slow while the first burst is queued, the profile's 10 ms afterwards.
        return atMs < 40 ? 30 : undefined;
      },
    });
    // q0 alone 0..30; q1..q3 together 30..60; q4 (at 50) waits for them and runs 60..70 at the profile's time.
    expect(asked).toEqual([
      ['a', 1, 0],
      ['a', 3, 30],
      ['a', 1, 60],
    ]);
    expect([...result.latenciesMs]).toEqual([30, 59, 58, 57, 20]);
  });

  it('fails on a given batch time that is negative or not finite, naming the batch', () => {
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY])
      expect(() => run({ arrivalsMs: at(0), batchTimeMs: () => bad })).toThrow(
        /batchTimeMs\(a, 1, 0\): must be a finite time >= 0/,
      );
  });
});

describe('queue delay', () => {
  it('holds a partial batch until its head has waited maxQueueDelayMs', () => {
    const result = run({
      arrivalsMs: at(0, 1),
      config: { a: stage({ maxBatch: 4, maxQueueDelayMs: 5 }) },
      profileOf: () => flat(10),
    });
    expect([...result.latenciesMs]).toEqual([15, 14]);
    expect(result.stages.a?.batches).toBe(1);
  });

  it('starts at once when maxBatch queries are waiting', () => {
    const result = run({
      arrivalsMs: at(0, 1, 2, 3),
      config: { a: stage({ maxBatch: 4, maxQueueDelayMs: 50 }) },
      profileOf: () => flat(10),
    });
    expect([...result.latenciesMs]).toEqual([13, 12, 11, 10]);
  });

  it('runs a lone query after the delay', () => {
    const result = run({
      arrivalsMs: at(100),
      config: { a: stage({ maxBatch: 8, maxQueueDelayMs: 7 }) },
      profileOf: () => flat(3),
    });
    expect([...result.latenciesMs]).toEqual([10]);
  });
});

describe('earliest-deadline-first queues', () => {
  it('serves the query with the earliest pipeline arrival first, even if it reached the stage last', () => {
    const pipeline = {
      stages: [{ id: 'slow' }, { id: 'fast' }, { id: 'sink' }],
      edges: [
        { from: 'slow', to: 'sink' },
        { from: 'fast', to: 'sink' },
      ],
    };
    const profiles: Record<string, number> = { slow: 10, fast: 1, sink: 5 };
    const result = simulate({
      pipeline,
      config: { slow: stage(), fast: stage(), sink: stage() },
      profileOf: (id) => flat(profiles[id] as number),
      arrivalsMs: at(0, 1, 2, 3),
      sloMs: 1000,
      paths: [
        ['slow', 'sink'],
        ['fast', 'sink'],
        ['fast', 'sink'],
        ['fast', 'sink'],
      ],
    });
    // At t=12 the sink holds q3 (there since 4) and q0 (there since 10); EDF runs q0 first.
    expect([...result.latenciesMs]).toEqual([17, 6, 10, 19]);
  });
});

describe('pipeline routing', () => {
  const diamond = {
    stages: [{ id: 'a' }, { id: 'b' }, { id: 'c' }, { id: 'd' }],
    edges: [
      { from: 'a', to: 'b' },
      { from: 'a', to: 'c' },
      { from: 'b', to: 'd' },
      { from: 'c', to: 'd' },
    ],
  };
  const times: Record<string, number> = { a: 1, b: 3, c: 7, d: 2 };
  const config: PipelineConfig = { a: stage(), b: stage(), c: stage(), d: stage() };

  it('joins parallel branches: the join runs once, after its slowest branch', () => {
    const result = simulate({
      pipeline: diamond,
      config,
      profileOf: (id) => flat(times[id] as number),
      arrivalsMs: evenly(10, 100),
      sloMs: 1000,
    });
    expect([...new Set(result.latenciesMs)]).toEqual([10]);
    expect(result.stages.d?.visits).toBe(10);
  });

  it('sends queries down a conditional edge with its probability', () => {
    const pipeline = {
      stages: [{ id: 'a' }, { id: 'b' }, { id: 'c' }],
      edges: [
        { from: 'a', to: 'b', probability: 0.3 },
        { from: 'a', to: 'c', probability: 1 },
      ],
    };
    const n = 50_000;
    const result = simulate({
      pipeline,
      config: { a: stage({ replicas: 4 }), b: stage({ replicas: 4 }), c: stage({ replicas: 4 }) },
      profileOf: () => flat(1),
      arrivalsMs: evenly(n, 1),
      sloMs: 1000,
      seed: 9,
    });
    expect((result.stages.b?.visits ?? 0) / n).toBeGreaterThan(0.29);
    expect((result.stages.b?.visits ?? 0) / n).toBeLessThan(0.31);
    expect(result.stages.c?.visits).toBe(n);
  });

  it('replays recorded paths instead of drawing', () => {
    const result = simulate({
      pipeline: diamond,
      config,
      profileOf: (id) => flat(times[id] as number),
      arrivalsMs: evenly(4, 100),
      sloMs: 1000,
      paths: [
        ['a', 'b', 'd'],
        ['a', 'c', 'd'],
      ],
    });
    expect([...result.latenciesMs]).toEqual([6, 10, 6, 10]);
    expect(result.stages.b?.visits).toBe(2);
  });

  it('is deterministic for a seed', () => {
    const input = {
      pipeline: diamond,
      config,
      profileOf: (id: string) => flat(times[id] as number),
      arrivalsMs: gammaTrace({ ratePerSecond: 100, cv: 4, durationSeconds: 60 }, 2),
      sloMs: 1000,
      seed: 3,
    };
    expect(simulate(input).latenciesMs).toEqual(simulate(input).latenciesMs);
  });

  it('draws batch times from a spread deterministically for a seed, apart from the routing draws', () => {
    const varied = flat(5);
    const spread = {
      ...varied,
      points: varied.points.map((pt) => ({ ...pt, spread: [0.8, 1, 1.1, 3] })),
    };
    const input = {
      arrivalsMs: gammaTrace({ ratePerSecond: 100, cv: 4, durationSeconds: 30 }, 2),
      profileOf: () => spread,
      seed: 3,
    };
    expect(run(input).latenciesMs).toEqual(run(input).latenciesMs);
    expect(run({ ...input, seed: 4 }).latenciesMs).not.toEqual(run(input).latenciesMs);
  });

  it('fails when a recorded path visits a stage nothing visited feeds', () => {
    expect(() =>
      simulate({
        pipeline: diamond,
        config,
        profileOf: () => flat(1),
        arrivalsMs: at(0),
        sloMs: 10,
        paths: [['a', 'd']],
      }),
    ).toThrow(/stage d is visited but no visited stage feeds it/);
  });
});

describe('early stop and percentiles', () => {
  it('stops once more queries are late than the limit allows', () => {
    // 1 replica at 5 ms per query cannot keep up with 1 query per ms.
    const result = run({ arrivalsMs: evenly(10_000, 1), sloMs: 50, lateLimit: 100 });
    expect(result.complete).toBe(false);
    expect(result.late).toBe(101);
    expect(percentile(result.latenciesMs, 99)).toBe(Number.POSITIVE_INFINITY);
  });

  it('computes the nearest-rank percentile and the late allowance that matches it', () => {
    const values = Float64Array.from({ length: 200 }, (_, i) => i + 1);
    expect(percentile(values, 99)).toBe(198);
    expect(percentile(values, 50)).toBe(100);
    expect(allowedLate(200)).toBe(2);
    expect(allowedLate(150)).toBe(1);
  });
});

describe('input checks', () => {
  it('fails when arrivals are out of order, naming the index', () => {
    expect(() => run({ arrivalsMs: at(0, 5, 3) })).toThrow(
      /arrivalsMs\.2: arrivals must be finite and sorted, got 3 after 5/,
    );
  });

  it('fails when a stage has no configuration', () => {
    expect(() => run({ arrivalsMs: at(0), config: {} })).toThrow(/no configuration for stage a/);
  });

  it('fails when maxBatch exceeds the profile', () => {
    const p = profile('c7i.large', () => 1, [1, 2]);
    expect(() =>
      run({ arrivalsMs: at(0), config: { a: stage({ maxBatch: 4 }) }, profileOf: () => p }),
    ).toThrow(ValidationError);
  });

  it('fails when replicas is below 1, naming the field', () => {
    expect(() => run({ arrivalsMs: at(0), config: { a: stage({ replicas: 0 }) } })).toThrow(
      /replicas: replicas must be at least 1/,
    );
  });

  it('fails when the edges form a cycle', () => {
    const pipeline = {
      stages: [{ id: 'a' }, { id: 'b' }],
      edges: [
        { from: 'a', to: 'b' },
        { from: 'b', to: 'a' },
      ],
    };
    expect(() =>
      simulate({
        pipeline,
        config: { a: stage(), b: stage() },
        profileOf: () => flat(1),
        arrivalsMs: at(0),
        sloMs: 1,
      }),
    ).toThrow(/edges form a cycle/);
  });
});
