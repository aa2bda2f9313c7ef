import type { Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActiveRequests } from '../../../agent/http-util.ts';
import { ModelEngine } from '../../../agent/model-server/engine.ts';
import { createModelHttpServer } from '../../../agent/model-server/http-server.ts';
import { loadModel } from '../../../agent/model-server/session.ts';
import { createRouterHttpServer } from '../../../agent/router/http-server.ts';
import { PipelineRouter } from '../../../agent/router/pipeline-router.ts';
import { buildMlp, modelTempDir, writeModel } from '../../../lib/onnx/index.ts';
import { until } from './model-server/helpers.ts';
import { endpoint, HeldSender, servingRecord } from './router/helpers.ts';

/**
 * The HTTP surfaces of the model server and the router, driven as a demanding client would: wrong
 * methods, odd headers, uploads that expect 100-continue, and uploads cut short. Both servers run on
 * loopback with the requests they are answering and their logs in view.
 */

const WIDTH = 8;

interface Target {
  readonly name: string;
  readonly port: number;
  readonly healthz: string;
  /** The GET route of the served thing (model metadata, pipeline status). */
  readonly resource: string;
  readonly infer: string;
  readonly logs: string[];
  readonly active: ActiveRequests;
  readonly server: Server;
}

const targets: Target[] = [];
let cleanup: (() => Promise<void>) | undefined;
const closers: (() => Promise<void>)[] = [];

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

beforeAll(async () => {
  const dir = await modelTempDir();
  cleanup = dir.cleanup;
  const mlp = buildMlp({ inputSize: WIDTH, hiddenSizes: [8], outputSize: 3, seed: 2 });
  const path = await writeModel(join(dir.dir, 'm.onnx'), mlp.bytes);

  const model = await loadModel(path, { provider: 'cpu', intraOpThreads: 1, log: () => {} });
  const engine = new ModelEngine(model, {
    maxBatch: 4,
    maxQueueDelayMs: 0,
    queueCapacity: 16,
    concurrentRunners: 1,
  });
  const modelLogs: string[] = [];
  const modelActive = new ActiveRequests();
  const modelServer = createModelHttpServer({
    modelId: 'm',
    engine,
    metadata: () => ({ modelId: 'm' }),
    stopping: () => false,
    log: (m) => modelLogs.push(m),
    active: modelActive,
  });
  const modelPort = await listen(modelServer);
  closers.push(async () => {
    await close(modelServer);
    await engine.close(false);
    await model.session.release();
  });
  targets.push({
    name: 'model server',
    port: modelPort,
    healthz: '/healthz',
    resource: '/v1/models/m',
    infer: '/v1/models/m/infer',
    logs: modelLogs,
    active: modelActive,
    server: modelServer,
  });

  const held = new HeldSender();
  held.autoRelease = true;
  const routerLogs: string[] = [];
  const router = new PipelineRouter({
    pipelineId: 'pipe',
    send: held.send,
    now: () => performance.now(),
    seed: 1,
    dropExpired: true,
    batchTimeoutMs: 60_000,
    replicaCooldownMs: 60_000,
    retryAfterSeconds: 1,
    log: (m) => routerLogs.push(m),
  });
  router.apply({
    record: servingRecord({ stages: [{ id: 'a', maxBatch: 4 }] }),
    endpoints: [endpoint('a', 'http://a1', 1)],
  });
  const routerActive = new ActiveRequests();
  const routerServer = createRouterHttpServer({
    pipelineId: 'pipe',
    router,
    stopping: () => false,
    log: (m) => routerLogs.push(m),
    active: routerActive,
  });
  const routerPort = await listen(routerServer);
  closers.push(async () => {
    router.close();
    await close(routerServer);
  });
  targets.push({
    name: 'router',
    port: routerPort,
    healthz: '/healthz',
    resource: '/v1/pipelines/pipe',
    infer: '/v1/pipelines/pipe/infer',
    logs: routerLogs,
    active: routerActive,
    server: routerServer,
  });
});

afterAll(async () => {
  for (const c of closers.splice(0)) await c();
  await cleanup?.();
});

function target(name: string): Target {
  const t = targets.find((x) => x.name === name);
  if (!t) throw new Error(`no target ${name}`);
  return t;
}

const url = (t: Target, path: string) => `http://127.0.0.1:${t.port}${path}`;

/** A good binary query; every test ends by checking that one still gets its answer. */
async function goodQuery(t: Target): Promise<number> {
  const res = await fetch(url(t, t.infer), {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'x-tensor-dims': `1,${WIDTH}` },
    body: Buffer.alloc(WIDTH * 4),
  });
  await res.arrayBuffer();
  return res.status;
}

/** A raw connection: what was written back so far, and whether the server closed it. */
function rawConnection(port: number): { socket: Socket; text: () => string; closed: () => boolean } {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  let closed = false;
  socket.on('data', (d: Buffer) => {
    text += d.toString('latin1');
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
  });
  return { socket, text: () => text, closed: () => closed };
}

function binaryHead(path: string, contentLength: number, extra = ''): string {
  return (
    `POST ${path} HTTP/1.1\r\nhost: test\r\ncontent-type: application/octet-stream\r\n` +
    `x-tensor-dims: 1,${WIDTH}\r\ncontent-length: ${contentLength}\r\n${extra}\r\n`
  );
}

