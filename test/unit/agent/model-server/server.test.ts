import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ModelServerHandle, startModelServer } from '../../../../agent/model-server/index.ts';
import { ValidationError } from '../../../../lib/core/errors.ts';
import { LatencyReportSchema } from '../../../../lib/core/protocol/inference.ts';
import { type BuiltMlp, mlpForward, seededRandom, uniformInput } from '../../../../lib/onnx/index.ts';
import {
  exactPercentile,
  maxAbsDiff,
  postBinary,
  postJson,
  RecordingReportSink,
  tempMlp,
  until,
} from './helpers.ts';

const IN = 32;
const OUT = 6;

describe('model server over HTTP', () => {
  let mlp: BuiltMlp;
  let path: string;
  let cleanup: () => Promise<void>;
  let server: ModelServerHandle;
  let infer: string;

  beforeAll(async () => {
    ({ mlp, path, cleanup } = await tempMlp({
      inputSize: IN,
      hiddenSizes: [64, 64],
      outputSize: OUT,
      activation: 'tanh',
      seed: 5,
    }));
    server = await startModelServer({
      modelPath: path,
      modelId: 'mlp',
      host: '127.0.0.1',
      maxBatch: 8,
      maxQueueDelayMs: 5,
      queueCapacity: 1000,
      executionProvider: 'cpu',
      intraOpThreads: 1,
      log: () => {},
    });
    infer = `${server.url}/v1/models/mlp/infer`;
  });

  afterAll(async () => {
    await server?.stop();
    await cleanup?.();
  });

  it('answers JSON requests with the outputs of the plain-JS reference to 1e-5', async () => {
    const rows = 3;
    const x = uniformInput(seededRandom(1), rows * IN);
    const res = await postJson(infer, { inputs: { x: { dims: [rows, IN], data: Array.from(x) } } });
    expect(res.status).toBe(200);
    expect(res.json?.outputs.y?.dims).toEqual([rows, OUT]);
    expect(maxAbsDiff(res.json?.outputs.y?.data ?? [], mlpForward(mlp, x, rows))).toBeLessThanOrEqual(1e-5);
  });

  it('answers binary requests with the outputs of the plain-JS reference to 1e-5', async () => {
    const x = uniformInput(seededRandom(2), 2 * IN);
    const res = await postBinary(infer, x, [2, IN]);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-tensor-dims')).toBe(`2,${OUT}`);
    expect(res.headers.get('x-output-name')).toBe('y');
    expect(Number(res.headers.get('x-total-ms'))).toBeGreaterThan(0);
    expect(maxAbsDiff(res.binary ?? [], mlpForward(mlp, x, 2))).toBeLessThanOrEqual(1e-5);
  });

  it('batches concurrent requests without exceeding maxBatch, and each gets its own rows back', async () => {
    const inputs = Array.from({ length: 48 }, (_, i) => uniformInput(seededRandom(100 + i), IN));
    const results = await Promise.all(
      inputs.map((x) => postJson(infer, { inputs: { x: { dims: [1, IN], data: Array.from(x) } } })),
    );
    const sizes = results.map((r) => r.json?.timing.batchSize ?? 0);
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(8);
    expect(sizes.some((s) => s > 1)).toBe(true);
    results.forEach((r, i) => {
      expect(
        maxAbsDiff(r.json?.outputs.y?.data ?? [], mlpForward(mlp, inputs[i] as Float32Array, 1)),
      ).toBeLessThanOrEqual(1e-5);
    });
    for (const { size } of server.stats().batchSizes) expect(size).toBeLessThanOrEqual(8);
  });

  it('serves health and model metadata', async () => {
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', modelId: 'mlp' });
    const meta = (await (await fetch(`${server.url}/v1/models/mlp`)).json()) as Record<string, unknown>;
    expect(meta).toMatchObject({
      modelId: 'mlp',
      provider: 'cpu',
      maxBatch: 8,
      inputs: [{ name: 'x', type: 'float32', shape: ['batch', IN] }],
      outputs: [{ name: 'y', type: 'float32', shape: ['batch', OUT] }],
    });
  });

  it('fails with 400 and field issues when the tensor does not fit the model', async () => {
    const res = await postJson(infer, {
      inputs: { x: { dims: [1, IN + 1], data: new Array(IN + 1).fill(0) }, z: { dims: [1], data: [1] } },
    });
    expect(res.status).toBe(400);
    const paths = res.error?.issues?.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['inputs.z', 'inputs.x.dims.1']));
    expect(res.error?.issues?.find((i) => i.path === 'inputs.x.dims.1')?.message).toBe(
      `must be ${IN}, got ${IN + 1}`,
    );
  });

  it('fails with 400 when the data length does not match the dims', async () => {
    const res = await postJson(infer, { inputs: { x: { dims: [1, IN], data: [1, 2] } } });
    expect(res.status).toBe(400);
    expect(res.error?.issues?.[0]).toEqual({
      path: 'inputs.x.data',
      message: `data must hold ${IN} values for dims [1, ${IN}], got 2`,
    });
  });

  it('fails with 400 when a binary body is the wrong size or a batch exceeds maxBatch', async () => {
    const short = await postBinary(infer, new Float32Array(IN - 1), [1, IN]);
    expect(short.status).toBe(400);
    expect(short.error?.issues?.[0]?.path).toBe('body');
    const big = await postBinary(infer, new Float32Array(9 * IN), [9, IN]);
    expect(big.status).toBe(400);
    expect(big.error?.issues?.[0]?.message).toBe('batch dimension must be at most maxBatch 8, got 9');
  });

  it('fails with 404 for an unknown model and 415 for other content types', async () => {
    const unknown = await postJson(`${server.url}/v1/models/other/infer`, { inputs: {} });
    expect(unknown.status).toBe(404);
    const text = await fetch(infer, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: '1,2' });
    expect(text.status).toBe(415);
  });
});

