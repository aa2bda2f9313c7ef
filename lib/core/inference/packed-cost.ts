import { ValidationError } from '../errors.ts';
import { findInstanceType, INSTANCE_CATALOG } from '../model/catalog.ts';
import type { InstanceType, Market } from '../model/instance-type.ts';
import type { Requirement } from '../model/job.ts';
import { addResources, fits, type Resources, ZERO_RESOURCES } from '../model/resources.ts';
import {
  demandOf,
  type Fleet,
  type LaunchPool,
  poolCompatible,
  pruneLaunchPools,
  typeCapacity,
} from '../placement/fleet.ts';
import { Packer } from '../placement/pack.ts';
import { nCk } from '../strl/expr.ts';
import type { CostOf } from './cost.ts';
import { replicaRequirementOf } from './replica.ts';
import type { PipelineConfig } from './simulator.ts';

/**
 * The real price of a pipeline configuration: its replicas packed onto whole on-demand EC2 instances,
 * the way the placement engine packs SLO-service work. Each replica reserves `replicaRequirement()` of its
 * profiled type, so four A10G replicas of different stages may share one 4-GPU instance when that is
 * cheaper than four 1-GPU ones.
 *
 * Packing reuses the placement engine's Packer (open mode, one slot): each replica goes where its marginal
 * cost is lowest, an already-open instance with room being free and a new one charged by the replica's
 * dominant share of it. Share-charging favours large instances for the first replica, so every instance
 * is then shrunk to the cheapest type that still holds its replicas, and the answer is never worse than
 * each replica alone on its cheapest type.
 */

export interface ReplicaSlot {
  readonly stage: string;
  readonly instanceType: string;
}

export interface PackedInstance {
  readonly instanceType: string;
  readonly pricePerHour: number;
  readonly replicas: readonly ReplicaSlot[];
}

export interface Packing {
  readonly instances: readonly PackedInstance[];
  readonly costPerHour: number;
}

interface Item {
  readonly slot: ReplicaSlot;
  readonly req: Requirement;
  readonly demand: Resources;
}

function typeOrFail(name: string, path: string): InstanceType {
  const type = findInstanceType(name);
  if (!type)
    throw new ValidationError('pipeline config', [
      { path, message: `unknown instance type ${name}; known types include c7i.large, g5.xlarge, ...` },
    ]);
  return type;
}

/** New instances of every catalog type in one market: on-demand, or spot for warm headroom (spotHeadroom). */
function launchPools(catalog: readonly InstanceType[], market: Market = 'on-demand'): LaunchPool[] {
  return catalog.map((t) => ({
    kind: 'new' as const,
    id: `n.${t.name}.${market === 'spot' ? 'spot' : 'od'}`,
    typeName: t.name,
    info: t,
    market,
    pricePerHour: market === 'spot' ? t.spotPerHour : t.onDemandPerHour,
    capacity: typeCapacity(t),
    // Steady-state price: boot time is the closed loop's concern, not the price's.
    bootSlots: 0,
  }));
}

/** One hour-long slot with no caps: the packer then only trades instance prices. */
function fleetOf(pools: readonly LaunchPool[]): Fleet {
  return {
    slots: 1,
    slotSeconds: 3600,
    slotHours: 1,
    pools: new Map(pools.map((p) => [p.id, p])),
    fixedCount: 0,
    fixedPerHour: 0,
    maxInstances: Number.POSITIVE_INFINITY,
    budgetPerHour: Number.POSITIVE_INFINITY,
  };
}

/** Largest first (GPUs, then vCPUs, then memory): the classic first-fit-decreasing order. */
function byDemandDesc(a: Item, b: Item): number {
  return (
    b.demand.gpus - a.demand.gpus || b.demand.vcpu - a.demand.vcpu || b.demand.memoryMiB - a.demand.memoryMiB
  );
}

/** The cheapest pool that can host every item together, if any. */
function cheapestHost(pools: readonly LaunchPool[], items: readonly Item[]): LaunchPool | undefined {
  const total = items.reduce((sum, it) => addResources(sum, it.demand), ZERO_RESOURCES);
  let best: LaunchPool | undefined;
  for (const p of pools) {
    if (!fits(total, p.capacity)) continue;
    if (!items.every((it) => poolCompatible(it.req, p))) continue;
    if (!best || p.pricePerHour < best.pricePerHour) best = p;
  }
  return best;
}

function instanceOf(pool: LaunchPool, items: readonly Item[]): PackedInstance {
  return { instanceType: pool.typeName, pricePerHour: pool.pricePerHour, replicas: items.map((i) => i.slot) };
}

function total(instances: readonly PackedInstance[]): number {
  return instances.reduce((s, i) => s + i.pricePerHour, 0);
}

