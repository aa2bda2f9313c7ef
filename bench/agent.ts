/**
 * Agent serving benchmark, on a real MLP built at start and sized so that one batch-1 run takes 2-5 ms
 * on this machine (the first candidate in that range; the measured figure is in the output):
 *   - serving overhead in-process: raw `session.run` against the same run through the dynamic batcher at
 *     batch 1 (maxBatch 1, no delay, no HTTP), interleaved in rounds so that both see the same noise;
 *   - latency added end to end over loopback HTTP (binary and JSON forms, one request in flight);
 *   - throughput at saturation (64 requests always outstanding) with maxBatch 1 against dynamic batching,
 *     in-process and over loopback HTTP from a separate load-generating process.
 *
 *   npm run bench:agent                       # JSON on stdout and in bench/results/agent.json
 *   options: --threads N (onnxruntime intra-op threads, default 1)  --quick  --no-write
 *
 * Progress goes to stderr. Targets (checked in `targets`, not asserted): p99 overhead <= 5%, batching
 * speedup >= 3x.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { env as ortEnv, Tensor } from 'onnxruntime-node';
import { ModelEngine } from '../agent/model-server/engine.ts';
import { startModelServer } from '../agent/model-server/index.ts';
import { percentile } from '../agent/model-server/profile.ts';
import { type LoadedModel, loadModel } from '../agent/model-server/session.ts';
import {
  type BuiltMlp,
  buildMlp,
  type MlpSpecInput,
  modelTempDir,
  seededRandom,
  uniformInput,
  writeModel,
} from '../lib/onnx/index.ts';

interface Args {
  readonly threads: number;
  readonly quick: boolean;
  readonly write: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const i = argv.indexOf('--threads');
  return {
    threads: i >= 0 ? Number(argv[i + 1]) : 1,
    quick: argv.includes('--quick'),
    write: !argv.includes('--no-write'),
  };
}

const log = (msg: string) => process.stderr.write(`[bench:agent] ${msg}\n`);
const round = (x: number, digits = 3) => Number(x.toFixed(digits));
const sorted = (xs: readonly number[]) => [...xs].sort((a, b) => a - b);
const INPUT = 1024;
const OUTPUT = 256;
const TARGET_MS: readonly [number, number] = [2, 5];

async function timeRuns(model: LoadedModel, x: Float32Array, runs: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await model.session.run({ x: new Tensor('float32', x, [1, INPUT]) });
    out.push(performance.now() - t0);
  }
  return out;
}

/**
 * Widen the hidden layers until a batch-1 run's median lands in 2-5 ms, preferring one of at least
 * 2.5 ms so that noise does not push the pick out of the range.
 */
async function sizeModel(
  dir: string,
  threads: number,
): Promise<{ mlp: BuiltMlp; path: string; model: LoadedModel; p50: number }> {
  const x = uniformInput(seededRandom(1), INPUT);
  let best: { mlp: BuiltMlp; path: string; model: LoadedModel; p50: number } | undefined;
  for (const width of [1024, 1536, 2048, 2560, 3072, 3584, 4096, 5120, 6144]) {
    const spec: MlpSpecInput = {
      inputSize: INPUT,
      hiddenSizes: [width, width],
      outputSize: OUTPUT,
      activation: 'relu',
      seed: 1,
    };
    const mlp = buildMlp(spec);
    const path = await writeModel(join(dir, `mlp-${width}.onnx`), mlp.bytes);
    const model = await loadModel(path, { provider: 'auto', intraOpThreads: threads, log });
    await timeRuns(model, x, 10);
    const p50 = percentile(sorted(await timeRuns(model, x, 40)), 50);
    log(`candidate hidden ${width}x2: batch-1 p50 ${p50.toFixed(3)} ms`);
    const inRange = p50 >= (TARGET_MS[0] as number) && p50 <= (TARGET_MS[1] as number);
    const closer = !best || Math.abs(p50 - 3.5) < Math.abs(best.p50 - 3.5);
    if (closer) {
      if (best) await best.model.session.release();
      best = { mlp, path, model, p50 };
    } else {
      await model.session.release();
    }
    if ((inRange && p50 >= 2.5) || p50 > (TARGET_MS[1] as number)) break;
  }
  if (!best) throw new Error('no candidate model was measured');
  return best;
}

/**
 * Raw session.run against the batcher at batch 1 on the same session, alternating request by request
 * (raw, served, served, raw, ...) so that both sides see the same machine noise.
 */