describe('model server latency accounting', () => {
  it('keeps histograms that match the measured requests and reports them through the sink', async () => {
    const { path, cleanup } = await tempMlp({ inputSize: IN, hiddenSizes: [64], outputSize: OUT, seed: 9 });
    const sink = new RecordingReportSink();
    const server = await startModelServer({
      modelPath: path,
      modelId: 'timed',
      host: '127.0.0.1',
      maxBatch: 4,
      maxQueueDelayMs: 2,
      executionProvider: 'cpu',
      reportSink: sink,
      reportIntervalMs: 50,
      instanceId: 'i-test',
      log: () => {},
    });
    try {
      const url = `${server.url}/v1/models/timed/infer`;
      const body = (i: number) => ({
        inputs: { x: { dims: [1, IN], data: Array.from(uniformInput(seededRandom(i), IN)) } },
      });
      const results = [];
      for (let i = 0; i < 10; i++) results.push(await postJson(url, body(i)));
      results.push(...(await Promise.all(Array.from({ length: 30 }, (_, i) => postJson(url, body(50 + i))))));
      expect(results.every((r) => r.status === 200)).toBe(true);

      const totals = results.map((r) => r.json?.timing.totalMs ?? Number.NaN);
      for (const r of results) {
        const t = r.json?.timing;
        expect(r.clientMs).toBeGreaterThanOrEqual(t?.totalMs ?? Number.POSITIVE_INFINITY);
        expect((t?.queueMs ?? 0) + (t?.computeMs ?? 0)).toBeCloseTo(t?.totalMs ?? -1, 6);
      }
      const stats = server.stats();
      expect(stats.count).toBe(results.length);
      expect(stats.arrivals).toBe(results.length);
      expect(stats.batchSizes.reduce((n, b) => n + b.size * b.count, 0)).toBe(results.length);
      // HDR keeps 3 significant digits: each percentile is within 0.1% (plus 1 us rounding) of the exact one.
      for (const [p, got] of [
        [50, stats.total.p50Ms],
        [90, stats.total.p90Ms],
        [99, stats.total.p99Ms],
        [100, stats.total.maxMs],
      ] as const) {
        const exact = exactPercentile(totals, p);
        expect(Math.abs(got - exact)).toBeLessThanOrEqual(exact * 0.002 + 0.002);
      }
      expect(stats.total.p50Ms).toBeLessThanOrEqual(stats.total.p99Ms);
      expect(stats.queueing.maxMs).toBeLessThanOrEqual(stats.total.maxMs + 0.002);

      await until(
        () => sink.sent.some((m) => (m as { count?: number }).count),
        'a latency report with requests',
      );
    } finally {
      await server.stop();
      await cleanup();
    }
    const reports = sink.sent.map((m) => LatencyReportSchema.parse(m));
    expect(
      reports.every((r) => r.modelId === 'timed' && r.instanceId === 'i-test' && r.provider === 'cpu'),
    ).toBe(true);
    // Intervals tile the server's life and the last report is sent on stop, so every request is counted once.
    expect(reports.reduce((n, r) => n + r.count, 0)).toBe(40);
    expect(reports.reduce((n, r) => n + r.arrivals, 0)).toBe(40);
    for (const r of reports) {
      expect(r.intervalEndMs).toBeGreaterThanOrEqual(r.intervalStartMs);
      expect(r.batchSizes.reduce((n, b) => n + b.size * b.count, 0)).toBe(r.count);
      if (r.count > 0) expect(r.total.p99Ms).toBeGreaterThanOrEqual(r.total.p50Ms);
    }
    for (let i = 1; i < reports.length; i++) {
      expect(reports[i]?.intervalStartMs).toBe(reports[i - 1]?.intervalEndMs);
    }
  });
});

describe('model server reporting', () => {
  it('drops a report the sink refuses, logs why, and keeps serving and reporting', async () => {
    const { path, cleanup } = await tempMlp({ inputSize: 8, hiddenSizes: [8], outputSize: 2 });
    const sink = new RecordingReportSink();
    sink.failNext();
    const logs: string[] = [];
    const server = await startModelServer({
      modelPath: path,
      modelId: 'flaky-sink',
      host: '127.0.0.1',
      reportSink: sink,
      reportIntervalMs: 20,
      log: (m) => logs.push(m),
    });
    try {
      await until(
        () => logs.some((m) => m.includes('latency report dropped: sink unavailable')),
        'the dropped report',
      );
      const res = await postBinary(`${server.url}/v1/models/flaky-sink/infer`, new Float32Array(8), [1, 8]);
      expect(res.status).toBe(200);
      await until(
        () => sink.sent.some((m) => (m as { count?: number }).count === 1),
        'a report of the request',
      );
    } finally {
      await server.stop();
      await cleanup();
    }
  });
});

