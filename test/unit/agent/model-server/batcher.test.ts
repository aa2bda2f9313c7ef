import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import {
  BatcherClosedError,
  type BatcherOptions,
  DynamicBatcher,
  QueueFullError,
  type RequestTiming,
} from '../../../../agent/model-server/batcher.ts';

/** A runner that holds each batch until the test releases it, recording every batch it was given. */
function heldRunner() {
  const batches: number[][] = [];
  const releases: (() => void)[] = [];
  const run = (inputs: readonly number[]) => {
    batches.push([...inputs]);
    return new Promise<number[]>((resolve) => releases.push(() => resolve(inputs.map((x) => x * 10))));
  };
  return {
    run,
    batches,
    releaseAll() {
      for (const release of releases.splice(0)) release();
    },
    get pending() {
      return releases.length;
    },
  };
}

/** A runner that answers on the next turn of the event loop, like onnxruntime-node does. */
function immediateRunner() {
  const batches: number[][] = [];
  const run = (inputs: readonly number[]) => {
    batches.push([...inputs]);
    return new Promise<number[]>((resolve) => setImmediate(() => resolve(inputs.map((x) => x + 1))));
  };
  return { run, batches };
}

const options = (overrides: Partial<BatcherOptions> = {}): BatcherOptions => ({
  maxBatch: 4,
  maxQueueDelayMs: 1,
  queueCapacity: 100,
  concurrentRunners: 1,
  now: () => performance.now(),
  ...overrides,
});

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

