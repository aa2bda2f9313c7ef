import { Agent, request } from 'node:http';
import { getPriority, setPriority } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RouterHandle, startRouter } from '../../agent/router/index.ts';
import type { PipelineRouter } from '../../agent/router/pipeline-router.ts';
import type { StageProfile } from '../../lib/core/inference/profiles.ts';
import { percentile, simulate } from '../../lib/core/inference/simulator.ts';
import { gammaTrace } from '../../lib/core/inference/traces.ts';
import type { ServingEndpoint } from '../../lib/core/model/pipeline-serving.ts';
import { ModelProfileSchema } from '../../lib/core/protocol/inference.ts';
import { modelTempDir, seededRandom, uniformInput, writeModel } from '../../lib/onnx/index.ts';
import {
  type BatchTimings,
  children,
  convStack,
  cpuSample,
  firstLine,
  foreignShare,
  IO_DIMS,
  type LoggedBatch,
  MAX_BATCH,
  overheads,
  profileMeanMs,
  raisePriority,
  record,
  runToEnd,
  SLO_MS,
  type Stage,
  servedProfile,
  spreads,
  timedBatches,
  tsx,
} from './router-sim-vs-live-support.ts';

/**
 * The estimator against the live serving path: a real 2-stage pipeline (two stacks of convolutions, the
 * second on the first's output) served by two model servers in their own processes behind the router,
 * one replica per stage, a seeded Gamma trace replayed open-loop. The live P99 (the router's own
 * end-to-end measure) must be within 15% of `simulate()`'s P99 on the same trace and configuration.
 *
 * The estimator runs twice on each trace, with two sources of batch times; the queueing, the batching and
 * the P99 are its own both times, and it replays the arrivals as the load generator sent them.
 * - **Timed** (the 15% verdict): each batch takes as long as the live batch of its stage and size that was
 *   sent nearest in time to it (`batchTimeMs`). This checks the serving model itself (one EDF queue per
 *   stage, a free replica pulls up to max batch, a batch's queries move on together) with the batch times
 *   this machine produced when it produced them.
 * - **Profiled** (a looser bound, PROFILED_TOLERANCE): service(b) = (profile mean(b) + overhead(b)) x an
 *   independent draw from spread(b). profile mean(b) is profile mode's (the profile CLI, run here) mean
 *   `session.run` time of a batch of b; overhead(b) the router's mean round trip of batches of b over the
 *   compared run minus that (the HTTP round trip and what sharing the cores costs); spread(b) how those
 *   round trips varied around their mean (201 quantiles, `ProfilePoint.spread`). Both come from the same
 *   run because this machine's load drifts between runs.
 * Why the verdict is on the timed run: on this 2-core machine batch times are not independent. The two
 * servers, the router and the load generator share two cores, so a burst, which keeps both stages busy,
 * slows the batches it queues (stage a's batch of 1: 17.6-19.9 ms while a batch of b ran, 16.3-18.4 ms
 * otherwise, in four traces) and slow batches come in runs (lag-1 autocorrelation 0.16-0.18). Independent
 * draws spread that slowness over the trace; the queues behind bursts are longer live. Over those four
 * traces the timed estimator was 0.6-1.7% off the live P99, the profiled one 1.3-21% (pooled 4%); in one
 * CI run the profiled one was 22-23% off on three traces of four (pooled 17.7%).
 *
 * This machine is shared: a run during which other processes took more than 40% of its CPU (read from
 * /proc) measures them, not the serving path. Such a run is printed and another seed runs, up to
 * MAX_ATTEMPTS runs; the first CLEAN_RUNS undisturbed runs decide, pooled, and if too few are undisturbed
 * the test fails saying so. The figures of every run are printed.
 */

/**
 * The load, as the slower stage's utilisation at batch 1 by its profile: the arrival rate follows from
 * the profile measured here, so that a slower or faster machine sees the same moderate load rather than
 * the same rate. 50 qps, where stage a ran a batch of 1 in 6.2 ms, was 0.31. On a machine where it took
 * 11.1 ms, 50 qps was 0.56 and put the P99 near the knee of the queueing curve, where the shared
 * machine's slow batches decide it: single traces came out 6-72% off the estimator there.
 */
