import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ModelServerHandle, startModelServer } from '../../../../agent/model-server/index.ts';
import { tunerBasis } from '../../../../lib/core/inference/tuner.ts';
import { PipelineReportSchema, ReplicaRequestSchema } from '../../../../lib/core/protocol/pipeline.ts';
import {
  type BuiltMlp,
  buildMlp,
  mlpForward,
  modelTempDir,
  seededRandom,
  uniformInput,
  writeModel,
} from '../../../../lib/onnx/index.ts';
import { FakeReportSink } from '../fakes.ts';
import { endpoint, FakeServingDirectory, HeldSender, query, routerPool, servingRecord } from './helpers.ts';

const routers = routerPool();
const router = routers.start;

async function postBinary(url: string, data: Float32Array, dims: number[]) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'x-tensor-dims': dims.join(',') },
    body: Buffer.from(data.buffer, data.byteOffset, data.byteLength),
  });
  const bytes = new Uint8Array(await res.arrayBuffer());
  return { res, floats: res.status === 200 ? new Float32Array(bytes.buffer) : undefined, bytes };
}

describe('router with real model servers', () => {
  const servers: ModelServerHandle[] = [];
  let models: { a: BuiltMlp; b: BuiltMlp };
  let cleanup: () => Promise<void>;
  let directory: FakeServingDirectory;

  beforeAll(async () => {
    const dir = await modelTempDir();
    cleanup = dir.cleanup;
    models = {
      a: buildMlp({ inputSize: 8, hiddenSizes: [16], outputSize: 6, seed: 3 }),
      b: buildMlp({ inputSize: 6, hiddenSizes: [8], outputSize: 3, seed: 4 }),
    };
    for (const id of ['a', 'b'] as const) {
      const path = await writeModel(join(dir.dir, `${id}.onnx`), models[id].bytes);
      servers.push(
        await startModelServer({
          modelPath: path,
          modelId: id,
          maxBatch: 4,
          maxQueueDelayMs: 0,
          host: '127.0.0.1',
          executionProvider: 'cpu',
          log: () => {},
        }),
      );
    }
    directory = new FakeServingDirectory(
      servingRecord({
        stages: [
          { id: 'a', maxBatch: 4 },
          { id: 'b', maxBatch: 4 },
        ],
        edges: [{ from: 'a', to: 'b' }],
      }),
      servers.map((s) => endpoint(s.modelId, `${s.url}/v1/models/${s.modelId}`, 1)),
    );
  });

  afterAll(async () => {
    await routers.stopAll();
    await Promise.all(servers.map((s) => s.stop()));
    await cleanup?.();
  });

  it('answers a binary query with the last stage output of the chained models and X-Total-Ms', async () => {
    const r = await router({ directory });
    const x = uniformInput(seededRandom(9), 8);
    const { res, floats } = await postBinary(`${r.url}/v1/pipelines/pipe/infer`, x, [1, 8]);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-tensor-dims')).toBe('1,3');
    expect(Number(res.headers.get('x-total-ms'))).toBeGreaterThan(0);
    const expected = mlpForward(models.b, mlpForward(models.a, x, 1), 1);
    expect(Array.from(floats ?? [])).toEqual(Array.from(expected).map((v) => expect.closeTo(v, 4)));
  });

  it('answers JSON queries and reports exactly the queries it was sent', async () => {
    const sink = new FakeReportSink();
    const r = await router({ directory, reportSink: sink, instanceId: 'i-router' });
    const bodies = Array.from({ length: 12 }, (_, i) => ({
      input: { dims: [1, 8], data: Array.from(uniformInput(seededRandom(i + 1), 8)) },
    }));
    const answers = await Promise.all(
      bodies.map((body) =>
        fetch(`${r.url}/v1/pipelines/pipe/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        }).then(async (res) => ({
          status: res.status,
          json: (await res.json()) as { output: { dims: number[] } },
        })),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(bodies.map(() => 200));
    expect(answers[0]?.json.output.dims).toEqual([1, 3]);
    const report = await r.reportOnce();
    expect(PipelineReportSchema.parse(sink.sent.at(-1))).toEqual(report);
    expect(report).toMatchObject({ pipelineId: 'pipe', instanceId: 'i-router', arrivals: 12, completed: 12 });
    expect(report).toMatchObject({ shed: 0, errors: 0, dropped: 0, late: 0 });
    expect(report.stages.a?.visits).toBe(12);
    expect(report.stages.b?.visits).toBe(12);
    expect(report.stages.a?.replicas).toBe(1);
    expect(report.latency.p99Ms).toBeGreaterThan(0);
    expect((await r.reportOnce()).arrivals).toBe(0);
  });

  it('fails when the request is malformed: 400 with field issues, 404 for another pipeline', async () => {
    const r = await router({ directory });
    const bad = await fetch(`${r.url}/v1/pipelines/pipe/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'x-tensor-dims': '1,8' },
      body: Buffer.alloc(12),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { issues: { path: string }[] }).issues[0]?.path).toBe('body');
    const other = await fetch(`${r.url}/v1/pipelines/other/infer`, { method: 'POST', body: '{}' });
    expect(other.status).toBe(404);
    const status = (await (await fetch(`${r.url}/v1/pipelines/pipe`)).json()) as {
      stages: Record<string, { active: number; queueDepth: number; replicas: unknown[] }>;
    };
    expect(status.stages.a).toMatchObject({ active: 1, queueDepth: 0 });
    expect(status.stages.a?.replicas).toHaveLength(1);
  });
});

