import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { EdfQueue } from '../../../../agent/router/edf-queue.ts';
import { QueryFailedError, ShedError } from '../../../../agent/router/errors.ts';
import { PipelineRouter, type QueryResult } from '../../../../agent/router/pipeline-router.ts';
import type { BatchObserver } from '../../../../agent/router/pipeline-router-options.ts';
import { RouterStats } from '../../../../agent/router/stats.ts';
import { compileTopology, drawnRouter } from '../../../../lib/core/inference/topology.ts';
import { createRng } from '../../../../lib/core/inference/traces.ts';
import { waitFor } from '../fakes.ts';
import { endpoint, HeldSender, query, type RecordOptions, servingRecord } from './helpers.ts';

function router(
  held: HeldSender,
  record: RecordOptions,
  endpoints: ReturnType<typeof endpoint>[],
  options: { queueBound?: number; seed?: number; cooldownMs?: number; onBatch?: BatchObserver } = {},
): PipelineRouter {
  const r = new PipelineRouter({
    pipelineId: 'pipe',
    send: held.send,
    now: () => performance.now(),
    seed: options.seed ?? 1,
    ...(options.queueBound !== undefined ? { queueBound: options.queueBound } : {}),
    dropExpired: true,
    batchTimeoutMs: 10_000,
    replicaCooldownMs: options.cooldownMs ?? 60_000,
    retryAfterSeconds: 1,
    ...(options.onBatch ? { onBatch: options.onBatch } : {}),
    log: () => {},
  });
  r.apply({ record: servingRecord(record), endpoints });
  return r;
}

describe('EdfQueue', () => {
  it('pops the earliest deadline first and breaks ties by arrival', () => {
    const q = new EdfQueue<string>();
    q.push('late', 30, 0);
    q.push('early', 10, 1);
    q.push('middle-a', 20, 2);
    q.push('middle-b', 20, 3);
    expect(q.headSince()).toBe(1);
    expect([q.pop(), q.pop(), q.pop(), q.pop(), q.pop()]).toEqual([
      'early',
      'middle-a',
      'middle-b',
      'late',
      undefined,
    ]);
  });
});

describe('RouterStats batch round trips', () => {
  it('gives the quantiles of one stage and batch size, from the fastest to the slowest', () => {
    const stats = new RouterStats();
    for (let ms = 1; ms <= 100; ms++) stats.batchTime('a', 2, ms);
    stats.batchTime('a', 1, 50);
    const q = stats.batchQuantiles('a', 2, 5) as number[];
    expect(q).toHaveLength(5);
    const close = (got: number, want: number) =>
      expect(Math.abs(got - want)).toBeLessThanOrEqual(want * 0.01);
    [1, 25, 50, 75, 100].forEach((want, i) => {
      close(q[i] as number, want);
    });
    expect(stats.batchQuantiles('a', 1, 3)?.map(Math.round)).toEqual([50, 50, 50]);
    expect(stats.batchQuantiles('a', 4)).toBeUndefined();
    expect(stats.batchQuantiles('b', 2)).toBeUndefined();
    expect(stats.batchTimings().a?.[2]).toMatchObject({ count: 100, meanMs: 50.5 });
  });
});