/** Greedy packing through the placement engine's Packer, then each instance shrunk to its cheapest fit. */
function packWithPacker(pools: readonly LaunchPool[], items: readonly Item[]): PackedInstance[] | undefined {
  const packer = new Packer(fleetOf(pools));
  const ordered = [...items].sort(byDemandDesc);
  const bins = new Map<string, Item[]>();
  for (const [i, it] of ordered.entries()) {
    const partitions = pools.filter((p) => poolCompatible(it.req, p)).map((p) => p.id);
    const jobId = `r${i}`;
    const placed = packer.place(
      { jobId, leaf: nCk(partitions, 1, 0, 1, 1, it.demand), leafIndex: 0, units: 1 },
      { allowMove: true, allowExtra: true },
    );
    const host = placed?.tasks[0]?.host;
    if (host?.kind !== 'new') return undefined;
    const key = `${host.poolId}#${host.serial}`;
    bins.set(key, [...(bins.get(key) ?? []), it]);
  }
  const out: PackedInstance[] = [];
  for (const members of bins.values()) {
    const pool = cheapestHost(pools, members);
    if (!pool) return undefined;
    out.push(instanceOf(pool, members));
  }
  return out;
}

/**
 * Pack explicit replicas (stage and profiled type each) onto the cheapest set of whole instances found,
 * all bought in one market (spot prices from the catalog's spotPerHour).
 */
export function packReplicas(
  replicas: readonly ReplicaSlot[],
  catalog: readonly InstanceType[] = INSTANCE_CATALOG,
  market: Market = 'on-demand',
): Packing {
  if (replicas.length === 0) return { instances: [], costPerHour: 0 };
  const items: Item[] = replicas.map((slot, i) => {
    const req = replicaRequirementOf(
      typeOrFail(slot.instanceType, `replicas.${i}.instanceType`),
      market === 'spot',
    );
    return { slot, req, demand: demandOf(req) };
  });
  const pools = pruneLaunchPools(
    launchPools(catalog, market),
    items.map((i) => i.req),
  );
  const alone: PackedInstance[] = items.map((it, i) => {
    const pool = cheapestHost(pools, [it]);
    if (!pool)
      throw new ValidationError('pipeline config', [
        {
          path: `replicas.${i}`,
          message: `no instance type in the catalog can host ${it.slot.instanceType}`,
        },
      ]);
    return instanceOf(pool, [it]);
  });
  const packed = packWithPacker(pools, items);
  const best = packed && total(packed) < total(alone) - 1e-9 ? packed : alone;
  return { instances: best, costPerHour: total(best) };
}

/** The replicas a configuration asks for, stage by stage. */
export function replicasOf(config: PipelineConfig): ReplicaSlot[] {
  return Object.entries(config).flatMap(([stage, c]) =>
    Array.from({ length: c.replicas }, () => ({ stage, instanceType: c.instanceType })),
  );
}

/**
 * A packed-cost function with its own memo. Cost depends only on the multiset of (type, count), and the
 * planner asks for the same ones many times, so the key ignores stage names.
 */
export function createPackedCost(
  catalog: readonly InstanceType[] = INSTANCE_CATALOG,
  market: Market = 'on-demand',
): CostOf {
  const memo = new Map<string, number>();
  return (config) => {
    const counts = new Map<string, number>();
    for (const c of Object.values(config))
      if (c.replicas > 0) counts.set(c.instanceType, (counts.get(c.instanceType) ?? 0) + c.replicas);
    const key = [...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).join(';');
    const known = memo.get(key);
    if (known !== undefined) return known;
    const slots = [...counts].flatMap(([instanceType, n]) =>
      Array.from({ length: n }, () => ({ stage: instanceType, instanceType })),
    );
    const cost = packReplicas(slots, catalog, market).costPerHour;
    if (memo.size > 50_000) memo.clear();
    memo.set(key, cost);
    return cost;
  };
}

/** The default packed cost (on-demand, the built-in catalog). */
export const packedCostPerHour: CostOf = createPackedCost();

/** The same packing at spot prices: what warm headroom on spot capacity costs (spotHeadroom). */
export const packedSpotCostPerHour: CostOf = createPackedCost(INSTANCE_CATALOG, 'spot');

/**
 * A lower bound no packing can beat: for each resource, every replica pays at least its amount of it at
 * the cheapest rate ($ per unit) of any type it may use; an instance's price covers at most its capacity
 * in each resource. The bound is the largest of these sums over resources.
 */
export function replicaShareFloor(
  replicas: readonly ReplicaSlot[],
  catalog: readonly InstanceType[] = INSTANCE_CATALOG,
): number {
  const pools = launchPools(catalog);
  let best = 0;
  for (const dim of ['vcpu', 'memoryMiB', 'gpus'] as const) {
    let sum = 0;
    for (const [i, slot] of replicas.entries()) {
      const req = replicaRequirementOf(typeOrFail(slot.instanceType, `replicas.${i}.instanceType`));
      const amount = demandOf(req)[dim];
      if (amount === 0) continue;
      const rates = pools
        .filter((p) => poolCompatible(req, p) && p.capacity[dim] > 0)
        .map((p) => p.pricePerHour / p.capacity[dim]);
      sum += amount * Math.min(...rates);
    }
    best = Math.max(best, sum);
  }
  return best;
}