describe('router front door', () => {
  afterAll(async () => {
    await routers.stopAll();
  });

  it('fails with 503 while the pipeline is not serving, and serves once the directory says so', async () => {
    const record = servingRecord({ stages: [{ id: 'a' }], status: 'PLANNING' });
    const directory = new FakeServingDirectory(record, [endpoint('a', 'http://a1', 1)]);
    const held = new HeldSender();
    held.autoRelease = true;
    const r = await router({ directory, send: held.send });
    const q = query(1);
    const before = await postBinary(`${r.url}/v1/pipelines/pipe/infer`, q.data, [1, 4]);
    expect(before.res.status).toBe(503);
    expect(before.res.headers.get('retry-after')).toBe('1');
    directory.record = { ...record, status: 'SERVING' };
    await r.pollOnce();
    const after = await postBinary(`${r.url}/v1/pipelines/pipe/infer`, q.data, [1, 4]);
    expect(after.res.status).toBe(200);
    expect(after.floats?.[0]).toBe(2);
  });

  it('fails fast with 503 while a stage has no replica yet, rather than holding the query past its deadline', async () => {
    const record = servingRecord({ stages: [{ id: 'a' }, { id: 'b' }], edges: [{ from: 'a', to: 'b' }] });
    const directory = new FakeServingDirectory(record, [endpoint('a', 'http://a1', 1)]);
    const held = new HeldSender();
    held.autoRelease = true;
    const r = await router({ directory, send: held.send });
    const url = `${r.url}/v1/pipelines/pipe/infer`;
    const before = await postBinary(url, query(1).data, [1, 4]);
    expect(before.res.status).toBe(503);
    expect(before.res.headers.get('retry-after')).toBe('1');
    expect(JSON.parse(new TextDecoder().decode(before.bytes))).toEqual({
      error: 'pipeline pipe is not serving: stage b has no replica serving yet',
    });
    expect(held.pending()).toEqual([]);
    directory.endpoints = [endpoint('a', 'http://a1', 1), endpoint('b', 'http://b1', 2)];
    await r.pollOnce();
    expect((await postBinary(url, query(2).data, [1, 4])).res.status).toBe(200);
  });

  it('sheds with 503 and Retry-After at the queue bound, and the report counts it', async () => {
    const directory = new FakeServingDirectory(servingRecord({ stages: [{ id: 'a' }] }), [
      endpoint('a', 'http://a1', 1),
    ]);
    const held = new HeldSender();
    const sink = new FakeReportSink();
    const r = await router({ directory, send: held.send, queueBound: 2, reportSink: sink });
    const url = `${r.url}/v1/pipelines/pipe/infer`;
    const accepted = [1, 2, 3].map((t) => postBinary(url, query(t).data, [1, 4]));
    await new Promise<void>((resolve) => {
      const check = () =>
        (r.router.status() as { stages: { a: { queueDepth: number } } }).stages.a.queueDepth === 2;
      const poll = () => (check() ? resolve() : setTimeout(poll, 10));
      poll();
    });
    const shed = await Promise.all([
      postBinary(url, query(4).data, [1, 4]),
      postBinary(url, query(5).data, [1, 4]),
    ]);
    expect(shed.map((s) => s.res.status)).toEqual([503, 503]);
    expect(shed[0]?.res.headers.get('retry-after')).toBe('1');
    held.autoRelease = true;
    for (const b of held.pending()) b.release();
    expect((await Promise.all(accepted)).map((a) => a.res.status)).toEqual([200, 200, 200]);
    const report = await r.reportOnce();
    expect(report).toMatchObject({ arrivals: 5, completed: 3, shed: 2, errors: 0 });
    expect(report.stages.a).toMatchObject({ visits: 3, maxQueueDepth: 2 });
  });
});

