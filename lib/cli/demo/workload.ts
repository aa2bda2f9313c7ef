import type { JobSpecInput } from '../../core/model/job.ts';
import { mulberry32 } from '../../core/random.ts';

/**
 * The demo's workload: a seeded mix that looks like a small team's day compressed into minutes.
 * - deadline jobs with a fast GPU alternative and a slower CPU one (the planner chooses),
 * - CPU-only deadline jobs,
 * - FIFO batch jobs (no deadline),
 * - one gang of two tasks that must start together.
 * Every task is a real process: a short CPU loop, then a sleep, 2-20 s in all. A task placed on a GPU
 * (the agent sets CUDA_VISIBLE_DEVICES) takes the GPU alternative's shorter time.
 * Deadlines count the planner's view of boot times (catalog: 60 s for c7i, 150 s for g5/g6), although
 * local instances boot in a few seconds.
 */

export interface PlannedJob {
  /** When to submit, ms after the demo's workload starts. */
  readonly atMs: number;
  readonly kind: 'gpu-or-cpu' | 'cpu-deadline' | 'fifo' | 'gang';
  readonly spec: JobSpecInput;
}

export interface WorkloadOptions {
  readonly seed: number;
  /** Seconds over which submissions are spread (the demo's duration). */
  readonly durationSeconds: number;
  /** @default 60 */
  readonly jobs?: number;
  /** The node binary tasks run. @default process.execPath */
  readonly node?: string;
}

/** mulberry32: tiny, fast and good enough to make a workload repeatable from a seed. */
export const seededRandom: (seed: number) => () => number = mulberry32;

/**
 * The task script: busy-loop for a fifth of its time (real CPU work, kept small because the local fleet
 * shares this machine's cores), then sleep the rest. On a GPU it runs for `gpuSeconds` instead.
 */
const SCRIPT = [
  'const [cpu, gpu] = process.argv.slice(1).map(Number);',
  "const secs = (process.env.CUDA_VISIBLE_DEVICES ?? '') !== '' ? gpu : cpu;",
  'const end = Date.now() + secs * 200; let x = 0;',
  'while (Date.now() < end) for (let i = 0; i < 1e4; i++) x += Math.sqrt(i);',
  "setTimeout(() => console.log('done', secs, 's', x > 0), secs * 800);",
].join(' ');

function task(node: string, cpuSeconds: number, gpuSeconds = cpuSeconds): JobSpecInput['task'] {
  return { kind: 'command', command: node, args: ['-e', SCRIPT, String(cpuSeconds), String(gpuSeconds)] };
}

const OWNERS = ['vision', 'nlp', 'recsys', 'speech'];

/** Mix per 60 jobs: 24 GPU-or-CPU, 16 CPU deadline, 19 FIFO, 1 gang; scaled for other counts. */
function kindFor(i: number, total: number): PlannedJob['kind'] {
  if (i === Math.floor(total / 3)) return 'gang';
  const r = (i * 37) % 60;
  if (r < 24) return 'gpu-or-cpu';
  if (r < 40) return 'cpu-deadline';
  return 'fifo';
}

function specFor(kind: PlannedJob['kind'], i: number, rand: () => number, node: string): JobSpecInput {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const between = (lo: number, hi: number) => Math.round(lo + rand() * (hi - lo));
  const owner = pick(OWNERS);
  const name = `${kind}-${String(i).padStart(2, '0')}`;
  switch (kind) {
    case 'gpu-or-cpu': {
      // Training-style work: seconds on a GPU, minutes by the planner's estimate on CPUs, so only the GPU
      // way meets the deadline once a GPU instance's catalog boot time (150 s) is counted. On the local
      // fleet a CPU run is capped at 20 s so that the demo stays short.
      const gpu = between(2, 5);
      return {
        name,
        owner,
        priority: pick([1, 2, 2, 4]),
        task: task(node, Math.min(20, gpu * 4), gpu),
        alternatives: [
          { name: 'gpu', requirement: { vcpu: 1, memoryMiB: 2048, gpus: 1 }, durationSeconds: gpu },
          { name: 'cpu', requirement: { vcpu: 2, memoryMiB: 2048 }, durationSeconds: gpu * 40 },
        ],
        utility: {
          deadlineSeconds: between(170, 230),
          value: between(60, 150),
          decay: { shape: 'linear', overSeconds: 60 },
        },
        labels: { kind },
      };
    }
    case 'cpu-deadline': {
      const secs = between(3, 15);
      return {
        name,
        owner,
        task: task(node, secs),
        alternatives: [{ requirement: { vcpu: 1, memoryMiB: 1024 }, durationSeconds: secs }],
        utility: {
          deadlineSeconds: between(30, 90),
          value: between(5, 30),
          decay: { shape: 'linear', overSeconds: 180 },
        },
        labels: { kind },
      };
    }
    case 'fifo': {
      const secs = between(2, 12);
      return {
        name,
        owner,
        policy: 'fifo',
        task: task(node, secs),
        alternatives: [{ requirement: { vcpu: 1, memoryMiB: 512, spot: true }, durationSeconds: secs }],
        labels: { kind },
      };
    }
    case 'gang': {
      const secs = between(6, 10);
      return {
        name,
        owner,
        gang: 2,
        task: task(node, secs),
        alternatives: [{ requirement: { vcpu: 1, memoryMiB: 1024 }, durationSeconds: secs }],
        utility: { deadlineSeconds: 120, value: 50, decay: { shape: 'linear', overSeconds: 180 } },
        labels: { kind },
      };
    }
  }
}

/**
 * Jobs and their submission times, sorted by time. Submissions arrive in small bursts over the first
 * 60% of the duration so that the last ones can still finish inside it.
 */
export function buildWorkload(options: WorkloadOptions): PlannedJob[] {
  const rand = seededRandom(options.seed);
  const total = Math.max(1, options.jobs ?? 60);
  const node = options.node ?? process.execPath;
  const window = Math.max(1, options.durationSeconds * 0.6) * 1000;
  const jobs: PlannedJob[] = [];
  for (let i = 0; i < total; i++) {
    const kind = kindFor(i, total);
    // Bursts: jobs cluster around a few arrival waves, as when a team kicks off runs together.
    const wave = Math.floor(rand() * 5) / 5;
    const atMs = Math.round(Math.min(window, (wave + rand() * 0.15) * window));
    jobs.push({ atMs, kind, spec: specFor(kind, i, rand, node) });
  }
  return jobs.sort((a, b) => a.atMs - b.atMs);
}