async function overhead(model: LoadedModel, pairs: number) {
  const engine = new ModelEngine(model, {
    maxBatch: 1,
    maxQueueDelayMs: 0,
    queueCapacity: 16,
    concurrentRunners: 1,
  });
  const x = uniformInput(seededRandom(2), INPUT);
  const raw: number[] = [];
  const served: number[] = [];
  const timeRaw = async () => {
    const t0 = performance.now();
    await model.session.run({ x: new Tensor('float32', x, [1, INPUT]) });
    return performance.now() - t0;
  };
  const timeServed = async () => {
    const t0 = performance.now();
    await engine.infer({ x: { dims: [1, INPUT], data: x } });
    return performance.now() - t0;
  };
  for (let i = 0; i < 50; i++) {
    await timeRaw();
    await timeServed();
  }
  for (let i = 0; i < pairs; i++) {
    if (i % 2 === 0) {
      raw.push(await timeRaw());
      served.push(await timeServed());
    } else {
      served.push(await timeServed());
      raw.push(await timeRaw());
    }
  }
  await engine.close();
  const rawS = sorted(raw);
  const servedS = sorted(served);
  const diffs = sorted(served.map((v, i) => v - (raw[i] as number)));
  return {
    samples: raw.length,
    rawP50Ms: percentile(rawS, 50),
    rawP99Ms: percentile(rawS, 99),
    servedP50Ms: percentile(servedS, 50),
    servedP99Ms: percentile(servedS, 99),
    pairedMedianAddedMs: percentile(diffs, 50),
  };
}

