/**
 * From a packed fleet to a PlacementPlan: choose the cheapest alive pattern for new instances, verify,
 * score with the STRL semantics, and split what starts now (commit) from what is planned later.
 */
import type { Placement, PlacementTarget } from '../model/placement.ts';
import { evaluate, leaves } from '../strl/expr.ts';
import { capsHold, spanOf } from './capacity.ts';
import { explain } from './explain.ts';
import type { Fleet, LaunchPool } from './fleet.ts';
import type { PreparedJobs } from './jobs.ts';
import type { Packer } from './pack.ts';
import type { NewHost, PlacedTask } from './pack-types.ts';
import { bootingCounts, cheapestPattern, launchesOf, patternCost } from './pool-cost.ts';
import { seniorsFirst } from './seniority.ts';
import type {
  FuturePlacement,
  Launch,
  PendingJob,
  PlacementInput,
  PlacementPlan,
  PlanEngine,
  Repair,
  Termination,
} from './types.ts';
import { verifyTasks } from './verify.ts';

export interface PlanContext {
  readonly input: PlacementInput;
  readonly fleet: Fleet;
  readonly prepared: PreparedJobs;
  readonly jobs: ReadonlyMap<string, PendingJob>;
}

/** A verified, scored packing. */
export interface Outcome {
  readonly tasks: readonly PlacedTask[];
  readonly pattern: ReadonlyMap<string, readonly number[]>;
  readonly utility: number;
  readonly cost: number;
  readonly objective: number;
  readonly repairs: readonly Repair[];
  /** Job id -> why the packer gave up on it (repair deferrals, not worth the cost). */
  readonly dropped: ReadonlyMap<string, string>;
}

export interface PlanMeta {
  readonly engine: PlanEngine;
  readonly solveMs: number;
  readonly model: { readonly variables: number; readonly rows: number };
  readonly gap?: number;
  readonly solverObjective?: number;
  readonly warm?: ReadonlyMap<string, number>;
  readonly notes?: readonly string[];
}

function finalPattern(fleet: Fleet, packer: Packer): Map<string, number[]> {
  const used = packer.usedCounts();
  const upper = packer.capPattern();
  const best = new Map<string, number[]>();
  for (const [poolId, u] of used) {
    const pool = fleet.pools.get(poolId) as LaunchPool;
    best.set(poolId, cheapestPattern(u, upper.get(poolId)!, pool.bootSlots));
  }
  // The cheapest pattern may launch at other times than the one checked while packing; keep it only
  // when it also respects the caps. Else the instances actually used, else the pattern packing checked.
  if (capsHold(fleet, best)) return best;
  return capsHold(fleet, used) ? used : upper;
}

export function settle(
  ctx: PlanContext,
  packer: Packer,
  repairs: readonly Repair[],
  dropped: ReadonlyMap<string, string>,
): Outcome {
  const packed = seniorsFirst(ctx, { placed: packer.placed, dropped, repairs });
  const tasks = [...packed.placed.values()].flat();
  const pattern = finalPattern(ctx.fleet, packer);
  verifyTasks(ctx.fleet, tasks, pattern);
  let cost = 0;
  for (const [poolId, a] of pattern) {
    const pool = ctx.fleet.pools.get(poolId) as LaunchPool;
    cost += patternCost(a, pool.pricePerHour * ctx.fleet.slotHours, pool.bootSlots);
  }
  let utility = 0;
  for (const [jobId, list] of packed.placed) {
    const expr = ctx.prepared.exprs.get(jobId);
    if (!expr) continue;
    const granted = new Array<number>(leaves(expr).length).fill(0);
    for (const t of list) granted[t.leafIndex] = (granted[t.leafIndex] ?? 0) + 1;
    utility += evaluate(expr, granted);
  }
  return {
    tasks,
    pattern,
    utility,
    cost,
    objective: utility - cost,
    repairs: packed.repairs,
    dropped: packed.dropped,
  };
}

/** Labels new instances per pool: those launched now first (0..n-1), then later ones. */
function labelHosts(
  ctx: PlanContext,
  tasks: readonly PlacedTask[],
): Map<NewHost, { index: number; now: boolean }> {
  const byPool = new Map<string, NewHost[]>();
  for (const t of tasks) {
    if (t.host.kind !== 'new') continue;
    const list = byPool.get(t.host.poolId) ?? [];
    if (!list.includes(t.host)) list.push(t.host);
    byPool.set(t.host.poolId, list);
  }
  const labels = new Map<NewHost, { index: number; now: boolean }>();
  for (const [poolId, hosts] of byPool) {
    const pool = ctx.fleet.pools.get(poolId) as LaunchPool;
    const first = (h: NewHost) => spanOf(h)?.[0] ?? Number.POSITIVE_INFINITY;
    hosts.sort((a, b) => first(a) - first(b) || a.serial - b.serial);
    hosts.forEach((h, i) => {
      labels.set(h, { index: i, now: first(h) === pool.bootSlots });
    });
  }
  return labels;
}

function targetOf(ctx: PlanContext, t: PlacedTask, labels: Map<NewHost, { index: number }>): PlacementTarget {
  if (t.host.kind === 'existing') return { kind: 'existing', instanceId: t.host.id };
  const pool = ctx.fleet.pools.get(t.host.poolId) as LaunchPool;
  return { kind: 'new', type: pool.typeName, market: pool.market, index: labels.get(t.host)!.index };
}

