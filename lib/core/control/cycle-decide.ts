/**
 * Step 6 of a schedule cycle: turn a placement plan into the commands the executor applies. Pure.
 *
 * The plan is trusted for *what* goes *where*; this step adds what the plan leaves open (GPU indices on
 * existing instances, launch tokens, the job's next state) and checks once more, against the stored
 * tasks, that no instance is over-committed in the slot the commits start in. A job that fails that
 * check is skipped whole (a gang is all or nothing) and comes back next cycle.
 */
import { findInstanceType } from '../model/catalog.ts';
import type { Instance } from '../model/instance.ts';
import type { Market } from '../model/instance-type.ts';
import type { Job } from '../model/job.ts';
import type { Placement, PlacementTarget } from '../model/placement.ts';
import { fits, type Resources, subtractResources } from '../model/resources.ts';
import type { PlacementPlan } from '../placement/types.ts';
import type { LaunchRequest } from '../ports.ts';
import type { RunTaskInput } from '../protocol/tasks.ts';
import { freeBySlot, pickGpuIndices, tasksByInstance } from './capacity.ts';
import type { CycleConfig } from './cycle-config.ts';
import type { Housekeeping, PlanningView } from './cycle-housekeeping.ts';
import { expectedEndOf, runTaskFor } from './run-task.ts';

export interface LaunchOrder {
  readonly type: string;
  readonly market: Market;
  /**
   * Plan indices (of `new` targets with this type and market) that the instances launched stand for, in
   * order: the i-th instance that comes back is `indices[i]`. Only indices a kept commit uses are here.
   */
  readonly indices: readonly number[];
  readonly request: LaunchRequest;
}

export interface PlannedTask {
  readonly taskIndex: number;
  readonly attempt: number;
  readonly alternative: number;
  readonly target: PlacementTarget;
  /** The market of the instance it lands on (for a new one, the market asked for; spot may fall back). */
  readonly market: Market;
  readonly resources: Resources;
  readonly gpuIndices: readonly number[];
  readonly startAt: number;
  readonly expectedEndAt: number;
  readonly runTask: RunTaskInput;
}

export interface CommitOrder {
  /** The job as read; the commit is conditional on its status and version. */
  readonly job: Job;
  readonly to: 'PLACED' | 'LAUNCHING';
  readonly tasks: readonly PlannedTask[];
}

export interface SkippedJob {
  readonly jobId: string;
  readonly reason: string;
}

export interface PlanSummary {
  readonly engine: PlacementPlan['engine'];
  readonly solveMs: number;
  readonly gap?: number;
  readonly objective: number;
  readonly unplaced: Readonly<Record<string, string>>;
  readonly notes: readonly string[];
}

/** Everything one cycle will do, decided before anything is done. */
export interface CycleDecision extends Housekeeping {
  readonly cycleId: string;
  readonly now: number;
  readonly launches: readonly LaunchOrder[];
  readonly commits: readonly CommitOrder[];
  /** Idle instances the plan retires, each with no active task and nothing committed to it. */
  readonly terminations: readonly {
    readonly instanceId: string;
    readonly version: number;
    readonly queueUrl?: string;
    readonly reason: string;
  }[];
  readonly skipped: readonly SkippedJob[];
  readonly plan?: PlanSummary;
}

/** Launch token for one type and market in one cycle: a retried cycle asks for the same instances. */
export function launchToken(cycleId: string, type: string, market: Market): string {
  return `${cycleId}:${type}:${market}`;
}

/** Key of one concrete host: an instance id, or a new instance by type, market and index. */
export function hostKey(target: PlacementTarget): string {
  return target.kind === 'existing'
    ? `existing:${target.instanceId}`
    : `new:${target.type}:${target.market}:${target.index}`;
}

interface Host {
  free: Resources;
  gpus: number;
  usedGpus: Set<number>;
  booting: boolean;
  market: Market;
}

/** Free capacity now (slot 0) and GPU indices in use, per live instance. */
function existingHosts(view: PlanningView, config: CycleConfig, now: number): Map<string, Host> {
  const grid = { now, slotSeconds: config.slotSeconds, slots: 1 };
  const byInstance = tasksByInstance(view.tasks);
  const hosts = new Map<string, Host>();
  for (const inst of view.instances) {
    const tasks = byInstance.get(inst.id) ?? [];
    hosts.set(hostKey({ kind: 'existing', instanceId: inst.id }), {
      free: freeBySlot(inst.capacity, tasks, grid)[0]!,
      gpus: inst.capacity.gpus,
      usedGpus: new Set(tasks.flatMap((t) => t.gpuIndices)),
      booting: inst.state !== 'RUNNING',
      market: inst.market,
    });
  }
  return hosts;
}

function newHost(target: Extract<PlacementTarget, { kind: 'new' }>): Host | undefined {
  const type = findInstanceType(target.type);
  if (!type) return undefined;
  const capacity = { vcpu: type.vcpu, memoryMiB: type.memoryMiB, gpus: type.gpus };
  return { free: capacity, gpus: type.gpus, usedGpus: new Set(), booting: true, market: target.market };
}

