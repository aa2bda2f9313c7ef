import type { TaskRecord } from '../core/control/task-record.ts';
import { isActiveTask } from '../core/control/task-record.ts';
import { findInstanceType } from '../core/model/catalog.ts';
import { INSTANCE_STATES, type Instance } from '../core/model/instance.ts';
import type { Job, PolicyName } from '../core/model/job.ts';
import { isTerminal } from '../core/model/job-state.ts';
import type { CycleRecord } from '../core/ports.ts';

/**
 * One consistent-enough picture of a fleet, read at `at` (epoch ms): what the live view, `fleet`,
 * `explain` and the HTML report render. Reading it is the only I/O; everything below it is pure.
 */
export interface FleetSnapshot {
  readonly at: number;
  /** Every job, oldest submission first. */
  readonly jobs: Job[];
  /** Instances in every state, TERMINATED included. */
  readonly instances: Instance[];
  /** Task records of every job, all attempts. */
  readonly tasks: TaskRecord[];
  /** Recent schedule cycles, newest first. */
  readonly cycles: CycleRecord[];
}

/**
 * The reads a snapshot needs. `CliSource` (lib/cli/source.ts) satisfies it; naming only these calls
 * keeps the collector testable with small fakes.
 */
export interface SnapshotSource {
  readonly client: {
    listJobs(query: { limit?: number; cursor?: string }): Promise<{ jobs: Job[]; cursor?: string }>;
  };
  readonly adapters: {
    readonly jobs: { recent(limit: number): Promise<CycleRecord[]> };
    readonly fleetStore: {
      listInstances(states?: readonly Instance['state'][]): Promise<Instance[]>;
      tasksOfJob(jobId: string): Promise<TaskRecord[]>;
    };
  };
}

export interface SnapshotOptions {
  /** @default Date.now */
  readonly now?: () => number;
  /** @default 500 */
  readonly cycleLimit?: number;
  /**
   * The previous snapshot: tasks of jobs that cannot have changed since (terminal then, or pending at
   * the same version) are reused instead of read again, which keeps a once-a-second refresh cheap as
   * finished or waiting jobs pile up.
   */
  readonly previous?: FleetSnapshot;
  /** Parallel task reads. @default 8 */
  readonly concurrency?: number;
}

const PAGE = 100;
/** A runaway cursor loop would otherwise hang a live view; no local demo comes near this. */
const MAX_PAGES = 1000;

export async function takeSnapshot(
  source: SnapshotSource,
  options: SnapshotOptions = {},
): Promise<FleetSnapshot> {
  const at = (options.now ?? Date.now)();
  const [jobs, instances, cycles] = await Promise.all([
    listAllJobs(source),
    source.adapters.fleetStore.listInstances(INSTANCE_STATES),
    source.adapters.jobs.recent(options.cycleLimit ?? 500),
  ]);
  const tasks = await tasksOfJobs(source, jobs, options);
  instances.sort((a, b) => a.launchedAt - b.launchedAt || a.id.localeCompare(b.id));
  return { at, jobs, instances, tasks, cycles };
}

async function listAllJobs(source: SnapshotSource): Promise<Job[]> {
  const byId = new Map<string, Job>();
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const out = await source.client.listJobs({ limit: PAGE, cursor });
    for (const job of out.jobs) byId.set(job.id, job);
    cursor = out.cursor;
    if (!cursor) break;
  }
  return [...byId.values()].sort((a, b) => a.submittedAt - b.submittedAt || a.id.localeCompare(b.id));
}

/**
 * Task records of every job. From a previous snapshot, a job's tasks are reused where they cannot have
 * changed: the job was terminal then, or it is PENDING now and was PENDING at the same version then (a
 * requeue settles the old attempt's tasks before the job goes back to PENDING, and an old attempt's task
 * events are stale). A backlog of pending jobs then costs the once-a-second refresh nothing: read each
 * time, they loaded a local emulator enough to delay the heartbeats the fleet lives by.
 */