const LOAD = 0.3;
const CV = 4;
/** Queries per measured trace (its length follows the rate), so that each run's P99 rests on as many. */
const MEASURED_QUERIES = 3000;
/** The longest measured trace, whatever the rate: MAX_ATTEMPTS of them must fit the test's time. */
const MAX_MEASURED_SECONDS = 120;
/** Runs tried before giving up on finding enough that other work did not disturb. */
const MAX_ATTEMPTS = 6;
/**
 * Clean runs pooled for the verdict. Single 60 s traces have measured from -18% to +23% against the
 * estimator, with no lean either way; two pooled still came to +15.5% once. Four pooled put ~120 tail
 * queries under the P99.
 */
const CLEAN_RUNS = 4;
/** A run counts only if other processes used at most this share of the machine's CPU meanwhile. */
const MAX_FOREIGN_CPU = 0.4;
const WARMUP_SECONDS = 5;
/** The timed estimator's pooled P99 against the live one. */
const TOLERANCE = 0.15;
/**
 * The profiled estimator's: independent batch times miss the machine's correlated slowness (file comment),
 * so its bound is wider; it still fails a profile or overhead that is off by a margin.
 */
const PROFILED_TOLERANCE = 0.3;

let router: RouterHandle | undefined;
/** The router's log lines (failed batches, failed queries), for a failure message. */
const routerLog: string[] = [];
let cleanup: (() => Promise<void>) | undefined;

/** Replay arrivals open-loop: each query is sent at its time, whether or not earlier ones answered. */
async function replay(
  url: string,
  trace: Float64Array,
  dims: number[],
): Promise<{
  totalMs: number[];
  sentMs: Float64Array;
  /** performance.now() at trace time 0. */
  originMs: number;
  failed: number;
  /** Why each failed query failed (its status and answer, or the socket error), for the failure message. */
  failures: string[];
  router: PipelineRouter;
}> {
  const agent = new Agent({ keepAlive: true, maxSockets: 512 });
  const perRow = dims.reduce((a, b) => a * b, 1);
  const bodies = Array.from({ length: 16 }, (_, i) => {
    const data = uniformInput(seededRandom(100 + i), perRow);
    return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  });
  const totalMs = new Array<number>(trace.length).fill(Number.NaN);
  // When each query actually left: the trace as delivered, which the estimator replays.
  const sentMs = new Float64Array(trace.length);
  let failed = 0;
  const failures: string[] = [];
  const pending: Promise<void>[] = [];
  const send = (i: number) =>
    new Promise<void>((resolve) => {
      const body = bodies[i % bodies.length] as Buffer;
      const req = request(
        url,
        {
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/octet-stream',
            'content-length': body.byteLength,
            'x-tensor-dims': [1, ...dims].join(','),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            if (res.statusCode === 200) totalMs[i] = Number(res.headers['x-total-ms']);
            else {
              failed++;
              failures.push(
                `query ${i}: ${res.statusCode} ${Buffer.concat(chunks).toString('utf8').slice(0, 200)}`,
              );
            }
            resolve();
          });
        },
      );
      req.on('error', (e) => {
        failed++;
        failures.push(`query ${i}: ${e.message}`);
        resolve();
      });
      req.end(body);
    });
  const start = performance.now();
  let next = 0;
  while (next < trace.length) {
    const now = performance.now() - start;
    while (next < trace.length && (trace[next] as number) <= now) {
      sentMs[next] = Math.max(trace[next] as number, performance.now() - start);
      pending.push(send(next++));
    }
    if (next < trace.length) {
      const wait = (trace[next] as number) - (performance.now() - start);
      if (wait > 1) await new Promise((r) => setTimeout(r, wait - 0.5));
      else await new Promise((r) => setImmediate(r));
    }
  }
  await Promise.all(pending);
  agent.destroy();
  // Sends in order, each no earlier than its trace time: sorted, as the estimator needs.
  for (let i = 1; i < sentMs.length; i++) sentMs[i] = Math.max(sentMs[i] as number, sentMs[i - 1] as number);
  return { totalMs, sentMs, originMs: start, failed, failures, router: (router as RouterHandle).router };
}