describe('DynamicBatcher', () => {
  it('forms batches of at most maxBatch and batches concurrent requests together', async () => {
    const runner = immediateRunner();
    const batcher = new DynamicBatcher(runner.run, options({ maxBatch: 4, maxQueueDelayMs: 5 }));
    const inputs = Array.from({ length: 40 }, (_, i) => i);
    const results = await Promise.all(inputs.map((x) => batcher.submit(x)));
    expect(results.map((r) => r.output)).toEqual(inputs.map((x) => x + 1));
    const sizes = runner.batches.map((b) => b.length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(4);
    expect(sizes.filter((s) => s > 1).length).toBeGreaterThan(0);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(40);
    for (const r of results) expect(r.timing.batchSize).toBeLessThanOrEqual(4);
  });

  it('starts a full batch at once without waiting for the delay', async () => {
    const runner = heldRunner();
    const batcher = new DynamicBatcher(runner.run, options({ maxBatch: 3, maxQueueDelayMs: 60_000 }));
    const results = [1, 2, 3].map((x) => batcher.submit(x));
    expect(runner.batches).toEqual([[1, 2, 3]]);
    runner.releaseAll();
    expect((await Promise.all(results)).map((r) => r.output)).toEqual([10, 20, 30]);
  });

  it('sends a lone request after maxQueueDelayMs', async () => {
    const runner = heldRunner();
    const batcher = new DynamicBatcher(runner.run, options({ maxBatch: 8, maxQueueDelayMs: 20 }));
    const result = batcher.submit(5);
    expect(runner.batches).toEqual([]);
    await until(() => runner.batches.length === 1, 'the delayed batch');
    runner.releaseAll();
    const { output, timing } = await result;
    expect(output).toBe(50);
    expect(timing.batchSize).toBe(1);
    // Node timers run on a millisecond loop clock, so they may fire up to 1 ms early by performance.now.
    expect(timing.queueMs).toBeGreaterThanOrEqual(18);
  });

  it('counts rows, not requests, against maxBatch', async () => {
    const runner = heldRunner();
    const batcher = new DynamicBatcher(runner.run, options({ maxBatch: 4, maxQueueDelayMs: 60_000 }));
    const results = [batcher.submit(1, 3), batcher.submit(2, 2), batcher.submit(3, 1)];
    // 3 + 2 rows are waiting, so a batch is due, but 3 + 2 exceeds 4: the first batch is [1] alone.
    expect(runner.batches).toEqual([[1]]);
    runner.releaseAll();
    await close(batcher, runner);
    expect(runner.batches).toEqual([[1], [2, 3]]);
    const timings = (await Promise.all(results)).map((r) => r.timing.batchSize);
    expect(timings).toEqual([3, 3, 3]);
  });

  it('batches only requests with the same key together', async () => {
    const runner = heldRunner();
    const batcher = new DynamicBatcher(
      runner.run,
      options({ maxBatch: 2, maxQueueDelayMs: 60_000, concurrentRunners: 2 }),
    );
    const results = [
      batcher.submit(1, 1, 'a'),
      batcher.submit(2, 1, 'b'),
      batcher.submit(3, 1, 'a'),
      batcher.submit(4, 1, 'b'),
    ];
    expect(runner.batches).toEqual([
      [1, 3],
      [2, 4],
    ]);
    runner.releaseAll();
    expect((await Promise.all(results)).map((r) => r.output)).toEqual([10, 20, 30, 40]);
  });

  it('runs no more batches at once than concurrentRunners', async () => {
    const runner = heldRunner();
    const batcher = new DynamicBatcher(runner.run, options({ maxBatch: 1, concurrentRunners: 2 }));
    const results = [1, 2, 3, 4, 5].map((x) => batcher.submit(x));
    expect(runner.pending).toBe(2);
    expect(batcher.depth).toBe(3);
    while (runner.batches.length < 5 || runner.pending > 0) {
      runner.releaseAll();
      await until(() => runner.pending > 0 || runner.batches.length === 5, 'the next batches');
      expect(runner.pending).toBeLessThanOrEqual(2);
      if (runner.batches.length === 5) runner.releaseAll();
    }
    expect((await Promise.all(results)).map((r) => r.output)).toEqual([10, 20, 30, 40, 50]);
  });

  it('fails with QueueFullError and a retry hint when the queue is full', async () => {
    const runner = heldRunner();
    const shed: number[] = [];
    const batcher = new DynamicBatcher(runner.run, options({ maxBatch: 1, queueCapacity: 2 }), {
      onShed: () => shed.push(1),
    });
    const accepted = [batcher.submit(1), batcher.submit(2), batcher.submit(3)];
    // One runs, two wait: the queue is at capacity.
    await expect(batcher.submit(4)).rejects.toBeInstanceOf(QueueFullError);
    const error = await batcher.submit(5).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueueFullError);
    expect((error as QueueFullError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect((error as QueueFullError).message).toMatch(/2 of 2 requests waiting/);
    expect(shed).toHaveLength(2);
    await close(batcher, runner);
    expect((await Promise.all(accepted)).map((r) => r.output)).toEqual([10, 20, 30]);
  });

  it('splits time into queueing and compute that add up to the total', async () => {
    const runner = immediateRunner();
    const timings: RequestTiming[] = [];
    const batcher = new DynamicBatcher(runner.run, options({ maxBatch: 4, maxQueueDelayMs: 2 }), {
      onComplete: (t) => timings.push(t),
    });
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => batcher.submit(i)));
    expect(timings).toHaveLength(12);
    for (const { timing } of results) {
      expect(timing.queueMs).toBeGreaterThanOrEqual(0);
      expect(timing.computeMs).toBeGreaterThan(0);
      expect(timing.queueMs + timing.computeMs).toBeCloseTo(timing.totalMs, 9);
    }
  });

  it('fails every request of a batch whose run fails, and keeps serving', async () => {
    let calls = 0;
    const errors: number[] = [];
    const batcher = new DynamicBatcher(
      async (inputs: readonly number[]) => {
        calls++;
        if (calls === 1) throw new Error('boom');
        return inputs.map((x) => -x);
      },
      options({ maxBatch: 2, maxQueueDelayMs: 60_000 }),
      { onError: (n) => errors.push(n) },
    );
    const failed = [batcher.submit(1), batcher.submit(2)];
    await expect(failed[0]).rejects.toThrow('boom');
    await expect(failed[1]).rejects.toThrow('boom');
    expect(errors).toEqual([2]);
    const ok = await Promise.all([batcher.submit(3), batcher.submit(4)]);
    expect(ok.map((r) => r.output)).toEqual([-3, -4]);
  });

  it('finishes queued requests on a draining close and refuses new ones', async () => {
    const runner = heldRunner();
    const batcher = new DynamicBatcher(runner.run, options({ maxBatch: 1, maxQueueDelayMs: 60_000 }));
    const results = [1, 2, 3].map((x) => batcher.submit(x));
    const closed = batcher.close(true);
    await expect(batcher.submit(9)).rejects.toBeInstanceOf(BatcherClosedError);
    while (runner.batches.length < 3 || runner.pending > 0) {
      runner.releaseAll();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await closed;
    expect((await Promise.all(results)).map((r) => r.output)).toEqual([10, 20, 30]);
  });

  it('fails queued requests on a close without drain', async () => {
    const runner = heldRunner();
    const batcher = new DynamicBatcher(runner.run, options({ maxBatch: 1, maxQueueDelayMs: 60_000 }));
    const running = batcher.submit(1);
    const queued = batcher.submit(2);
    const closed = batcher.close(false);
    await expect(queued).rejects.toBeInstanceOf(BatcherClosedError);
    runner.releaseAll();
    await closed;
    expect((await running).output).toBe(10);
    expect(runner.batches).toEqual([[1]]);
  });
});

/** Drain a batcher whose runner is held, releasing batches as they start. */
async function close(
  batcher: DynamicBatcher<number, number>,
  runner: ReturnType<typeof heldRunner>,
): Promise<void> {
  const closed = batcher.close(true);
  let done = false;
  void closed.then(() => {
    done = true;
  });
  while (!done) {
    runner.releaseAll();
    await new Promise((resolve) => setImmediate(resolve));
  }
}
