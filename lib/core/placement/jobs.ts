/**
 * From pending jobs to prepared STRL: ask each job's policy for its expression, prune what can never be
 * granted in this fleet and window, and group identical jobs so the model counts them instead of
 * repeating them (an exact reduction when the workload repeats itself).
 */
import type { Requirement } from '../model/job.ts';
import { copiesThatFit } from '../model/resources.ts';
import { NO_FITTING_TYPE } from '../policies/alternatives.ts';
import { jobToStrl, type PolicyRegistry } from '../policies/registry.ts';
import type { PolicyContext } from '../policies/types.ts';
import { type ChooseExpr, isLeaf, leaves, type StrlExpr, upperBound } from '../strl/expr.ts';
import { strlKey } from '../strl/print.ts';
import { blockedReason } from './blocked.ts';
import {
  demandOf,
  type Fleet,
  type LaunchPool,
  launchCap,
  type Pool,
  poolCanHost,
  poolCompatible,
  windowEnd,
} from './fleet.ts';
import type { PendingJob, PlacementInput } from './types.ts';

export interface JobGroup {
  /** Stable name stem for this group's variables. */
  readonly id: string;
  /** Jobs in the group, in the order decode hands out grants (earliest submitted first). */
  readonly jobs: readonly PendingJob[];
  readonly expr: StrlExpr;
}

export interface PreparedJobs {
  readonly groups: readonly JobGroup[];
  /** Job id -> why it has no expression at all. */
  readonly rejected: ReadonlyMap<string, string>;
  /** Job id -> its pruned expression (also for jobs in groups). */
  readonly exprs: ReadonlyMap<string, StrlExpr>;
}

/**
 * Launch types offered to one requirement: the `choices` cheapest per task that fits (price divided by
 * how many such tasks one instance holds), and the cheapest instance that fits, for a job that has the
 * instance to itself (per task a big type wins, yet one task alone pays for all of it). Types the caps
 * allow none of (over the budget left, or no room under the fleet size) are not offered. With ~40
 * launchable types a leaf would otherwise carry a column per type; the dearer ones rarely win, and only
 * through mixing with other jobs' tasks, so this trades a little optimality for a much smaller model.
 */
function cheapestLaunchPools(r: Requirement, fleet: Fleet, choices: number): Pool[] {
  const demand = demandOf(r);
  const byId = (a: Pool, b: Pool) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const fitting = [...fleet.pools.values()].filter(
    (p): p is LaunchPool => p.kind === 'new' && poolCompatible(r, p) && launchCap(fleet, p) > 0,
  );
  // Computed once per pool, not in the comparator: at thousands of jobs this is the hot path of preparing.
  const perTask = new Map(
    fitting.map((p) => [p, p.pricePerHour / Math.max(1, copiesThatFit(demand, p.capacity))]),
  );
  const price = (p: LaunchPool) => perTask.get(p) as number;
  const offered = [...fitting]
    .sort((a, b) => price(a) - price(b) || a.pricePerHour - b.pricePerHour || byId(a, b))
    .slice(0, choices);
  const cheapest = [...fitting].sort((a, b) => a.pricePerHour - b.pricePerHour || byId(a, b))[0];
  if (cheapest && !offered.includes(cheapest)) offered.push(cheapest);
  return offered;
}

export function policyContext(
  input: PlacementInput,
  fleet: Fleet,
  launchChoices = DEFAULT_LAUNCH_CHOICES,
): PolicyContext {
  // By content: thousands of jobs share a handful of requirements, each its own object.
  const cache = new Map<string, string[]>();
  const all = [...fleet.pools.values()];
  return {
    now: input.now,
    slotSeconds: input.slotSeconds,
    slots: input.slots,
    poolsFor(r) {
      const key = JSON.stringify(r);
      let ids = cache.get(key);
      if (!ids) {
        const running = all.filter((p) => p.kind === 'existing' && poolCompatible(r, p));
        ids = [...running, ...cheapestLaunchPools(r, fleet, launchChoices)].map((p) => p.id);
        cache.set(key, ids);
      }
      return ids;
    },
  };
}

