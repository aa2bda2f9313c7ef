/**
 * Helpers of the router-against-estimator test (router-sim-vs-live.test.ts): the child processes it
 * starts (profiles, model servers) at a raised priority, the convolution stacks it serves, the estimator's
 * per-stage profiles built from what the router measured, and the machine's CPU use read from /proc.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import type { BatchTiming } from '../../agent/router/stats.ts';
import type { StageProfile } from '../../lib/core/inference/profiles.ts';
import { tunerBasis } from '../../lib/core/inference/tuner.ts';
import type { PipelineRecord } from '../../lib/core/model/pipeline-serving.ts';
import type { ModelProfile } from '../../lib/core/protocol/inference.ts';
import {
  batchedValueInfo,
  encodeModel,
  floatTensor,
  glorotUniform,
  type NodeProto,
  node,
  seededRandom,
  type TensorProto,
} from '../../lib/onnx/index.ts';

/** Batches of 1 and 2: both profiled, so the estimator never rounds a batch up to a larger size. */
export const MAX_BATCH = 2;
/** Enough batches of a size to trust its mean round trip. */
const MIN_BATCHES = 30;
/** Stage input and output: 4 channels of 32x32 (16 KiB per query). */
export const IO_DIMS = [4, 32, 32];
export const SLO_MS = 10_000;

/** Every child started (profiles, servers): stopped when the suite ends, counted as ours by cpuSample. */
export const children: ChildProcess[] = [];

/**
 * The router, the load generator and both model servers run at this niceness, ahead of other work on the
 * machine. Not real-time: under SCHED_RR, with more runnable threads (servers, libuv, GC) than cores, a
 * server thread waited out whole 100 ms round-robin slices. Batches of 92 to 119 ms against a 9 ms median
 * put the live P99 15-41% above the estimator's; at nice -10 the slowest batch was 32 ms.
 */
const NICE_PRIORITY = -10;

function tool(name: string): string | undefined {
  return ['/usr/bin', '/bin'].map((d) => `${d}/${name}`).find((p) => existsSync(p));
}

/** Raise the priority of a running process (the router's, here); false if refused. */
export function raisePriority(pid: number): boolean {
  try {
    setPriority(pid, NICE_PRIORITY);
    return true;
  } catch {
    return false;
  }
}

/** A command prefix that starts a child at the raised priority (plain where `nice` is missing). */
function priorityPrefix(): string[] {
  const nice = tool('nice');
  return nice ? [nice, '-n', String(NICE_PRIORITY)] : [];
}