describe('PipelineRouter', () => {
  it('serves a downstream stage in deadline order, not in the order queries reached it', async () => {
    const held = new HeldSender();
    const r = router(
      held,
      { stages: [{ id: 'a', replicas: 2 }, { id: 'b' }], edges: [{ from: 'a', to: 'b' }] },
      [endpoint('a', 'http://a1', 1), endpoint('a', 'http://a2', 2), endpoint('b', 'http://b1', 1)],
    );
    const answers = [0, 1, 2].map((tag) => r.submit(query(tag)));
    // q0 and q1 run at a; q2 waits for an a replica.
    expect(held.sent.map((b) => [b.url, b.tags])).toEqual([
      ['http://a1', [0]],
      ['http://a2', [1]],
    ]);
    held.sent[0]?.release(); // q0 reaches b and runs there at once
    held.sent[1]?.release(); // q1 reaches b, which is busy; a takes q2
    await waitFor(() => held.sent.length === 4, 'q2 dispatched at a and q0 at b');
    held.sent.find((b) => b.url === 'http://a1' && b.tags[0] === 2)?.release(); // q2 reaches b after q1
    await waitFor(() => held.pending().length === 1, 'q2 back from a');
    held.sent.find((b) => b.url === 'http://b1' && b.tags[0] === 1)?.release(); // q0 done at b
    const b1 = () => held.sent.filter((b) => b.url === 'http://b1');
    await waitFor(() => b1().length === 2, 'next batch at b');
    expect(b1()[1]?.tags).toEqual([2]); // q1 + 1 from a: the earliest deadline went first
    held.autoRelease = true;
    for (const b of held.pending()) b.release();
    await Promise.all(answers);
  });

  it('never sends more than maxBatch queries in one batch and only to free replicas', async () => {
    const held = new HeldSender();
    const r = router(held, { stages: [{ id: 'a', maxBatch: 3, replicas: 2 }] }, [
      endpoint('a', 'http://a1', 1),
      endpoint('a', 'http://a2', 2),
    ]);
    const answers = Array.from({ length: 11 }, (_, i) => r.submit(query(i)));
    expect(held.sent).toHaveLength(2);
    held.autoRelease = true;
    for (const b of held.pending()) b.release();
    const results = await Promise.all(answers);
    expect(results.map((x) => x.output.data[0])).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
    expect(Math.max(...held.sent.map((b) => b.tags.length))).toBeLessThanOrEqual(3);
    expect(held.sent.some((b) => b.tags.length === 3)).toBe(true);
    expect(held.maxInFlightPerUrl).toBe(1);
    expect(held.sent.flatMap((b) => b.tags).sort((x, y) => x - y)).toEqual(
      Array.from({ length: 11 }, (_, i) => i),
    );
  });

  it('tells an observer of every answered batch: stage, size, when it was sent and its round trip', async () => {
    const held = new HeldSender();
    const seen: [string, number, number, number][] = [];
    const before = performance.now();
    const r = router(held, { stages: [{ id: 'a', maxBatch: 2 }] }, [endpoint('a', 'http://a1', 1)], {
      onBatch: (stage, size, sentAtMs, ms) => seen.push([stage, size, sentAtMs, ms]),
    });
    const answers = [0, 1, 2].map((tag) => r.submit(query(tag)));
    expect(seen).toEqual([]); // sent, not answered
    held.autoRelease = true;
    for (const b of held.pending()) b.release();
    await Promise.all(answers);
    const after = performance.now();
    expect(seen.map(([stage, size]) => [stage, size])).toEqual([
      ['a', 1],
      ['a', 2],
    ]);
    for (const [, , sentAtMs, ms] of seen) {
      expect(sentAtMs).toBeGreaterThanOrEqual(before);
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(sentAtMs + ms).toBeLessThanOrEqual(after);
    }
    expect(r.stats.batchTimings().a?.[2]?.count).toBe(1);
  });

  it('delivers a finished batch to the next stage whole, so its queries batch together there', async () => {
    const held = new HeldSender();
    const r = router(
      held,
      {
        stages: [
          { id: 'a', maxBatch: 3 },
          { id: 'b', maxBatch: 3 },
        ],
        edges: [{ from: 'a', to: 'b' }],
      },
      [endpoint('a', 'http://a1', 1), endpoint('b', 'http://b1', 1)],
    );
    const answers = [0, 1, 2].map((tag) => r.submit(query(tag)));
    expect(held.sent.map((b) => [b.url, b.tags])).toEqual([['http://a1', [0]]]);
    held.sent[0]?.release(); // q1 and q2 go to a together; q0 alone to b
    await waitFor(() => held.sent.length === 3, 'the second batch at a and the first at b');
    expect(held.sent.slice(1).map((b) => [b.url, b.tags])).toEqual([
      ['http://b1', [1]], // a's output of q0 (the fake replica adds 1)
      ['http://a1', [1, 2]],
    ]);
    held.sent[1]?.release(); // b is done with q0 and idle
    await waitFor(() => held.pending().length === 1, 'b done with q0');
    held.sent[2]?.release(); // q1 and q2 reach the idle b together: one batch, not q1 alone
    await waitFor(() => held.sent.length === 4, 'the second batch at b');
    expect(held.sent[3]).toMatchObject({ url: 'http://b1', tags: [2, 3] });
    held.autoRelease = true;
    for (const b of held.pending()) b.release();
    await Promise.all(answers);
  });

  it('holds a partial batch for maxQueueDelayMs and sends a full one at once', async () => {
    const held = new HeldSender();
    held.autoRelease = true;
    const r = router(held, { stages: [{ id: 'a', maxBatch: 4, maxQueueDelayMs: 150 }] }, [
      endpoint('a', 'http://a1', 1),
    ]);
    const one = r.submit(query(7));
    expect(held.sent).toHaveLength(0);
    await one;
    expect(held.sent.map((b) => b.tags)).toEqual([[7]]);
    const four = [1, 2, 3, 4].map((t) => r.submit(query(t)));
    expect(held.sent.map((b) => b.tags)).toEqual([[7], [1, 2, 3, 4]]);
    await Promise.all(four);
  });

  it('routes conditional edges with the seeded draws and runs a join once with its first input', async () => {
    const add: Record<string, number> = { 'http://a': 1, 'http://b': 10, 'http://c': 100, 'http://d': 1000 };
    const held = new HeldSender((url) => add[url] ?? 0);
    held.autoRelease = true;
    const record: RecordOptions = {
      stages: [{ id: 'a' }, { id: 'b' }, { id: 'c' }, { id: 'd' }],
      edges: [
        { from: 'a', to: 'b', probability: 0.3 },
        { from: 'a', to: 'c' },
        { from: 'b', to: 'd' },
        { from: 'c', to: 'd' },
      ],
    };
    const r = router(
      held,
      record,
      ['a', 'b', 'c', 'd'].map((s) => endpoint(s, `http://${s}`, 1)),
      { seed: 42 },
    );
    const n = 400;
    const results: QueryResult[] = [];
    for (let i = 0; i < n; i++) results.push(await r.submit(query(0)));
    const viaB = results.filter((x) => x.stages.includes('b')).length;
    expect(viaB / n).toBeGreaterThan(0.23);
    expect(viaB / n).toBeLessThan(0.37);
    // The same seed gives the simulator's paths, query by query.
    const topo = compileTopology(servingRecord(record).spec);
    const paths = drawnRouter(topo, createRng(42));
    const expected = results.map(() => {
      const visited = new Uint8Array(4);
      paths.route(0, visited, new Uint8Array(4));
      return visited[1] === 1;
    });
    expect(results.map((x) => x.stages.includes('b'))).toEqual(expected);
    for (const x of results) {
      expect(x.stages).toContain('d');
      // d takes b's output when b ran (the first incoming edge), else c's.
      expect(x.output.data[0]).toBe(x.stages.includes('b') ? 1011 : 1101);
    }
    expect(r.stats.totals().stages.d?.visits).toBe(n);
  });

  it('fails when a stage queue is at its bound: the query is shed and counted', async () => {
    const held = new HeldSender();
    const r = router(held, { stages: [{ id: 'a' }] }, [endpoint('a', 'http://a1', 1)], { queueBound: 2 });
    const accepted = [0, 1, 2].map((t) => r.submit(query(t)));
    await expect(r.submit(query(3))).rejects.toBeInstanceOf(ShedError);
    held.autoRelease = true;
    for (const b of held.pending()) b.release();
    await Promise.all(accepted);
    const totals = r.stats.totals().counts;
    expect(totals).toMatchObject({ arrivals: 4, shed: 1, completed: 3, errors: 0 });
  });

  it('dispatches to every listed replica, the headroom above the tuner count included', async () => {
    const held = new HeldSender();
    // The tuner's count is 1; the other two are headroom the control plane keeps running.
    const r = router(held, { stages: [{ id: 'a', replicas: 1 }] }, [
      endpoint('a', 'http://old', 1),
      endpoint('a', 'http://newer', 2),
      endpoint('a', 'http://newest', 3),
    ]);
    expect(r.active).toEqual({ a: 1 });
    const queries = [r.submit(query(1)), r.submit(query(2)), r.submit(query(3))];
    // One batch per free replica, oldest first: none waits while a replica is idle.
    expect(held.pending().map((b) => b.url)).toEqual(['http://old', 'http://newer', 'http://newest']);
    held.autoRelease = true;
    for (const b of held.pending()) b.release();
    await Promise.all(queries);
    expect(r.takeInterval().stageReports.a?.replicas).toBe(3);
  });

  it('retries a failed batch once on another replica, then fails its queries', async () => {
    const held = new HeldSender();
    // A replica that failed is skipped while it cools down; the others take its batches.
    const r = router(held, { stages: [{ id: 'a', replicas: 2 }] }, [
      endpoint('a', 'http://a1', 1),
      endpoint('a', 'http://a2', 2),
      endpoint('a', 'http://a3', 3),
    ]);
    const first = r.submit(query(1));
    held.sent[0]?.fail();
    await waitFor(() => held.sent.length === 2, 'the retry');
    expect(held.sent[1]?.url).toBe('http://a2');
    held.sent[1]?.release();
    expect((await first).output.data[0]).toBe(2);
    const second = r.submit(query(5));
    await waitFor(() => held.pending().length === 1, 'second batch');
    held.pending()[0]?.fail();
    await waitFor(() => held.pending().length === 1, 'second try');
    expect(held.pending()[0]?.url).toBe('http://a3');
    held.pending()[0]?.fail();
    await expect(second).rejects.toBeInstanceOf(QueryFailedError);
    expect(r.stats.totals().counts).toMatchObject({ completed: 1, errors: 1 });
  });

  it('fails when a queued query outlives its deadline: it is dropped and counted', async () => {
    const held = new HeldSender();
    const r = router(held, { stages: [{ id: 'a' }], sloMs: 30 }, [endpoint('a', 'http://a1', 1)]);
    const running = r.submit(query(1));
    const queued = r.submit(query(2));
    const outcome = queued.then(
      () => 'answered',
      (e: unknown) => (e instanceof QueryFailedError ? e.reason : 'other'),
    );
    await waitFor(async () => {
      r.sweep();
      return (await Promise.race([outcome, Promise.resolve('pending')])) !== 'pending';
    }, 'the drop');
    expect(await outcome).toBe('deadline');
    held.sent[0]?.release();
    await running;
    expect(r.stats.totals().counts).toMatchObject({ dropped: 1, errors: 1, completed: 1, late: 1 });
  });
});