/** Reserves one job's tasks on copies of the hosts it touches; the reason when something does not fit. */
function reserve(
  job: Job,
  placements: readonly Placement[],
  hosts: Map<string, Host>,
): { tasks: PlannedTask[]; touched: Map<string, Host>; booting: boolean } | string {
  const touched = new Map<string, Host>();
  const tasks: PlannedTask[] = [];
  let booting = false;
  for (const p of placements) {
    const key = hostKey(p.target);
    const base =
      touched.get(key) ?? hosts.get(key) ?? (p.target.kind === 'new' ? newHost(p.target) : undefined);
    if (!base) return `task ${p.taskIndex} targets ${key}, which is not a live instance`;
    const host = { ...base, usedGpus: new Set(base.usedGpus) };
    if (!fits(p.resources, host.free))
      return `task ${p.taskIndex} would over-commit ${key} (needs ${JSON.stringify(p.resources)}, free ${JSON.stringify(host.free)})`;
    const gpuIndices = pickGpuIndices(p.resources.gpus, host.gpus, host.usedGpus);
    if (!gpuIndices)
      return `task ${p.taskIndex} needs ${p.resources.gpus} GPUs but ${key} has no free indices`;
    host.free = subtractResources(host.free, p.resources);
    for (const g of gpuIndices) host.usedGpus.add(g);
    touched.set(key, host);
    booting ||= host.booting;
    const runTask = runTaskFor(job, { ...p, gpuIndices });
    // The plan ends every run after its alternative's duration; serving runs until cancelled.
    tasks.push({
      ...p,
      market: host.market,
      gpuIndices,
      expectedEndAt: expectedEndOf(job, p.expectedEndAt),
      runTask,
    });
  }
  return { tasks, touched, booting };
}

function commitsFrom(view: PlanningView, plan: PlacementPlan, config: CycleConfig, now: number) {
  const hosts = existingHosts(view, config, now);
  const jobs = new Map(view.jobs.map((j) => [j.id, j]));
  const byJob = new Map<string, Placement[]>();
  for (const p of plan.placements) byJob.set(p.jobId, [...(byJob.get(p.jobId) ?? []), p]);
  const commits: CommitOrder[] = [];
  const skipped: SkippedJob[] = [];
  for (const [jobId, placements] of byJob) {
    const job = jobs.get(jobId);
    if (!job) {
      skipped.push({ jobId, reason: 'planned but not among the pending jobs read' });
      continue;
    }
    const sorted = [...placements].sort((a, b) => a.taskIndex - b.taskIndex);
    const r = reserve(job, sorted, hosts);
    if (typeof r === 'string') {
      skipped.push({ jobId, reason: r });
      continue;
    }
    for (const [key, host] of r.touched) hosts.set(key, host);
    commits.push({ job, to: r.booting ? 'LAUNCHING' : 'PLACED', tasks: r.tasks });
  }
  return { commits, skipped };
}

/**
 * Only as many new instances as the kept commits use; a launch nothing uses is dropped. A skipped job can
 * leave a gap in the plan's indices, so the indices used are listed rather than counted from the first.
 */
function launchesFor(plan: PlacementPlan, commits: readonly CommitOrder[], cycleId: string): LaunchOrder[] {
  const out: LaunchOrder[] = [];
  for (const l of plan.launches) {
    const used = new Set<number>();
    for (const c of commits)
      for (const t of c.tasks)
        if (t.target.kind === 'new' && t.target.type === l.type && t.target.market === l.market)
          used.add(t.target.index);
    const indices = [...used].sort((a, b) => a - b);
    if (indices.length === 0) continue;
    const type = findInstanceType(l.type);
    out.push({
      type: l.type,
      market: l.market,
      indices,
      request: {
        token: launchToken(cycleId, l.type, l.market),
        instanceTypes: [l.type],
        market: l.market,
        // A job that may use spot may also use on-demand; spot is only the cheaper way.
        onDemandFallback: l.market === 'spot',
        count: indices.length,
        template: (type?.gpus ?? 0) > 0 ? 'gpu' : 'cpu',
        tags: { 'tetrafleet:cycle': cycleId },
      },
    });
  }
  return out;
}

function terminationsFor(view: PlanningView, plan: PlacementPlan, commits: readonly CommitOrder[]) {
  const busy = new Set(view.tasks.map((t) => t.instanceId));
  for (const c of commits)
    for (const t of c.tasks) if (t.target.kind === 'existing') busy.add(t.target.instanceId);
  const live = new Map<string, Instance>(view.instances.map((i) => [i.id, i]));
  return plan.terminations.flatMap((t) => {
    const inst = live.get(t.instanceId);
    if (!inst || busy.has(t.instanceId)) return [];
    return [{ instanceId: inst.id, version: inst.version, queueUrl: inst.queueUrl, reason: t.reason }];
  });
}

export interface DecideInput {
  readonly cycleId: string;
  readonly now: number;
  readonly config: CycleConfig;
  readonly view: PlanningView;
  readonly housekeeping: Housekeeping;
  /** Absent when there was nothing to plan. */
  readonly plan?: PlacementPlan;
}

export function decideCycle(input: DecideInput): CycleDecision {
  const { cycleId, now, config, view, housekeeping, plan } = input;
  const placed = plan ? commitsFrom(view, plan, config, now) : { commits: [], skipped: [] };
  return {
    ...housekeeping,
    cycleId,
    now,
    launches: plan ? launchesFor(plan, placed.commits, cycleId) : [],
    commits: placed.commits,
    terminations: plan ? terminationsFor(view, plan, placed.commits) : [],
    skipped: [...view.skipped, ...placed.skipped],
    plan: plan && {
      engine: plan.engine,
      solveMs: plan.solveMs,
      gap: plan.gap,
      objective: plan.objective,
      unplaced: plan.unplaced,
      notes: plan.notes,
    },
  };
}
