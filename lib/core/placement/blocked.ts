/**
 * Why a job got nothing, when a cheap look at the fleet and the plan can name the cause: the fleet-size
 * cap, the budget, a gang larger than the fleet can ever hold, or higher-value work on the only
 * capacity it could use. Otherwise the caller keeps its own, vaguer, reason.
 */
import type { Alternative } from '../model/job.ts';
import { copiesThatFit } from '../model/resources.ts';
import { alternativeName } from '../policies/alternatives.ts';
import type { Outcome } from './assemble.ts';
import { demandOf, type Fleet, type LaunchPool, launchCap, poolCompatible } from './fleet.ts';
import type { PendingJob } from './types.ts';

/** The greedy's reason for a job it could not place; the plan names a sharper cause where it can. */
export const NOT_WORTH_CAPACITY = 'no choice earns more than the capacity it needs';

function money(v: number): string {
  return `$${Number(v.toFixed(3))}/h`;
}

/** Tasks of `alt` the fleet could hold at once: running instances plus the most the caps let it buy. */
function reach(fleet: Fleet, alt: Alternative) {
  const demand = demandOf(alt.requirement);
  let running = 0;
  const launch: LaunchPool[] = [];
  for (const pool of fleet.pools.values()) {
    if (!poolCompatible(alt.requirement, pool)) continue;
    if (pool.kind === 'existing') running += pool.members.length * copiesThatFit(demand, pool.capacity);
    else launch.push(pool);
  }
  let bought = 0;
  for (const p of launch) bought = Math.max(bought, launchCap(fleet, p) * copiesThatFit(demand, p.capacity));
  return { running, bought, launch };
}

/** The cap that stops `alt` from ever running whole, or undefined when the caps allow it. */
function capCause(fleet: Fleet, alt: Alternative, gang: number): string | undefined {
  const { running, bought, launch } = reach(fleet, alt);
  if (running === 0 && launch.length === 0) return 'no instance type in the fleet or catalog fits it';
  if (running + bought >= gang || launch.length === 0) return undefined;
  const countRoom = Math.max(0, fleet.maxInstances - fleet.fixedCount);
  const budgetLeft = Math.max(0, fleet.budgetPerHour - fleet.fixedPerHour);
  const cheapest = Math.min(...launch.map((p) => p.pricePerHour));
  // The cap that binds: with room for no new instance by count, the fleet size; else the budget.
  const byCount = countRoom === 0 || launch.every((p) => launchCap(fleet, p) === countRoom);
  const [cap, detail] = byCount
    ? ['the fleet-size cap', `maxInstances ${fleet.maxInstances}, ${fleet.fixedCount} running`]
    : [
        'the budget',
        `${money(budgetLeft)} left of ${money(fleet.budgetPerHour)}; the cheapest type that fits costs ${money(cheapest)}`,
      ];
  if (running + bought === 0) return `${cap} leaves no room for an instance that fits it (${detail})`;
  return `its gang of ${gang} needs more than the ${running + bought} task(s) that fit at once under ${cap} (${detail})`;
}

/** Jobs planned on running instances, by pool; built once per outcome (explain asks per job). */
const onRunning = new WeakMap<Outcome, Map<string, Set<string>>>();

/** Jobs planned on the running instances `alt` could use. */
function takers(fleet: Fleet, o: Outcome, alt: Alternative, self: string): string[] {
  let byPool = onRunning.get(o);
  if (!byPool) {
    byPool = new Map();
    for (const t of o.tasks) {
      if (t.host.kind !== 'existing') continue;
      const set = byPool.get(t.host.poolId) ?? new Set<string>();
      set.add(t.jobId);
      byPool.set(t.host.poolId, set);
    }
    onRunning.set(o, byPool);
  }
  const ids = new Set<string>();
  for (const pool of fleet.pools.values()) {
    if (pool.kind !== 'existing' || !poolCompatible(alt.requirement, pool)) continue;
    for (const id of byPool.get(pool.id) ?? []) if (id !== self) ids.add(id);
  }
  return [...ids].sort();
}

function altCause(
  fleet: Fleet,
  o: Outcome | undefined,
  job: PendingJob,
  alt: Alternative,
): string | undefined {
  const cap = capCause(fleet, alt, job.spec.gang);
  if (cap || !o) return cap;
  const { bought } = reach(fleet, alt);
  const taken = takers(fleet, o, alt, job.id);
  if (taken.length === 0) return undefined;
  const list =
    taken.length > 3 ? `${taken.slice(0, 3).join(', ')} and ${taken.length - 3} more` : taken.join(', ');
  const why = `the running capacity it could use went to higher-value work (${list})`;
  return bought >= job.spec.gang ? `${why}, and it is worth less than a new instance` : why;
}

/**
 * The binding cause for a job the plan leaves out, or undefined. Without an outcome (the job never
 * reached the model) only the caps are looked at.
 */
export function blockedReason(fleet: Fleet, job: PendingJob, o?: Outcome): string | undefined {
  const alts = job.spec.alternatives;
  const causes = alts.map((alt) => altCause(fleet, o, job, alt));
  // An alternative without a named cause was not worth its capacity, or lost to something costlier
  // to pin down (packing, timing): the caller's reason stands.
  if (causes.some((c) => c === undefined)) return undefined;
  if (alts.length === 1) return causes[0];
  return alts.map((alt, i) => `${alternativeName(alt, i)}: ${causes[i]}`).join('; ');
}