describe('router against the estimator', () => {
  const stages: Stage[] = [];
  /** Set from the profiles: LOAD over the slower stage's batch-1 time. */
  let ratePerSecond = 0;
  let measuredSeconds = 0;

  const ownPriority = getPriority();

  beforeAll(async () => {
    raisePriority(process.pid);
    const dir = await modelTempDir();
    cleanup = dir.cleanup;
    stages.push(
      { id: 'a', path: await writeModel(join(dir.dir, 'a.onnx'), convStack(128, 6, 5)), dims: IO_DIMS },
      { id: 'b', path: await writeModel(join(dir.dir, 'b.onnx'), convStack(128, 4, 6)), dims: IO_DIMS },
    );
    for (const s of stages) {
      const text = await runToEnd('agent/model-server/profile-cli.ts', [
        ...['--model', s.path, '--model-id', s.id, '--max-batch', String(MAX_BATCH), '--threads', '1'],
        ...[
          '--provider',
          'cpu',
          '--min-samples',
          '50',
          '--min-duration-ms',
          '1000',
          '--instance-type',
          'local',
        ],
      ]);
      s.profile = ModelProfileSchema.parse(JSON.parse(text));
    }
    const batchOneMs = Math.max(
      ...stages.map((s) => profileMeanMs(s.profile!.entries.find((e) => e.batchSize === 1)!)),
    );
    ratePerSecond = (LOAD * 1000) / batchOneMs;
    measuredSeconds = Math.min(MAX_MEASURED_SECONDS, Math.ceil(MEASURED_QUERIES / ratePerSecond));
    for (const s of stages) {
      const server = tsx('agent/model-server/serve-cli.ts', [
        ...[
          '--model',
          s.path,
          '--model-id',
          s.id,
          '--max-batch',
          String(MAX_BATCH),
          '--max-queue-delay-ms',
          '0',
        ],
        ...['--threads', '1', '--provider', 'cpu'],
      ]);
      s.url = (await firstLine<{ url: string }>(server)).url;
    }
  });

  afterAll(async () => {
    await router?.stop();
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await cleanup?.();
    try {
      setPriority(0, ownPriority);
    } catch {
      // Lowering back may be refused without privileges; the process ends with the suite anyway.
    }
  });

  /** A router over the fixed configuration; the profiles only size its (unused) tuner basis. */
  async function serve(profiles: Record<string, StageProfile>, trace: Float64Array, log: LoggedBatch[] = []) {
    const rec = record(stages, profiles, trace);
    const endpoints: ServingEndpoint[] = stages.map((s) => ({
      pipelineId: rec.pipelineId,
      stageId: s.id,
      jobId: `replica-${s.id}`,
      taskIndex: 0,
      attempt: 1,
      instanceId: 'local',
      url: `${s.url}/v1/models/${s.id}`,
      since: 1,
    }));
    await router?.stop();
    router = await startRouter({
      pipelineId: rec.pipelineId,
      directory: { getServing: async () => ({ record: rec, endpoints }) },
      host: '127.0.0.1',
      pollIntervalMs: 0,
      reportIntervalMs: 0,
      tunerIntervalMs: 0,
      queueBound: 100_000,
      onBatch: (stage, size, sentAtMs, ms) => log.push({ stage, size, sentAtMs, ms }),
      log: (line) => routerLog.push(line),
    });
    return { rec, router, url: `${router.url}/v1/pipelines/${rec.pipelineId}/infer` };
  }

  /** One open-loop run and the estimator on the arrivals as they were sent. */
  async function attempt(seed: number) {
    const dims = stages[0]?.dims ?? [];
    const segment = { ratePerSecond, cv: CV };
    const profileOnly = Object.fromEntries(stages.map((s) => [s.id, servedProfile(s, new Map())]));
    // Warm-up: JIT, connections and the servers' first batches of each size are not what is compared.
    const warmupTrace = gammaTrace({ ...segment, durationSeconds: WARMUP_SECONDS }, seed + 1000);
    await replay((await serve(profileOnly, warmupTrace)).url, warmupTrace, dims);

    const trace = gammaTrace({ ...segment, durationSeconds: measuredSeconds }, seed);
    const batches: LoggedBatch[] = [];
    const { rec, url } = await serve(profileOnly, trace, batches);
    const cpuBefore = cpuSample();
    const live = await replay(url, trace, dims);
    const foreignCpu = foreignShare(cpuBefore, cpuSample());
    const seen = (live.router.status() as { batchMs: BatchTimings }).batchMs;
    const overhead = Object.fromEntries(stages.map((s) => [s.id, overheads(s, seen[s.id])]));
    const spread = (s: Stage) =>
      spreads(s, seen[s.id], (size) => live.router.stats.batchQuantiles(s.id, size));
    const profiles = Object.fromEntries(
      stages.map((s) => [s.id, servedProfile(s, overhead[s.id] as Map<number, number>, spread(s))]),
    );
    const estimate = {
      pipeline: rec.spec,
      config: rec.plan?.config ?? {},
      profileOf: (id: string) => profiles[id] as StageProfile,
      arrivalsMs: live.sentMs,
      sloMs: SLO_MS,
    };
    const timed = timedBatches(batches, live.originMs);
    // Batches of a size the live run never sent at a stage take the profile's time; counted, to show.
    let profiledBatches = 0;
    const sim = simulate({
      ...estimate,
      batchTimeMs: (stage, size, atMs) => {
        const ms = timed(stage, size, atMs);
        if (ms === undefined) profiledBatches++;
        return ms;
      },
    });
    const profiled = simulate(estimate);
    const liveLatency = Float64Array.from(live.totalMs);
    const liveP99 = percentile(liveLatency, 99);
    const simP99 = percentile(sim.latenciesMs, 99);
    const profiledP99 = percentile(profiled.latenciesMs, 99);
    const round = (v: number | undefined) => (v === undefined ? v : Math.round(v * 1000) / 1000);
    return {
      liveLatency,
      simLatency: sim.latenciesMs,
      profiledLatency: profiled.latenciesMs,
      seed,
      ratePerSecond: round(ratePerSecond),
      queries: trace.length,
      failed: live.failed,
      failures: [...live.failures.slice(0, 5), ...routerLog.splice(0).slice(-5)],
      foreignCpu: round(foreignCpu),
      liveP50: round(percentile(liveLatency, 50)),
      liveP99: round(liveP99),
      simP50: round(percentile(sim.latenciesMs, 50)),
      simP99: round(simP99),
      error: round(Math.abs(liveP99 - simP99) / simP99) as number,
      profiledP50: round(percentile(profiled.latenciesMs, 50)),
      profiledP99: round(profiledP99),
      profiledError: round(Math.abs(liveP99 - profiledP99) / profiledP99),
      profiledBatches,
      simMeanBatch: Object.fromEntries(stages.map((s) => [s.id, round(sim.stages[s.id]?.meanBatch)])),
      profileMeanMs: Object.fromEntries(
        stages.map((s) => [s.id, s.profile?.entries.map((e) => round(profileMeanMs(e)))]),
      ),
      overheadMs: Object.fromEntries(
        stages.map((s) => [s.id, [...(overhead[s.id]?.values() ?? [])].map(round)]),
      ),
      liveBatchMs: seen,
    };
  }

  it('keeps the live P99 within 15% of the simulated P99 on the same seeded Gamma traces', async () => {
    // A run during which other work took much of this machine's CPU measures that work, not the serving
    // path: it is reported and another seed runs. The first CLEAN_RUNS clean runs decide, pooled: the P99
    // of one 3,000-query CV 4 trace rests on ~30 tail queries, too few to judge a 15% bound on their own.
    const runs: Awaited<ReturnType<typeof attempt>>[] = [];
    const clean = () => runs.filter((r) => r.foreignCpu === undefined || r.foreignCpu <= MAX_FOREIGN_CPU);
    for (let i = 0; i < MAX_ATTEMPTS && clean().length < CLEAN_RUNS; i++) {
      const run = await attempt(7 + i);
      runs.push(run);
      const { liveLatency: _live, simLatency: _sim, profiledLatency: _profiled, ...shown } = run;
      process.stderr.write(`router sim-vs-live ${JSON.stringify(shown)}\n`);
    }
    const decisive = clean().slice(0, CLEAN_RUNS);
    expect(
      decisive.length,
      `other work used more than ${MAX_FOREIGN_CPU * 100}% of the CPU in too many runs: ${runs.map((r) => r.foreignCpu).join(', ')}`,
    ).toBe(CLEAN_RUNS);
    for (const r of decisive) expect(r.failed, JSON.stringify(r.failures)).toBe(0);
    const pooled = (pick: (r: (typeof decisive)[number]) => Float64Array) =>
      Float64Array.from(decisive.flatMap((r) => [...pick(r)]));
    const liveP99 = percentile(
      pooled((r) => r.liveLatency),
      99,
    );
    const simP99 = percentile(
      pooled((r) => r.simLatency),
      99,
    );
    const profiledP99 = percentile(
      pooled((r) => r.profiledLatency),
      99,
    );
    process.stderr.write(
      `router sim-vs-live pooled: live P99 ${liveP99} ms, simulated ${simP99} ms (timed), ${profiledP99} ms (profiled)\n`,
    );
    expect(Math.abs(liveP99 - simP99) / simP99).toBeLessThanOrEqual(TOLERANCE);
    expect(Math.abs(liveP99 - profiledP99) / profiledP99).toBeLessThanOrEqual(PROFILED_TOLERANCE);
  }, 1_200_000);
});
