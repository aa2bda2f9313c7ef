/**
 * The fleet as partitions (pools of interchangeable capacity) on the slot grid.
 *
 * - An existing pool groups the running instances of one type, market and price, so the model counts
 *   tasks per pool instead of per instance (TetriSched's equivalence classes, coarsened). Its capacity
 *   per slot is the members' summed free capacity: a relaxation like the launch pools' counts, which
 *   the clique rows tighten and the concrete packing settles.
 * - A launch pool is a (type, market) the planner may buy; its capacity per slot is
 *   `capacity * x[t]`, with x the number of new instances alive in slot t (after boot).
 */
import type { InstanceType, Market } from '../model/instance-type.ts';
import { pricePerHour } from '../model/instance-type.ts';
import type { Requirement } from '../model/job.ts';
import { addResources, fits, type Resources, ZERO_RESOURCES } from '../model/resources.ts';
import type { PlacementInput } from './types.ts';

export interface ExistingPool {
  readonly kind: 'existing';
  readonly id: string;
  readonly typeName: string;
  readonly info?: InstanceType;
  readonly gpuModel?: string;
  readonly market: Market;
  readonly pricePerHour: number;
  readonly capacity: Resources;
  readonly members: readonly string[];
  /** Free capacity of each member per slot, zero before it can take work. */
  readonly memberFree: readonly (readonly Resources[])[];
  /** Summed free capacity of the members per slot. */
  readonly free: readonly Resources[];
}

export interface LaunchPool {
  readonly kind: 'new';
  readonly id: string;
  readonly typeName: string;
  readonly info: InstanceType;
  readonly market: Market;
  readonly pricePerHour: number;
  readonly capacity: Resources;
  /** Slots between a launch and the first slot the instance takes work (at least 1). */
  readonly bootSlots: number;
}

export type Pool = ExistingPool | LaunchPool;

export interface Fleet {
  readonly slots: number;
  readonly slotSeconds: number;
  readonly slotHours: number;
  readonly pools: ReadonlyMap<string, Pool>;
  /** Existing instances always count against the caps (terminations are decided after planning). */
  readonly fixedCount: number;
  readonly fixedPerHour: number;
  readonly maxInstances: number;
  readonly budgetPerHour: number;
}

export function typeCapacity(t: InstanceType): Resources {
  return { vcpu: t.vcpu, memoryMiB: t.memoryMiB, gpus: t.gpus };
}

export function demandOf(r: Requirement): Resources {
  return { vcpu: r.vcpu, memoryMiB: r.memoryMiB, gpus: r.gpus };
}

/** Slots a run of `seconds` occupies when it starts at a slot boundary (partial slots count whole). */
export function slotsFor(seconds: number, slotSeconds: number): number {
  return Math.max(1, Math.ceil(seconds / slotSeconds - 1e-9));
}

function familyOf(typeName: string): string {
  return typeName.split('.')[0] ?? typeName;
}

/** Can one task with requirement `r` run on an instance of this type and market? */
export function compatible(
  r: Requirement,
  typeName: string,
  info: InstanceType | undefined,
  market: Market,
  capacity: Resources,
  gpuModel = info?.gpuModel,
): boolean {
  if (market === 'spot' && !r.spot) return false;
  if (r.instanceTypes && !r.instanceTypes.includes(typeName)) return false;
  if (r.families && !r.families.includes(info?.family ?? familyOf(typeName))) return false;
  if (r.gpuModel && gpuModel !== r.gpuModel) return false;
  return fits(demandOf(r), capacity);
}

export function poolCompatible(r: Requirement, pool: Pool): boolean {
  const gpuModel = pool.kind === 'existing' ? (pool.gpuModel ?? pool.info?.gpuModel) : pool.info.gpuModel;
  return compatible(r, pool.typeName, pool.info, pool.market, pool.capacity, gpuModel);
}

function existingPools(input: PlacementInput, catalog: ReadonlyMap<string, InstanceType>): ExistingPool[] {
  type Group = { members: string[]; first: PlacementInput['instances'][number]; memberFree: Resources[][] };
  const groups = new Map<string, Group>();
  const sorted = [...input.instances].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const inst of sorted) {
    const free = inst.free.map((f, t) => (t < inst.availableFromSlot ? ZERO_RESOURCES : f));
    const key = `${inst.type}|${inst.market}|${inst.pricePerHour}|${inst.gpuModel}`;
    const g = groups.get(key);
    if (g) {
      g.members.push(inst.id);
      g.memberFree.push(free);
    } else groups.set(key, { members: [inst.id], first: inst, memberFree: [free] });
  }
  const ids = new Set<string>();
  return [...groups.values()].map((g) => {
    let id = `e.${g.first.type}.${g.first.market === 'spot' ? 'spot' : 'od'}`;
    while (ids.has(id)) id = `${id}#`;
    ids.add(id);
    const free = Array.from({ length: input.slots }, (_, t) =>
      g.memberFree.reduce((sum, f) => addResources(sum, f[t] ?? ZERO_RESOURCES), ZERO_RESOURCES),
    );
    return {
      kind: 'existing' as const,
      id,
      typeName: g.first.type,
      info: catalog.get(g.first.type),
      gpuModel: g.first.gpuModel,
      market: g.first.market,
      pricePerHour: g.first.pricePerHour,
      capacity: g.first.capacity,
      members: g.members,
      memberFree: g.memberFree,
      free,
    };
  });
}