describe.each(['model server', 'router'])('%s HTTP surface', (name) => {
  it('fails a wrong method with 405 and the Allow header on every route, and answers HEAD like GET', async () => {
    const t = target(name);
    const cases: [string, string, string][] = [
      ['POST', t.healthz, 'GET, HEAD'],
      ['DELETE', t.resource, 'GET, HEAD'],
      ['GET', t.infer, 'POST'],
      ['PUT', t.infer, 'POST'],
    ];
    for (const [method, path, allow] of cases) {
      const res = await fetch(url(t, path), { method });
      const body = (await res.json()) as { error: string };
      expect({ method, path, status: res.status, allow: res.headers.get('allow') }).toEqual({
        method,
        path,
        status: 405,
        allow,
      });
      expect(body.error).toBe(`method ${method} not allowed on ${path}; use ${allow.replace(', ', ' or ')}`);
    }
    for (const path of [t.healthz, t.resource]) {
      const head = await fetch(url(t, path), { method: 'HEAD' });
      expect({ path, status: head.status }).toEqual({ path, status: 200 });
      expect(await head.text()).toBe('');
    }
    expect(await goodQuery(t)).toBe(200);
  });

  it('refuses an upload over the body limit before inviting it with 100 Continue', async () => {
    const t = target(name);
    const c = rawConnection(t.port);
    c.socket.write(binaryHead(t.infer, 1024 * 1024 * 1024, 'expect: 100-continue\r\n'));
    await until(() => c.text().includes('\r\n\r\n'), 'the first answer');
    expect(c.text().split('\r\n')[0]).toBe('HTTP/1.1 413 Payload Too Large');
    await until(c.closed, 'the connection to close');
    c.socket.destroy();
    expect(await goodQuery(t)).toBe(200);
  });

  it('invites an upload it can take with 100 Continue, then answers it', async () => {
    const t = target(name);
    const c = rawConnection(t.port);
    c.socket.write(binaryHead(t.infer, WIDTH * 4, 'expect: 100-continue\r\n'));
    await until(() => c.text().includes('\r\n\r\n'), 'the interim answer');
    expect(c.text()).toBe('HTTP/1.1 100 Continue\r\n\r\n');
    c.socket.write(Buffer.alloc(WIDTH * 4));
    await until(() => c.text().split('\r\n\r\n').length >= 3, 'the final answer');
    expect(c.text().split('\r\n\r\n')[1]?.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    c.socket.destroy();
  });

  it('takes an upload the client cuts short as the client leaving: no failure logged, serving goes on', async () => {
    const t = target(name);
    const before = t.logs.length;
    const c = rawConnection(t.port);
    c.socket.write(binaryHead(t.infer, WIDTH * 4));
    c.socket.write(Buffer.alloc(10));
    await until(() => t.active.size === 1, 'the server to take the request');
    c.socket.destroy();
    await until(() => t.active.size === 0, 'the server to let the request go');
    // Whatever the request's end set off has run by the next turn of the event loop.
    await new Promise((resolve) => setImmediate(resolve));
    expect(t.logs.slice(before)).toEqual([]);
    expect(await goodQuery(t)).toBe(200);
  });

  it('names the content type it got, quoted, when it is empty', async () => {
    const t = target(name);
    const res = await fetch(url(t, t.infer), {
      method: 'POST',
      headers: { 'content-type': '' },
      body: '{}',
    });
    expect(res.status).toBe(415);
    expect(((await res.json()) as { error: string }).error).toBe(
      'content-type must be application/json or application/octet-stream, got ""',
    );
  });

  it('fails a compressed body with 415 naming Content-Encoding, not as malformed JSON', async () => {
    const t = target(name);
    const res = await fetch(url(t, t.infer), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]),
    });
    expect(res.status).toBe(415);
    expect(((await res.json()) as { error: string }).error).toBe(
      'content-encoding must be identity (or absent), got "gzip"; send the body uncompressed',
    );
    expect(await goodQuery(t)).toBe(200);
  });

  it('blames X-Tensor-Dims, not the body, when the dims describe more than any body may hold', async () => {
    const t = target(name);
    const res = await fetch(url(t, t.infer), {
      method: 'POST',
      headers: {
        'content-type': 'application/octet-stream',
        'x-tensor-dims': '999999999999999,999999999999999',
      },
      body: Buffer.alloc(WIDTH * 4),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { issues: unknown[] }).issues).toEqual([
      {
        path: 'X-Tensor-Dims',
        message:
          'describes 999999999999998000000000000001 float32 values, more than a body of at most ' +
          '67108864 bytes holds (16777216 values)',
      },
    ]);
  });
});

describe('JSON queries', () => {
  it('tells a dimension too large for an exact number from one that is not whole (model server)', async () => {
    const t = target('model server');
    const res = await fetch(url(t, t.infer), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"inputs":{"x":{"dims":[1e300,1.5],"data":[1]}}}',
    });
    expect(res.status).toBe(400);
    const issues = ((await res.json()) as { issues: { path: string; message: string }[] }).issues;
    expect(issues.filter((i) => i.path.startsWith('inputs.x.dims'))).toEqual([
      { path: 'inputs.x.dims.0', message: 'dims must be at most 9007199254740991' },
      { path: 'inputs.x.dims.1', message: 'dims must be integers' },
    ]);
  });

  it('says how many values the dims call for when the data holds another number (router)', async () => {
    const t = target('router');
    const res = await fetch(url(t, t.infer), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: { dims: [1, WIDTH], data: [1, 2, 3] } }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { issues: unknown[] }).issues).toEqual([
      { path: 'input.data', message: `data must hold ${WIDTH} values for dims [1, ${WIDTH}], got 3` },
    ]);
  });
});
