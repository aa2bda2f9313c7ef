/**
 * Right-sizing of the greedy's new instances. The greedy charges an opened instance to the task that
 * opens it by the task's share of it, so that the first job does not pay for what later jobs fill. When
 * nothing fills it, the plan pays the whole price of an instance far bigger than its work: one 1-vCPU
 * job on a c5.4xlarge ($0.68/h) where an m5.large ($0.096/h) holds it.
 *
 * So each new instance, dearest first, gives its tasks back, and they are placed again one by one with
 * every opened instance charged in full (and room on instances already paid for free). The move stands
 * only when what it adds costs less than the instance it empties; otherwise every task goes back where it
 * was. Each task keeps its leaf (its start and duration), so the utility is unchanged and the plan's
 * cost can only fall. The same step also empties an instance into room left on the others.
 */
import type { PlanContext } from './assemble.ts';
import { spanOf } from './capacity.ts';
import type { LaunchPool } from './fleet.ts';
import type { Packer } from './pack.ts';
import type { NewHost, PlacedTask } from './pack-types.ts';

/** What the plan pays for a new instance: its used span plus its boot. */
export function newHostCost(ctx: PlanContext, host: NewHost): number {
  const span = spanOf(host);
  if (!span) return 0;
  const pool = ctx.fleet.pools.get(host.poolId) as LaunchPool;
  return (span[1] - span[0] + 1 + pool.bootSlots) * pool.pricePerHour * ctx.fleet.slotHours;
}

/** Moves the tasks of each new instance to cheaper capacity where that costs less; returns the moves. */
export function rightSize(ctx: PlanContext, packer: Packer, stop?: () => boolean): number {
  const hosts = [...packer.fresh.values()]
    .flat()
    .map((host) => ({ host, cost: newHostCost(ctx, host) }))
    .filter((h) => h.cost > 0)
    .sort((a, b) => b.cost - a.cost);
  let moves = 0;
  for (const { host } of hosts) {
    if (stop?.()) break;
    // Earlier moves may have put tasks on this instance: its cost now is what emptying it saves.
    const saves = newHostCost(ctx, host);
    if (saves <= 0) continue;
    const evicted = packer.evict(host);
    const placed: PlacedTask[] = [];
    let adds = 0;
    let ok = true;
    for (const t of evicted) {
      const res = packer.place(
        { jobId: t.jobId, leaf: t.leaf, leafIndex: t.leafIndex, units: 1 },
        { allowMove: true, allowExtra: true, fullOpen: true },
      );
      if (!res) {
        ok = false;
        break;
      }
      placed.push(...res.tasks);
      adds += res.marginal;
      if (adds >= saves - 1e-9) break;
    }
    if (ok && placed.length === evicted.length && adds < saves - 1e-9) {
      moves++;
      continue;
    }
    packer.unplace(placed);
    packer.restore(evicted);
  }
  return moves;
}