/** Client-measured latency over loopback HTTP, one request in flight, binary and JSON forms. */
async function httpLatency(path: string, threads: number, requests: number) {
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

/** Completions per second with `outstanding` requests always in flight, for `durationMs`. */
async function saturate(model: LoadedModel, maxBatch: number, outstanding: number, durationMs: number) {
  const engine = new ModelEngine(model, {
    maxBatch,
    maxQueueDelayMs: 2,
    queueCapacity: outstanding * 2,
    concurrentRunners: 1,
  });
  const inputs = Array.from({ length: outstanding }, (_, i) => uniformInput(seededRandom(100 + i), INPUT));
  let done = 0;
  // Each request of a batch of n adds 1/n, so this sums to the number of batches measured.
  let batches = 0;
  let measuring = false;
  const warmupEnd = performance.now() + Math.min(500, durationMs / 4);
  let start = 0;
  const end = warmupEnd + durationMs;
  const worker = async (i: number) => {
    while (performance.now() < end) {
      const { timing } = await engine.infer({ x: { dims: [1, INPUT], data: inputs[i] as Float32Array } });
      if (!measuring && performance.now() >= warmupEnd) {
        measuring = true;
        start = performance.now();
      }
      if (measuring) {
        done++;
        batches += 1 / timing.batchSize;
      }
    }
  };
  await Promise.all(inputs.map((_, i) => worker(i)));
  const elapsed = performance.now() - start;
  await engine.close();
  return { qps: (done * 1000) / elapsed, requests: done, meanBatch: batches > 0 ? done / batches : 0 };
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
async function httpSaturate(
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

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const { dir, cleanup } = await modelTempDir('tetrafleet-bench-agent-');
  const loadBefore = loadavg()[0] ?? 0;
  try {
    log(
      `sizing the MLP for a ${TARGET_MS[0]}-${TARGET_MS[1]} ms batch-1 run (intra-op threads ${args.threads})`,
    );
    const { mlp, path, model, p50 } = await sizeModel(dir, args.threads);
    log(
      `model: hidden ${mlp.spec.hiddenSizes.join('x')}, ${mlp.macsPerRow} MACs per row, batch-1 p50 ${p50.toFixed(3)} ms on ${model.provider}`,
    );

    const pairs = args.quick ? 300 : 2000;
    log(`overhead: ${pairs} raw runs and ${pairs} served runs, alternating`);
    const ov = await overhead(model, pairs);
    log(
      `raw p50 ${ov.rawP50Ms.toFixed(3)} p99 ${ov.rawP99Ms.toFixed(3)}; served p50 ${ov.servedP50Ms.toFixed(3)} p99 ${ov.servedP99Ms.toFixed(3)}`,
    );

    const httpRequests = args.quick ? 100 : 400;
    log(`http: ${httpRequests} binary and ${httpRequests} JSON requests over loopback`);
    const http = await httpLatency(path, args.threads, httpRequests);
    log(`http binary p50 ${http.binaryP50Ms.toFixed(3)} ms, json p50 ${http.jsonP50Ms.toFixed(3)} ms`);

    const durationMs = args.quick ? 1500 : 4000;
    log(`saturation: 64 outstanding for ${durationMs} ms at maxBatch 1`);
    const single = await saturate(model, 1, 64, durationMs);
    log(`maxBatch 1: ${single.qps.toFixed(0)} qps`);
    log(`saturation: 64 outstanding for ${durationMs} ms at maxBatch 32`);
    const batched = await saturate(model, 32, 64, durationMs);
    log(`maxBatch 32: ${batched.qps.toFixed(0)} qps, mean batch ${batched.meanBatch.toFixed(1)}`);
    await model.session.release();
    log(`http saturation: 32 connections from another process for ${durationMs} ms at maxBatch 1 and 32`);
    const httpSingle = await httpSaturate(path, args.threads, 1, 32, durationMs);
    const httpBatched = await httpSaturate(path, args.threads, 32, 32, durationMs);
    log(`http maxBatch 1: ${httpSingle.qps.toFixed(0)} qps; maxBatch 32: ${httpBatched.qps.toFixed(0)} qps`);

    const p99OverheadPct = ((ov.servedP99Ms - ov.rawP99Ms) / ov.rawP99Ms) * 100;
    const batchingSpeedup = batched.qps / single.qps;
    const result = {
      model: {
        kind: 'mlp',
        inputSize: mlp.spec.inputSize,
        hiddenSizes: mlp.spec.hiddenSizes,
        outputSize: mlp.spec.outputSize,
        activation: mlp.spec.activation,
        macsPerRow: mlp.macsPerRow,
        bytes: mlp.bytes.byteLength,
        batch1RunP50Ms: round(p50),
      },
      device: {
        cpu: cpus()[0]?.model ?? 'unknown',
        logicalCores: cpus().length,
        provider: model.provider,
        ...(model.fallbackReason ? { providerNote: model.fallbackReason } : {}),
        intraOpThreads: args.threads,
        onnxruntime: ortEnv.versions.node ?? 'unknown',
        node: process.version,
        // Other work on the machine moves the tails; the 1-minute load average before and after says how much.
        loadAverage1m: { before: round(loadBefore, 2), after: round(loadavg()[0] ?? 0, 2) },
      },
      samples: {
        overheadPerSide: ov.samples,
        httpPerForm: httpRequests,
        saturationMs: durationMs,
        outstanding: 64,
      },
      rawP50Ms: round(ov.rawP50Ms),
      rawP99Ms: round(ov.rawP99Ms),
      servedP50Ms: round(ov.servedP50Ms),
      servedP99Ms: round(ov.servedP99Ms),
      p50OverheadPct: round(((ov.servedP50Ms - ov.rawP50Ms) / ov.rawP50Ms) * 100, 2),
      p99OverheadPct: round(p99OverheadPct, 2),
      // Median of (served - raw) over adjacent pairs: the overhead with most of the machine's noise cancelled.
      servedPairedMedianAddedMs: round(ov.pairedMedianAddedMs, 4),
      servedPairedMedianAddedPct: round((ov.pairedMedianAddedMs / ov.rawP50Ms) * 100, 2),
      httpP50Ms: round(http.binaryP50Ms),
      httpP99Ms: round(http.binaryP99Ms),
      httpAddedP50Ms: round(http.binaryP50Ms - ov.rawP50Ms),
      httpAddedP99Ms: round(http.binaryP99Ms - ov.rawP99Ms),
      httpJsonP50Ms: round(http.jsonP50Ms),
      httpJsonAddedP50Ms: round(http.jsonP50Ms - ov.rawP50Ms),
      httpServerTotalP50Ms: round(http.serverTotalP50Ms),
      batch1Throughput: round(single.qps, 1),
      batchedThroughput: round(batched.qps, 1),
      batchedMaxBatch: 32,
      batchedMeanBatch: round(batched.meanBatch, 2),
      batchingSpeedup: round(batchingSpeedup, 2),
      httpBatch1Throughput: round(httpSingle.qps, 1),
      httpBatchedThroughput: round(httpBatched.qps, 1),
      httpBatchedMeanBatch: round(httpBatched.meanBatch, 2),
      httpBatchingSpeedup: round(httpBatched.qps / httpSingle.qps, 2),
      httpShed: httpSingle.shed + httpBatched.shed,
      targets: {
        p99OverheadPctAtMost: 5,
        p99OverheadMet: p99OverheadPct <= 5,
        batchingSpeedupAtLeast: 3,
        batchingSpeedupMet: batchingSpeedup >= 3,
        batch1RunMsRange: TARGET_MS,
        batch1RunInRange: p50 >= (TARGET_MS[0] as number) && p50 <= (TARGET_MS[1] as number),
      },
      measuredAt: new Date().toISOString(),
    };
    const text = `${JSON.stringify(result, null, 2)}\n`;
    process.stdout.write(text);
    if (args.write) {
      const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'agent.json');
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, text);
      log(`wrote ${out}`);
    }
  } finally {
    await cleanup();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