function launchPools(input: PlacementInput): LaunchPool[] {
  const pools: LaunchPool[] = [];
  for (const l of input.launchable) {
    for (const market of new Set(l.markets)) {
      pools.push({
        kind: 'new',
        id: `n.${l.type.name}.${market === 'spot' ? 'spot' : 'od'}`,
        typeName: l.type.name,
        info: l.type,
        market,
        pricePerHour: pricePerHour(l.type, market),
        capacity: typeCapacity(l.type),
        bootSlots: slotsFor(l.bootSeconds ?? l.type.bootSeconds, input.slotSeconds),
      });
    }
  }
  return pools;
}

/**
 * `a` is dominated by `b` when `b` costs no more, boots no slower, offers at least as much of every
 * resource and serves every requirement that `a` serves. Dropping `a` loses nothing (exact reduction).
 */
function dominates(b: LaunchPool, a: LaunchPool, reqs: readonly Requirement[]): boolean {
  if (b.pricePerHour > a.pricePerHour || b.bootSlots > a.bootSlots || !fits(a.capacity, b.capacity, 0))
    return false;
  return reqs.every((r) => !poolCompatible(r, a) || poolCompatible(r, b));
}

function strictlyBetterOrFirst(b: LaunchPool, a: LaunchPool): boolean {
  const same =
    b.pricePerHour === a.pricePerHour &&
    b.bootSlots === a.bootSlots &&
    fits(b.capacity, a.capacity, 0) &&
    fits(a.capacity, b.capacity, 0);
  return !same || b.id < a.id;
}

/** Launch pools that no pending requirement can use, or that another pool dominates, are dropped. */
export function pruneLaunchPools(pools: readonly LaunchPool[], reqs: readonly Requirement[]): LaunchPool[] {
  const useful = pools.filter((p) => reqs.some((r) => poolCompatible(r, p)));
  return useful.filter(
    (a) => !useful.some((b) => b !== a && dominates(b, a, reqs) && strictlyBetterOrFirst(b, a)),
  );
}

export function buildFleet(
  input: PlacementInput,
  reqs: readonly Requirement[],
  catalog?: readonly InstanceType[],
): Fleet {
  const byName = new Map<string, InstanceType>();
  for (const t of catalog ?? []) byName.set(t.name, t);
  for (const l of input.launchable) byName.set(l.type.name, l.type);
  const pools = new Map<string, Pool>();
  for (const p of existingPools(input, byName)) pools.set(p.id, p);
  for (const p of pruneLaunchPools(launchPools(input), reqs)) pools.set(p.id, p);
  return {
    slots: input.slots,
    slotSeconds: input.slotSeconds,
    slotHours: input.slotSeconds / 3600,
    pools,
    fixedCount: input.instances.length,
    fixedPerHour: input.instances.reduce((s, i) => s + i.pricePerHour, 0),
    maxInstances: input.limits.maxInstances,
    budgetPerHour: input.limits.budgetPerHour,
  };
}

/** Last slot (exclusive) a run starting at `start` for `duration` slots occupies inside the window. */
export function windowEnd(fleet: Fleet, start: number, duration: number): number {
  return Math.min(fleet.slots, start + duration);
}

/**
 * Could one unit of `demand` run in `pool` over [start, end)? Existing pools need a member with room
 * in every slot; launch pools need the start to be after boot.
 */
export function poolCanHost(pool: Pool, demand: Resources, start: number, end: number): boolean {
  if (pool.kind === 'new') return start >= pool.bootSlots && fits(demand, pool.capacity);
  return pool.memberFree.some((free) => memberCanHost(free, demand, start, end));
}

export function memberCanHost(
  free: readonly Resources[],
  demand: Resources,
  start: number,
  end: number,
): boolean {
  for (let t = start; t < end; t++) {
    if (!fits(demand, free[t] ?? ZERO_RESOURCES)) return false;
  }
  return true;
}

/** Instances of a launch pool the caps could ever allow. */
export function launchCap(fleet: Fleet, pool: LaunchPool): number {
  const byCount = Math.max(0, fleet.maxInstances - fleet.fixedCount);
  const byBudget = Math.floor(
    Math.max(0, fleet.budgetPerHour - fleet.fixedPerHour) / pool.pricePerHour + 1e-9,
  );
  return Math.min(byCount, byBudget);
}
