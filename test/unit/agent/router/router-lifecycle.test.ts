import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ModelServerHandle, startModelServer } from '../../../../agent/model-server/index.ts';
import type { PipelineServing } from '../../../../lib/core/model/pipeline-serving.ts';
import { buildMlp, modelTempDir, writeModel } from '../../../../lib/onnx/index.ts';
import { FakeReportSink, waitFor } from '../fakes.ts';
import { endpoint, FakeServingDirectory, HeldSender, query, routerPool, servingRecord } from './helpers.ts';

const routers = routerPool();
const router = routers.start;

afterAll(async () => {
  await routers.stopAll();
});

async function post(url: string, t: { dims: readonly number[]; data: Float32Array }) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'x-tensor-dims': t.dims.join(',') },
    body: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength),
  });
  const text = Buffer.from(await res.arrayBuffer());
  const json =
    res.status === 200 ? undefined : (JSON.parse(text.toString('utf8')) as Record<string, unknown>);
  return { status: res.status, headers: res.headers, json };
}

function oneStage(): FakeServingDirectory {
  return new FakeServingDirectory(servingRecord({ stages: [{ id: 'a' }] }), [endpoint('a', 'http://a1', 1)]);
}

describe('router with a replica that refuses a bad shape', () => {
  let server: ModelServerHandle;
  let cleanup: () => Promise<void>;
  let directory: FakeServingDirectory;

  beforeAll(async () => {
    const dir = await modelTempDir();
    cleanup = dir.cleanup;
    const mlp = buildMlp({ inputSize: 8, hiddenSizes: [4], outputSize: 3, seed: 5 });
    server = await startModelServer({
      modelPath: await writeModel(join(dir.dir, 'a.onnx'), mlp.bytes),
      modelId: 'a',
      maxBatch: 4,
      maxQueueDelayMs: 0,
      host: '127.0.0.1',
      executionProvider: 'cpu',
      log: () => {},
    });
    directory = new FakeServingDirectory(servingRecord({ stages: [{ id: 'a', maxBatch: 4 }], sloMs: 300 }), [
      endpoint('a', `${server.url}/v1/models/a`, 1),
    ]);
  });

  afterAll(async () => {
    await routers.stopAll();
    await server.stop();
    await cleanup();
  });

  it("fails a query the replica refuses with 400 and the replica's field path, and keeps serving", async () => {
    // No shape known at the door: the replica's answer is what refuses the query.
    const r = await router({ directory, describe: async () => undefined });
    const url = `${r.url}/v1/pipelines/pipe/infer`;
    const bad = await post(url, { dims: [1, 4], data: new Float32Array(4) });
    expect(bad.status).toBe(400);
    const issues = (bad.json?.issues ?? []) as { path: string }[];
    expect(issues.map((i) => i.path)).toContain('stages.a.inputs.x.dims.1');
    const good = await post(url, { dims: [1, 8], data: new Float32Array(8) });
    expect(good.status).toBe(200);
    expect(good.headers.get('x-tensor-dims')).toBe('1,3');
  });

  it('fails at the door with 400 naming the field once it has read the stage model input shape', async () => {
    const r = await router({ directory });
    await waitFor(() => r.router.entryStagesWithoutShape().length === 0, 'the input shape');
    const served = server.stats().count;
    const bad = await post(`${r.url}/v1/pipelines/pipe/infer`, { dims: [1, 4], data: new Float32Array(4) });
    expect(bad.status).toBe(400);
    const issues = (bad.json?.issues ?? []) as { path: string }[];
    expect(issues.map((i) => i.path)).toEqual(['dims.1']);
    expect(server.stats().count).toBe(served);
  });
});

describe('router stop', () => {
  it('fails queued queries with 503 and Retry-After, and lets an answer in flight finish', async () => {
    const held = new HeldSender();
    const r = await router({ directory: oneStage(), send: held.send, stopGraceMs: 60_000 });
    const url = `${r.url}/v1/pipelines/pipe/infer`;
    const inFlight = post(url, query(1));
    await waitFor(() => held.pending().length === 1, 'the first batch');
    const queued = post(url, query(2));
    await waitFor(
      () => (r.router.status() as { stages: { a: { queueDepth: number } } }).stages.a.queueDepth === 1,
      'the queued query',
    );
    const stopped = r.stop();
    const refused = await queued;
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.json).toMatchObject({ reason: 'closed' });
    held.pending()[0]?.release();
    expect((await inFlight).status).toBe(200);
    await stopped;
    expect(held.sent).toHaveLength(1);
  });
});