async function tasksOfJobs(source: SnapshotSource, jobs: readonly Job[], options: SnapshotOptions) {
  const reusable = new Map<string, TaskRecord[]>();
  const previous = options.previous;
  if (previous) {
    const before = new Map(previous.jobs.map((j) => [j.id, j]));
    const unchanged = new Set(
      jobs
        .filter((j) => {
          const then = before.get(j.id);
          if (!then) return false;
          if (isTerminal(then.status)) return true;
          return then.status === 'PENDING' && j.status === 'PENDING' && then.version === j.version;
        })
        .map((j) => j.id),
    );
    for (const id of unchanged) reusable.set(id, []);
    for (const t of previous.tasks) reusable.get(t.jobId)?.push(t);
  }
  const toRead = jobs.filter((j) => !reusable.has(j.id));
  const read = await mapLimit(toRead, options.concurrency ?? 8, (j) =>
    source.adapters.fleetStore.tasksOfJob(j.id),
  );
  const all = [...[...reusable.values()].flat(), ...read.flat()];
  return all.sort(
    (a, b) => a.startAt - b.startAt || a.jobId.localeCompare(b.jobId) || a.taskIndex - b.taskIndex,
  );
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

// ---- Pure helpers shared by the views ----

/** Instances that cost money now: launched and not yet terminated. */
export function liveInstances(instances: readonly Instance[]): Instance[] {
  return instances.filter((i) => i.state !== 'TERMINATED');
}

/** Catalog price of one instance in its market, $/h; 0 for a type the catalog does not know. */
export function pricePerHour(instance: Pick<Instance, 'type' | 'market'>): number {
  const type = findInstanceType(instance.type);
  if (!type) return 0;
  return instance.market === 'spot' ? type.spotPerHour : type.onDemandPerHour;
}

/** What the live fleet costs per hour at catalog prices. */
export function fleetCostPerHour(instances: readonly Instance[]): number {
  return liveInstances(instances).reduce((sum, i) => sum + pricePerHour(i), 0);
}

export interface Utilisation {
  readonly vcpu: number;
  readonly memory: number;
  readonly gpus: number;
  /** The busiest dimension: what limits further placement. */
  readonly max: number;
}

/** Fraction (0..1) of each capacity dimension held by the instance's active tasks. */
export function utilisationOf(instance: Instance, tasks: readonly TaskRecord[]): Utilisation {
  let vcpu = 0;
  let memory = 0;
  let gpus = 0;
  for (const t of tasks) {
    if (t.instanceId !== instance.id || !isActiveTask(t)) continue;
    vcpu += t.resources.vcpu;
    memory += t.resources.memoryMiB;
    gpus += t.resources.gpus;
  }
  const frac = (used: number, cap: number) => (cap > 0 ? Math.min(1, used / cap) : 0);
  const u = {
    vcpu: frac(vcpu, instance.capacity.vcpu),
    memory: frac(memory, instance.capacity.memoryMiB),
    gpus: frac(gpus, instance.capacity.gpus),
  };
  return { ...u, max: Math.max(u.vcpu, u.memory, u.gpus) };
}

/** A job with a deadline met it when it SUCCEEDED within `deadlineSeconds` of submission. */
export function metDeadline(job: Job): boolean | undefined {
  const deadline = job.spec.utility?.deadlineSeconds;
  if (deadline === undefined) return undefined;
  if (job.status !== 'SUCCEEDED' || job.finishedAt === undefined) return false;
  return job.finishedAt - job.submittedAt <= deadline * 1000;
}

export interface Attainment {
  /** Finished jobs that carry a deadline. */
  readonly total: number;
  readonly met: number;
  /** met / total, or undefined when no finished job has a deadline. */
  readonly ratio: number | undefined;
}

export interface AttainmentByPolicy extends Attainment {
  readonly byPolicy: Partial<Record<PolicyName, Attainment>>;
}

/**
 * Deadline attainment over jobs that are finished (terminal) and carry a deadline; jobs still running
 * are left out because they may yet make it.
 */
export function deadlineAttainment(jobs: readonly Job[]): AttainmentByPolicy {
  const counts = new Map<PolicyName, { total: number; met: number }>();
  for (const job of jobs) {
    if (!isTerminal(job.status)) continue;
    const met = metDeadline(job);
    if (met === undefined) continue;
    const c = counts.get(job.spec.policy) ?? { total: 0, met: 0 };
    c.total += 1;
    if (met) c.met += 1;
    counts.set(job.spec.policy, c);
  }
  const ratio = (c: { total: number; met: number }) => (c.total > 0 ? c.met / c.total : undefined);
  const byPolicy: Partial<Record<PolicyName, Attainment>> = {};
  let total = 0;
  let met = 0;
  for (const [policy, c] of counts) {
    byPolicy[policy] = { ...c, ratio: ratio(c) };
    total += c.total;
    met += c.met;
  }
  return { total, met, ratio: ratio({ total, met }), byPolicy };
}

/** Jobs per status, every status present (zero when none). */
export function jobsByState(jobs: readonly Job[]): Record<Job['status'], number> {
  const out = {
    PENDING: 0,
    PLACED: 0,
    LAUNCHING: 0,
    RUNNING: 0,
    SUCCEEDED: 0,
    FAILED: 0,
    CANCELLED: 0,
    EXPIRED: 0,
  } satisfies Record<Job['status'], number>;
  for (const j of jobs) out[j.status] += 1;
  return out;
}