export function tsx(script: string, args: string[]): ChildProcess {
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
export function runToEnd(script: string, args: string[]): Promise<string> {
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
export function firstLine<T>(child: ChildProcess): Promise<T> {
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
export function convStack(width: number, layers: number, seed: number): Uint8Array {
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

export interface Stage {
  readonly id: string;
  readonly path: string;
  readonly dims: number[];
  url?: string;
  profile?: ModelProfile;
}

export type BatchTimings = Record<string, Record<number, BatchTiming>>;

/** The profile's mean time of a batch of b: batches ran back to back, so b / throughput. */
export function profileMeanMs(e: ModelProfile['entries'][number]): number {
  return (e.batchSize * 1000) / e.throughputQps;
}

/** For each profiled batch size, the nearest size (itself first) of which the run saw enough batches. */
function nearestSeen(stage: Stage, seen: Record<number, BatchTiming> | undefined): Map<number, number> {
  const entries = stage.profile?.entries ?? [];
  const known = entries.map((e) => e.batchSize).filter((b) => (seen?.[b]?.count ?? 0) >= MIN_BATCHES);
  if (known.length === 0) throw new Error(`the run saw too few batches at stage ${stage.id}`);
  return new Map(
    entries.map((e) => {
      const d = (b: number) => Math.abs(b - e.batchSize);
      return [e.batchSize, [...known].sort((x, y) => d(x) - d(y))[0] as number];
    }),
  );
}

/**
 * Overhead per profiled batch size: the router's mean round trip minus the profile mean. A size with too
 * few batches takes the overhead of the nearest size that has enough.
 */
export function overheads(stage: Stage, seen: Record<number, BatchTiming> | undefined): Map<number, number> {
  const entries = new Map((stage.profile?.entries ?? []).map((e) => [e.batchSize, e]));
  return new Map(
    [...nearestSeen(stage, seen)].map(([size, from]) => {
      const e = entries.get(from) as ModelProfile['entries'][number];
      return [size, Math.max(0, (seen?.[from]?.meanMs ?? 0) - profileMeanMs(e))];
    }),
  );
}

/**
 * Spread per profiled batch size: the router's round trips of that size as quantiles over their mean
 * (`ProfilePoint.spread`), from the nearest size with enough batches, as for the overhead.
 */
export function spreads(
  stage: Stage,
  seen: Record<number, BatchTiming> | undefined,
  quantilesOf: (size: number) => number[] | undefined,
): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const [size, from] of nearestSeen(stage, seen)) {
    const q = quantilesOf(from);
    const mean = seen?.[from]?.meanMs;
    if (q && mean)
      out.set(
        size,
        q.map((v) => Math.max(v / mean, 1e-6)),
      );
  }
  return out;
}

/**
 * The estimator's profile of a stage: profile mean plus overhead at each profiled batch size, and the
 * batch times' spread around it where one is given.
 */
export function servedProfile(
  stage: Stage,
  overhead: Map<number, number>,
  spread: Map<number, number[]> = new Map(),
): StageProfile {
  return {
    modelId: stage.id,
    instanceType: 'local',
    source: { kind: 'measured' },
    points: (stage.profile?.entries ?? []).map((e) => {
      const latencyMs = profileMeanMs(e) + (overhead.get(e.batchSize) ?? 0);
      const s = spread.get(e.batchSize);
      return {
        batchSize: e.batchSize,
        latencyMs,
        throughputQps: (e.batchSize * 1000) / latencyMs,
        ...(s ? { spread: s } : {}),
      };
    }),
  };
}

export function record(
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

/** CPU time of the whole machine and of this process and its children (Linux /proc; undefined elsewhere). */
export function cpuSample(): { busy: number; total: number; ours: number } | undefined {
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
export function foreignShare(
  before: ReturnType<typeof cpuSample>,
  after: ReturnType<typeof cpuSample>,
): number | undefined {
  if (!before || !after || after.total <= before.total) return undefined;
  return Math.max(0, after.busy - before.busy - (after.ours - before.ours)) / (after.total - before.total);
}

/** One batch the router answered: stage, size, when it was sent (performance.now ms), its round trip. */
export interface LoggedBatch {
  readonly stage: string;
  readonly size: number;
  readonly sentAtMs: number;
  readonly ms: number;
}

/**
 * The live run's batch times as the estimator's `batchTimeMs`: a batch of `size` at `stage` starting at
 * `atMs` (trace time, 0 at `originMs`) takes as long as the live batch of that stage and size sent nearest
 * in time to it. Undefined (the profile's time) for a size the run never sent at that stage.
 */
export function timedBatches(
  log: readonly LoggedBatch[],
  originMs: number,
): (stage: string, size: number, atMs: number) => number | undefined {
  const bySize = new Map<string, LoggedBatch[]>();
  for (const b of log) {
    const key = `${b.stage}/${b.size}`;
    const list = bySize.get(key);
    if (list) list.push(b);
    else bySize.set(key, [b]);
  }
  for (const list of bySize.values()) list.sort((x, y) => x.sentAtMs - y.sentAtMs);
  return (stage, size, atMs) => {
    const list = bySize.get(`${stage}/${size}`);
    if (!list) return undefined;
    const at = originMs + atMs;
    let lo = 0;
    let hi = list.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((list[mid] as LoggedBatch).sentAtMs < at) lo = mid + 1;
      else hi = mid;
    }
    const after = list[lo] as LoggedBatch;
    const before = list[lo - 1];
    return before && at - before.sentAtMs < after.sentAtMs - at ? before.ms : after.ms;
  };
}
