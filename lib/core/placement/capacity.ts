/**
 * Capacity arithmetic shared by the packer and the verifier: room on an instance over a run of slots,
 * best fit, spans of new instances, and the fleet-size and budget caps.
 */
import { fits, type Resources, subtractResources, ZERO_RESOURCES } from '../model/resources.ts';
import type { Fleet, LaunchPool } from './fleet.ts';
import type { NewHost } from './pack-types.ts';
import { bootingCounts } from './pool-cost.ts';

export function dominantShare(d: Resources, cap: Resources): number {
  return Math.max(d.vcpu / cap.vcpu, d.memoryMiB / cap.memoryMiB, cap.gpus > 0 ? d.gpus / cap.gpus : 0);
}

export function withinLimit(
  limit: readonly number[],
  inUse: readonly number[],
  h: NewHost | undefined,
  start: number,
  end: number,
) {
  for (let t = start; t < end; t++) {
    if (h && h.tasks[t]! > 0) continue;
    if (inUse[t]! + 1 > (limit[t] ?? 0)) return false;
  }
  return true;
}

export function freeOf(pool: LaunchPool, h: NewHost): Resources[] {
  return h.used.map((u) => subtractResources(pool.capacity, u));
}

/** Room left after placing `demand`, summed over slots and dimensions as shares of the capacity. */
export function slack(
  demand: Resources,
  cap: Resources,
  free: readonly Resources[],
  start: number,
  end: number,
): number {
  let s = 0;
  for (let t = start; t < end; t++) {
    const f = free[t]!;
    s += (f.vcpu - demand.vcpu) / cap.vcpu + (f.memoryMiB - demand.memoryMiB) / cap.memoryMiB;
    if (cap.gpus > 0) s += (f.gpus - demand.gpus) / cap.gpus;
  }
  return s;
}

export function bestFit<T>(items: readonly T[], score: (x: T) => number): T | undefined {
  let best: T | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const x of items) {
    const s = score(x);
    if (s < bestScore) {
      best = x;
      bestScore = s;
    }
  }
  return best;
}

/** Room for `demand` on top of `used` within `cap` in every slot of [start, end), without allocating. */
export function roomOver(
  demand: Resources,
  cap: Resources,
  used: readonly Resources[],
  start: number,
  end: number,
): boolean {
  const eps = 1e-9;
  for (let t = start; t < end; t++) {
    const u = used[t]!;
    if (
      u.vcpu + demand.vcpu > cap.vcpu + eps ||
      u.memoryMiB + demand.memoryMiB > cap.memoryMiB + eps ||
      u.gpus + demand.gpus > cap.gpus + eps
    )
      return false;
  }
  return true;
}

export function fitsOver(demand: Resources, free: readonly Resources[], start: number, end: number): boolean {
  for (let t = start; t < end; t++) if (!fits(demand, free[t] ?? ZERO_RESOURCES)) return false;
  return true;
}

/** First and last slot in which the instance hosts a task. */
export function spanOf(h: NewHost): [number, number] | undefined {
  const first = h.tasks.findIndex((n) => n > 0);
  if (first < 0) return undefined;
  let last = h.tasks.length - 1;
  while (h.tasks[last] === 0) last--;
  return [first, last];
}

/** Fleet-size and budget caps in every slot, for a pattern of new instances alive per pool. */
export function capsHold(fleet: Fleet, pattern: ReadonlyMap<string, readonly number[]>): boolean {
  const countRhs = Math.max(0, fleet.maxInstances - fleet.fixedCount) + 1e-9;
  const budgetRhs = Math.max(0, fleet.budgetPerHour - fleet.fixedPerHour) + 1e-6;
  const count = new Array<number>(fleet.slots).fill(0);
  const dollars = new Array<number>(fleet.slots).fill(0);
  for (const [poolId, a] of pattern) {
    const pool = fleet.pools.get(poolId) as LaunchPool;
    const counted = bootingCounts(a, pool.bootSlots);
    counted.forEach((n, t) => {
      count[t] = count[t]! + n;
      dollars[t] = dollars[t]! + n * pool.pricePerHour;
    });
  }
  return count.every((n, t) => n <= countRhs && dollars[t]! <= budgetRhs);
}
