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
import { cpus, loadavg } from 'node:os';
import { env as ortEnv } from 'onnxruntime-node';
import { modelTempDir } from '../lib/onnx/index.ts';
import { httpLatency, httpSaturate } from './agent/http.ts';
import { overhead, saturate } from './agent/in-process.ts';
import { log, TARGET_MS } from './agent/shared.ts';
import { sizeModel } from './agent/sizing.ts';
import { writeResultFile } from './results-file.ts';

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

const round = (x: number, digits = 3) => Number(x.toFixed(digits));

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
    const json = JSON.stringify(result, null, 2);
    process.stdout.write(`${json}\n`);
    if (args.write) log(`wrote ${writeResultFile('agent.json', json)}`);
  } finally {
    await cleanup();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