/** A job starts now when every task does: on a ready instance in slot 0, or on one launched now at its boot slot. */
function startsNow(
  ctx: PlanContext,
  list: readonly PlacedTask[],
  labels: Map<NewHost, { now: boolean }>,
): boolean {
  return list.every((t) => {
    if (t.host.kind === 'existing') return t.start === 0;
    const pool = ctx.fleet.pools.get(t.host.poolId) as LaunchPool;
    return labels.get(t.host)!.now && t.start === pool.bootSlots;
  });
}

function gpuIndices(t: PlacedTask, next: Map<NewHost, number>): number[] {
  if (t.host.kind !== 'new' || t.leaf.demand.gpus === 0) return [];
  const first = next.get(t.host) ?? 0;
  next.set(t.host, first + t.leaf.demand.gpus);
  return Array.from({ length: t.leaf.demand.gpus }, (_, i) => first + i);
}

function launchesFrom(ctx: PlanContext, pattern: ReadonlyMap<string, readonly number[]>): Launch[] {
  const out: Launch[] = [];
  for (const [poolId, a] of pattern) {
    const pool = ctx.fleet.pools.get(poolId) as LaunchPool;
    let index = 0;
    launchesOf(a, pool.bootSlots).forEach((count, slot) => {
      if (count <= 0) return;
      out.push({ type: pool.typeName, market: pool.market, count, slot, firstIndex: index });
      index += count;
    });
  }
  return out;
}

function fleetBySlot(ctx: PlanContext, pattern: ReadonlyMap<string, readonly number[]>) {
  const { fleet } = ctx;
  const out = Array.from({ length: fleet.slots }, () => ({
    instances: fleet.fixedCount,
    perHour: fleet.fixedPerHour,
  }));
  for (const [poolId, a] of pattern) {
    const pool = fleet.pools.get(poolId) as LaunchPool;
    bootingCounts(a, pool.bootSlots).forEach((n, t) => {
      out[t]!.instances += n;
      out[t]!.perHour += n * pool.pricePerHour;
    });
  }
  return out;
}

function terminations(ctx: PlanContext, tasks: readonly PlacedTask[]): Termination[] {
  const { input } = ctx;
  const busy = new Set(tasks.flatMap((t) => (t.host.kind === 'existing' ? [t.host.id] : [])));
  const out: Termination[] = [];
  for (const inst of input.instances) {
    if (inst.idleSince === undefined || busy.has(inst.id)) continue;
    const idle = (input.now - inst.idleSince) / 1000;
    const empty = inst.free.every(
      (f) =>
        f.vcpu >= inst.capacity.vcpu &&
        f.memoryMiB >= inst.capacity.memoryMiB &&
        f.gpus >= inst.capacity.gpus,
    );
    if (idle >= input.limits.idleTimeoutSeconds && empty) {
      out.push({
        instanceId: inst.id,
        reason: `idle for ${Math.round(idle)}s (timeout ${input.limits.idleTimeoutSeconds}s) and nothing planned for it in the window`,
      });
    }
  }
  return out;
}

export function toPlan(ctx: PlanContext, o: Outcome, meta: PlanMeta): PlacementPlan {
  const labels = labelHosts(ctx, o.tasks);
  const byJob = new Map<string, PlacedTask[]>();
  for (const t of o.tasks) byJob.set(t.jobId, [...(byJob.get(t.jobId) ?? []), t]);
  const placements: Placement[] = [];
  const future: FuturePlacement[] = [];
  const gpuNext = new Map<NewHost, number>();
  const { now, slotSeconds } = ctx.input;
  for (const [jobId, list] of byJob) {
    const job = ctx.jobs.get(jobId)!;
    const commit = startsNow(ctx, list, labels);
    list.forEach((t, taskIndex) => {
      const alternative = t.leaf.tag?.alternative ?? 0;
      const target = targetOf(ctx, t, labels);
      if (!commit) {
        future.push({ jobId, taskIndex, alternative, slot: t.start, target, resources: t.leaf.demand });
        return;
      }
      const startAt = now + t.start * slotSeconds * 1000;
      const seconds = job.spec.alternatives[alternative]?.durationSeconds ?? t.leaf.duration * slotSeconds;
      placements.push({
        jobId,
        taskIndex,
        attempt: job.attempts,
        alternative,
        target,
        resources: t.leaf.demand,
        gpuIndices: gpuIndices(t, gpuNext),
        startAt,
        expectedEndAt: startAt + Math.round(seconds * 1000),
      });
    });
  }
  const allLaunches = launchesFrom(ctx, o.pattern);
  const committed = new Set(placements.map((p) => p.jobId));
  const { unplaced, explanations } = explain(ctx, o, committed, labels);
  return {
    placements,
    launches: allLaunches.filter((l) => l.slot === 0),
    futureLaunches: allLaunches.filter((l) => l.slot > 0),
    terminations: terminations(ctx, o.tasks),
    unplaced,
    future,
    objective: o.objective,
    utility: o.utility,
    cost: o.cost,
    gap: meta.gap,
    solverObjective: meta.solverObjective,
    solveMs: meta.solveMs,
    engine: meta.engine,
    model: meta.model,
    repairs: o.repairs,
    explanations,
    fleetBySlot: fleetBySlot(ctx, o.pattern),
    notes: meta.notes ?? [],
    warm: meta.warm ? { values: meta.warm } : undefined,
  };
}
