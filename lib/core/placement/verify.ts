/**
 * The last gate before a plan leaves the planner: recompute every instance's load in every slot from
 * the task list alone (not the packer's bookkeeping) and check it against the input, the gangs and the
 * caps. A violation is a bug, so it throws PlanInvariantError naming it.
 */
import { PlanInvariantError } from '../errors.ts';
import {
  addResources,
  fits,
  RESOURCE_DIMENSIONS,
  type Resources,
  ZERO_RESOURCES,
} from '../model/resources.ts';
import { capsHold } from './capacity.ts';
import type { Fleet, LaunchPool } from './fleet.ts';
import type { PlacedTask } from './pack-types.ts';

function hostKey(t: PlacedTask): string {
  return t.host.kind === 'existing' ? `existing ${t.host.id}` : `new ${t.host.poolId}#${t.host.serial}`;
}

function overBy(load: Resources, free: Resources): string {
  return RESOURCE_DIMENSIONS.filter((d) => load[d] > free[d] + 1e-9)
    .map((d) => `${d} ${load[d]} > ${free[d]}`)
    .join(', ');
}

function checkLoads(fleet: Fleet, tasks: readonly PlacedTask[]): void {
  const loads = new Map<string, { task: PlacedTask; load: Resources[] }>();
  for (const t of tasks) {
    const key = hostKey(t);
    let entry = loads.get(key);
    // Two instances under one name would be launched as one: that is an over-commit waiting to happen.
    if (entry && entry.task.host !== t.host)
      throw new PlanInvariantError(`two instances share the name ${key}`);
    if (!entry) {
      entry = { task: t, load: new Array(fleet.slots).fill(ZERO_RESOURCES) };
      loads.set(key, entry);
    }
    for (let s = t.start; s < t.end; s++) entry.load[s] = addResources(entry.load[s]!, t.leaf.demand);
  }
  for (const [key, { task, load }] of loads) {
    const pool = fleet.pools.get(task.host.poolId);
    if (!pool) throw new PlanInvariantError(`${key} belongs to unknown pool ${task.host.poolId}`);
    load.forEach((l, s) => {
      const host = task.host;
      const member =
        pool.kind === 'existing' && host.kind === 'existing' ? pool.members.indexOf(host.id) : -1;
      const free =
        pool.kind === 'existing'
          ? (pool.memberFree[member]?.[s] ?? ZERO_RESOURCES)
          : s >= pool.bootSlots
            ? pool.capacity
            : ZERO_RESOURCES;
      if (!fits(l, free))
        throw new PlanInvariantError(`over-commit on ${key} in slot ${s}: ${overBy(l, free)}`);
    });
  }
}

function checkGangs(tasks: readonly PlacedTask[]): void {
  const perLeaf = new Map<string, { n: number; task: PlacedTask }>();
  for (const t of tasks) {
    const key = `${t.jobId}|${t.leafIndex}`;
    const e = perLeaf.get(key);
    perLeaf.set(key, { n: (e?.n ?? 0) + 1, task: t });
  }
  for (const { n, task } of perLeaf.values()) {
    const leaf = task.leaf;
    if ((leaf.op === 'nCk' && n !== leaf.k) || n > leaf.k) {
      throw new PlanInvariantError(`gang of job ${task.jobId} got ${n} of ${leaf.k} tasks (all or nothing)`);
    }
  }
}

/** Throws PlanInvariantError on over-commit, a split gang, or a broken fleet or budget cap. */
export function verifyTasks(
  fleet: Fleet,
  tasks: readonly PlacedTask[],
  pattern: ReadonlyMap<string, readonly number[]>,
): void {
  checkLoads(fleet, tasks);
  checkGangs(tasks);
  for (const [poolId, a] of pattern) {
    const pool = fleet.pools.get(poolId) as LaunchPool;
    const used = new Array<number>(fleet.slots).fill(0);
    const hosts = new Map<string, Set<number>>();
    for (const t of tasks) {
      if (t.host.kind !== 'new' || t.host.poolId !== poolId) continue;
      for (let s = t.start; s < t.end; s++) {
        const set = hosts.get(String(s)) ?? new Set<number>();
        set.add(t.host.serial);
        hosts.set(String(s), set);
      }
    }
    for (const [s, set] of hosts) used[Number(s)] = set.size;
    used.forEach((u, s) => {
      if (u > (a[s] ?? 0))
        throw new PlanInvariantError(`${pool.id} uses ${u} instances in slot ${s} but pays for ${a[s] ?? 0}`);
    });
  }
  if (!capsHold(fleet, pattern)) {
    throw new PlanInvariantError(
      `plan breaks the fleet cap (${fleet.maxInstances}) or budget ($${fleet.budgetPerHour}/h)`,
    );
  }
}