/** @see cheapestLaunchPools */
export const DEFAULT_LAUNCH_CHOICES = 3;

function pruneLeaf(e: ChooseExpr, fleet: Fleet): ChooseExpr | undefined {
  if (e.start >= fleet.slots) return undefined;
  const end = windowEnd(fleet, e.start, e.duration);
  const partitions = e.partitions.filter((id) => {
    const pool = fleet.pools.get(id);
    return pool !== undefined && poolCanHost(pool, e.demand, e.start, end);
  });
  if (partitions.length === 0) return undefined;
  return partitions.length === e.partitions.length ? e : { ...e, partitions };
}

/** Removes leaves no partition can host and operators left without meaning; undefined if nothing is left. */
export function pruneStrl(e: StrlExpr, fleet: Fleet): StrlExpr | undefined {
  if (isLeaf(e)) return pruneLeaf(e, fleet);
  if (e.op === 'SCALE') {
    const c = pruneStrl(e.child, fleet);
    return c && { ...e, child: c };
  }
  if (e.op === 'BARRIER') {
    const c = pruneStrl(e.child, fleet);
    return c && upperBound(c) >= e.value - 1e-9 ? { ...e, child: c } : undefined;
  }
  const kids = e.children.map((c) => pruneStrl(c, fleet));
  if (e.op === 'MIN')
    return kids.every((k) => k !== undefined) ? { ...e, children: kids as StrlExpr[] } : undefined;
  const kept = kids.filter((k): k is StrlExpr => k !== undefined);
  if (kept.length === 0) return undefined;
  if (e.op === 'MAX' && kept.length === 1) return kept[0];
  return { ...e, children: kept };
}

/** A job whose expression is one choice, or a MAX of choices, can be counted with identical ones. */
export function isSimpleShape(e: StrlExpr): boolean {
  return isLeaf(e) || (e.op === 'MAX' && e.children.every(isLeaf));
}

/**
 * Exact: every job of a group is placed with the first one's leaves (demand, value) in the model.
 * Without `values`, jobs that ask for the same thing but value it differently share a signature.
 */
export function signature(e: StrlExpr, values = true): string {
  return `${strlKey(e, values)}|${leaves(e)
    .map((l) => l.tag?.alternative ?? '-')
    .join(',')}`;
}

export function prepareJobs(
  input: PlacementInput,
  fleet: Fleet,
  registry: PolicyRegistry,
  launchChoices = DEFAULT_LAUNCH_CHOICES,
): PreparedJobs {
  const ctx = policyContext(input, fleet, launchChoices);
  const rejected = new Map<string, string>();
  const exprs = new Map<string, StrlExpr>();
  const bySignature = new Map<string, { jobs: PendingJob[]; expr: StrlExpr }>();
  const singles: { jobs: PendingJob[]; expr: StrlExpr }[] = [];
  const ordered = [...input.jobs].sort((a, b) => a.submittedAt - b.submittedAt || (a.id < b.id ? -1 : 1));
  for (const job of ordered) {
    const res = jobToStrl(registry, job, ctx);
    if (!res.ok) {
      // Types the caps allow none of are not offered, so "nothing fits" may really be a cap.
      const capped = res.reason === NO_FITTING_TYPE ? blockedReason(fleet, job) : undefined;
      rejected.set(job.id, capped ?? res.reason);
      continue;
    }
    const expr = pruneStrl(res.expr, fleet);
    if (!expr) {
      rejected.set(
        job.id,
        blockedReason(fleet, job) ?? 'no start slot in the window can host it (capacity or boot time)',
      );
      continue;
    }
    exprs.set(job.id, expr);
    if (!isSimpleShape(expr)) {
      singles.push({ jobs: [job], expr });
      continue;
    }
    const key = signature(expr);
    const g = bySignature.get(key);
    if (g) g.jobs.push(job);
    else bySignature.set(key, { jobs: [job], expr });
  }
  const groups = [...bySignature.values(), ...singles].map((g) => ({
    id: `j.${g.jobs[0]!.id}`,
    jobs: g.jobs,
    expr: g.expr,
  }));
  return { groups, rejected, exprs };
}