describe('tuner loop', () => {
  afterAll(async () => {
    await routers.stopAll();
  });

  it('scales a stage up on a burst with a ReplicaRequest, and down after stabilising', async () => {
    // Planned at 10 qps, even: one replica of 20 qps per stage.
    const arrivalsMs = Float64Array.from({ length: 100 }, (_, i) => i * 100);
    const config = { a: { instanceType: 'c7i.large', maxBatch: 1, replicas: 1, maxQueueDelayMs: 0 } };
    const basis = tunerBasis({
      config,
      profileOf: () => ({
        modelId: 'a',
        instanceType: 'c7i.large',
        source: { kind: 'measured' },
        points: [{ batchSize: 1, latencyMs: 50, throughputQps: 20 }],
      }),
      visitFractions: { a: 1 },
      arrivalsMs,
    });
    const directory = new FakeServingDirectory(servingRecord({ stages: [{ id: 'a' }], basis }), [
      endpoint('a', 'http://a1', 1),
      endpoint('a', 'http://a2', 2),
      endpoint('a', 'http://a3', 3),
      endpoint('a', 'http://a4', 4),
    ]);
    let now = 1_000_000;
    const sink = new FakeReportSink();
    const held = new HeldSender();
    held.autoRelease = true;
    const r = await router({
      directory,
      send: held.send,
      reportSink: sink,
      clock: { now: () => now },
      tuner: { stabilisationMs: 2000, lookbackMs: 2000, bucketMs: 1000, historyMs: 3000 },
    });
    expect(r.tuneOnce()?.reason).toBe('stabilising');
    // A burst: 40 queries within 200 ms.
    for (let i = 0; i < 40; i++) {
      r.tuner.recordArrival();
      now += 5;
    }
    const up = r.tuneOnce();
    expect(up?.reason).toBe('scale-up');
    const request = ReplicaRequestSchema.parse(sink.sent.find((m) => m.kind === 'ReplicaRequest'));
    expect(request.reason).toBe('scale-up');
    expect(request.targets.a).toBeGreaterThan(1);
    expect(r.router.active.a).toBe(request.targets.a);
    // Quiet at the planned rate: nothing changes before the stabilisation delay, then it scales down.
    now += 1000;
    expect(['steady', 'stabilising']).toContain(r.tuneOnce()?.reason);
    expect(r.router.active.a).toBe(request.targets.a);
    for (let i = 0; i < 40; i++) {
      now += 100;
      r.tuner.recordArrival();
    }
    const down = r.tuneOnce();
    expect(down?.reason).toBe('scale-down');
    const requests = sink.sent
      .filter((m) => m.kind === 'ReplicaRequest')
      .map((m) => ReplicaRequestSchema.parse(m));
    expect(requests.map((m) => m.reason)).toEqual(['scale-up', 'scale-down']);
    expect(requests[1]?.targets.a).toBeLessThan(request.targets.a ?? 0);
    expect(r.router.active.a).toBe(requests[1]?.targets.a);
    await Promise.all(Array.from({ length: 8 }, (_, i) => r.router.submit(query(i))));
    // Every listed replica takes batches, whatever the count.
    expect(new Set(held.sent.map((b) => b.url)).size).toBe(4);
  });
});