describe('model server load shedding', () => {
  it('answers 503 with Retry-After when the queue is full, and serves the admitted requests', async () => {
    const { path, cleanup } = await tempMlp({ inputSize: 64, hiddenSizes: [128], outputSize: 4 });
    // The queue holds 2 and a batch waits for 8 rows or 2 s, so a burst fills the queue and the rest is shed.
    const server = await startModelServer({
      modelPath: path,
      modelId: 'shed',
      host: '127.0.0.1',
      maxBatch: 8,
      maxQueueDelayMs: 2000,
      queueCapacity: 2,
      executionProvider: 'cpu',
      log: () => {},
    });
    try {
      const url = `${server.url}/v1/models/shed/infer`;
      const x = new Float32Array(64).fill(0.5);
      const results = await Promise.all(Array.from({ length: 30 }, () => postBinary(url, x, [1, 64])));
      const shed = results.filter((r) => r.status === 503);
      const ok = results.filter((r) => r.status === 200);
      expect(shed.length).toBeGreaterThan(0);
      expect(ok.length).toBeGreaterThanOrEqual(2);
      expect(shed.length + ok.length).toBe(30);
      for (const r of shed) {
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        expect(r.error?.error).toBe('queue is full: 2 of 2 requests waiting');
      }
      const stats = server.stats();
      expect(stats.shed).toBe(shed.length);
      expect(stats.count).toBe(ok.length);
      expect(stats.arrivals).toBe(30);
    } finally {
      await server.stop();
      await cleanup();
    }
  });
});

describe('startModelServer', () => {
  it('fails when options are out of range, naming every field', async () => {
    const error = await startModelServer({
      modelPath: 'relative/model.onnx',
      modelId: 'Bad_Id',
      maxBatch: 0,
      queueCapacity: -1,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    const paths = (error as ValidationError).issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['modelPath', 'modelId', 'maxBatch', 'queueCapacity']));
  });

  it('finishes queued requests on stop and then refuses connections', async () => {
    const { path, cleanup } = await tempMlp({ inputSize: 8, hiddenSizes: [8], outputSize: 2 });
    const server = await startModelServer({
      modelPath: path,
      modelId: 'stop',
      host: '127.0.0.1',
      maxQueueDelayMs: 50,
      log: () => {},
    });
    try {
      const url = `${server.url}/v1/models/stop/infer`;
      const pending = Promise.all(
        Array.from({ length: 3 }, () => postBinary(url, new Float32Array(8), [1, 8])),
      );
      await until(() => server.stats().arrivals === 3, 'three arrivals');
      await server.stop();
      expect((await pending).map((r) => r.status)).toEqual([200, 200, 200]);
      await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
    } finally {
      await server.stop();
      await cleanup();
    }
  });

  it('lets a drained answer reach its client whole on stop, however large', async () => {
    const width = 64 * 1024;
    const { path, cleanup } = await tempMlp({ inputSize: 4, hiddenSizes: [4], outputSize: width });
    // A long batching delay keeps the request queued until the stop flushes it.
    const server = await startModelServer({
      modelPath: path,
      modelId: 'big',
      host: '127.0.0.1',
      maxBatch: 64,
      maxQueueDelayMs: 10_000,
      log: () => {},
    });
    try {
      // 32 rows of 256 KiB: far more than the socket buffers hold while the client has not read yet.
      const rows = 32;
      const answer = fetch(`${server.url}/v1/models/big/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', 'x-tensor-dims': `${rows},4` },
        body: Buffer.alloc(rows * 4 * 4),
      }).then(async (res) => ({ status: res.status, bytes: (await res.arrayBuffer()).byteLength }));
      await until(() => server.stats().queueDepth === 1, 'the queued request');
      const stopped = server.stop({ drain: true });
      expect(await answer).toEqual({ status: 200, bytes: rows * width * 4 });
      await stopped;
    } finally {
      await server.stop();
      await cleanup();
    }
  });

  it('fails a JSON body over the JSON limit with 413, long before the binary limit', async () => {
    const { path, cleanup } = await tempMlp({ inputSize: 8, hiddenSizes: [8], outputSize: 2 });
    const server = await startModelServer({
      modelPath: path,
      modelId: 'json',
      host: '127.0.0.1',
      log: () => {},
    });
    try {
      const res = await fetch(`${server.url}/v1/models/json/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: ' '.repeat(5 * 1024 * 1024),
      });
      expect(res.status).toBe(413);
      expect(server.stats().arrivals).toBe(0);
    } finally {
      await server.stop();
      await cleanup();
    }
  });
});
