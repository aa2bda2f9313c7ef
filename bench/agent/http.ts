/** Measurements over loopback HTTP: single-request latency and saturation from a separate process. */
import { execFile } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { startModelServer } from '../../agent/model-server/index.ts';
import { percentile } from '../../agent/model-server/profile.ts';
import { seededRandom, uniformInput } from '../../lib/onnx/index.ts';
import { INPUT, log, sorted } from './shared.ts';

/** Client-measured latency over loopback HTTP, one request in flight, binary and JSON forms. */
export async function httpLatency(path: string, threads: number, requests: number) {
  const server = await startModelServer({
    modelPath: path,
    modelId: 'bench',
    host: '127.0.0.1',
    maxBatch: 1,
    maxQueueDelayMs: 0,
    intraOpThreads: threads,
    log,
  });
  const url = `${server.url}/v1/models/bench/infer`;
  const x = uniformInput(seededRandom(3), INPUT);
  const body = Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  const json = JSON.stringify({ inputs: { x: { dims: [1, INPUT], data: Array.from(x) } } });
  const binary: number[] = [];
  const text: number[] = [];
  for (let i = 0; i < requests + 20; i++) {
    let t0 = performance.now();
    const b = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'x-tensor-dims': `1,${INPUT}` },
      body,
    });
    await b.arrayBuffer();
    if (i >= 20) binary.push(performance.now() - t0);
    t0 = performance.now();
    const j = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: json,
    });
    await j.json();
    if (i >= 20) text.push(performance.now() - t0);
    if (!b.ok || !j.ok) throw new Error(`http request failed: ${b.status} / ${j.status}`);
  }
  const serverTotal = server.stats().total;
  await server.stop();
  const binS = sorted(binary);
  const jsonS = sorted(text);
  return {
    binaryP50Ms: percentile(binS, 50),
    binaryP99Ms: percentile(binS, 99),
    jsonP50Ms: percentile(jsonS, 50),
    jsonP99Ms: percentile(jsonS, 99),
    serverTotalP50Ms: serverTotal.p50Ms,
  };
}

/**
 * Load generator for HTTP saturation, run in a child process so that the client's work does not share
 * the server's event loop: `connections` loops each keep one binary request in flight until `ms` pass.
 */
const LOAD_GENERATOR = `
const [url, connections, ms, size] = process.argv.slice(1);
const body = Buffer.from(new Float32Array(Number(size)).fill(0.25).buffer);
const headers = { 'content-type': 'application/octet-stream', 'x-tensor-dims': '1,' + size };
const end = performance.now() + Number(ms);
let ok = 0, shed = 0;
const loop = async () => {
  while (performance.now() < end) {
    const res = await fetch(url, { method: 'POST', headers, body });
    await res.arrayBuffer();
    if (res.status === 200) ok++; else shed++;
  }
};
const start = performance.now();
await Promise.all(Array.from({ length: Number(connections) }, loop));
console.log(JSON.stringify({ ok, shed, ms: performance.now() - start }));
`;

/** Completions per second over loopback HTTP with `connections` requests in flight from another process. */
export async function httpSaturate(
  path: string,
  threads: number,
  maxBatch: number,
  connections: number,
  durationMs: number,
) {
  const server = await startModelServer({
    modelPath: path,
    modelId: 'bench',
    host: '127.0.0.1',
    maxBatch,
    maxQueueDelayMs: 2,
    queueCapacity: connections * 2,
    intraOpThreads: threads,
    log: () => {},
  });
  try {
    const args = [
      '--input-type=module',
      '-e',
      LOAD_GENERATOR,
      `${server.url}/v1/models/bench/infer`,
      String(connections),
      String(durationMs),
      String(INPUT),
    ];
    const { stdout } = await promisify(execFile)(process.execPath, args);
    const out = JSON.parse(stdout) as { ok: number; shed: number; ms: number };
    const batches = server.stats().batchSizes;
    const rows = batches.reduce((n, b) => n + b.size * b.count, 0);
    const count = batches.reduce((n, b) => n + b.count, 0);
    return { qps: (out.ok * 1000) / out.ms, shed: out.shed, meanBatch: count > 0 ? rows / count : 0 };
  } finally {
    await server.stop();
  }
}