describe('router tuner arrivals', () => {
  it('counts accepted and shed queries as traffic, not malformed ones or those refused while not serving', async () => {
    const directory = new FakeServingDirectory(servingRecord({ stages: [{ id: 'a' }], status: 'PLANNING' }), [
      endpoint('a', 'http://a1', 1),
    ]);
    const held = new HeldSender();
    held.autoRelease = true;
    const r = await router({ directory, send: held.send });
    const url = `${r.url}/v1/pipelines/pipe/infer`;
    for (let i = 0; i < 3; i++) expect((await post(url, query(i))).status).toBe(503);
    expect(r.tuner.arrivalCount).toBe(0);
    directory.record = servingRecord({ stages: [{ id: 'a' }] });
    await r.pollOnce();
    expect((await post(url, { dims: [1, 4], data: new Float32Array(3) })).status).toBe(400);
    expect(r.tuner.arrivalCount).toBe(0);
    expect((await post(url, query(1))).status).toBe(200);
    expect(r.tuner.arrivalCount).toBe(1);
  });

  it('drops arrivals older than its history even while nothing is planned', async () => {
    let now = 1_000_000;
    const directory = new FakeServingDirectory(servingRecord({ stages: [{ id: 'a' }], status: 'PLANNING' }), [
      endpoint('a', 'http://a1', 1),
    ]);
    const r = await router({
      directory,
      send: new HeldSender().send,
      clock: { now: () => now },
      tuner: { lookbackMs: 2000, bucketMs: 1000, historyMs: 3000 },
    });
    for (let i = 0; i < 10; i++) r.tuner.recordArrival();
    expect(r.tuner.arrivalCount).toBe(10);
    now += 10_000;
    expect(r.tuneOnce()).toBeUndefined();
    expect(r.tuner.arrivalCount).toBe(0);
  });
});

describe('router directory polls', () => {
  it('skips a poll tick while a read is still in flight', async () => {
    const directory = oneStage();
    let release: (() => void) | undefined;
    const read = directory.getServing.bind(directory);
    let reads = 0;
    directory.getServing = async (id: string): Promise<PipelineServing | undefined> => {
      reads++;
      // The first read (at start) answers; the next one hangs until released.
      if (reads === 2) await new Promise<void>((resolve) => (release = resolve));
      return read(id);
    };
    const sink = new FakeReportSink();
    const r = await router({ directory, pollIntervalMs: 5, reportIntervalMs: 5, reportSink: sink });
    // Reports tick at the same period as polls: many poll ticks have passed once several reports are in.
    await waitFor(() => sink.sent.length >= 10, 'ten report ticks');
    expect(reads).toBe(2);
    release?.();
    await waitFor(() => reads >= 3, 'polls resuming');
    await r.stop();
  });
});

describe('router body limits', () => {
  it('fails a chunked JSON upload over the JSON limit with 413 and closes the connection', async () => {
    const held = new HeldSender();
    const r = await router({ directory: oneStage(), send: held.send });
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const answer = await new Promise<{ status?: number; connection?: string; error?: string }>((resolve) => {
      let done = false;
      const req = request(`${r.url}/v1/pipelines/pipe/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      });
      req.on('response', (res) => {
        done = true;
        res.resume();
        resolve({ status: res.statusCode, connection: String(res.headers.connection) });
      });
      req.on('error', (e) => resolve({ error: e.message }));
      // 8 MiB of spaces: over the JSON limit, far under the binary one.
      let sent = 0;
      const pump = () => {
        while (!done && sent < 128) {
          sent++;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        if (!done) req.end();
      };
      pump();
    });
    expect(answer).toEqual({ status: 413, connection: 'close' });
    expect(held.sent).toHaveLength(0);
  });
});
