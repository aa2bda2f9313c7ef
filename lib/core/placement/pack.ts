/**
 * Concrete packing: tasks onto real instances (existing ids, or new instance `serial` of a launch pool),
 * slot by slot, never past any instance's free capacity. The MILP counts tasks per pool, which relaxes
 * multi-dimensional packing; this is where a plan becomes something the fleet can actually run.
 *
 * Two modes for launch pools:
 * - limited (decoding a solver answer): new instance k may serve slot t only while k < x(t), the count
 *   the solver paid for; going past it is an "extra" launch, a repair allowed only within the caps.
 * - open (greedy): instances are opened as needed, within the caps.
 */
import {
  addResources,
  copiesThatFit,
  type Resources,
  subtractResources,
  ZERO_RESOURCES,
} from '../model/resources.ts';
import {
  bestFit,
  capsHold,
  dominantShare,
  fitsOver,
  freeOf,
  roomOver,
  slack,
  spanOf,
  withinLimit,
} from './capacity.ts';
import { type ExistingPool, type Fleet, type LaunchPool, windowEnd } from './fleet.ts';
import type {
  ExistingHost,
  GrantRequest,
  Host,
  NewHost,
  PackOptions,
  PackResult,
  PlacedTask,
} from './pack-types.ts';

const EMPTY = Object.freeze([]) as readonly number[];

interface HostPick {
  readonly host: Host;
  readonly cost: number;
  /** The pick opens an instance or stretches its span, so the caps must be checked again. */
  readonly opened: boolean;
  readonly extra: boolean;
}

export class Packer {
  readonly existing = new Map<string, ExistingHost[]>();
  readonly fresh = new Map<string, NewHost[]>();
  readonly placed = new Map<string, PlacedTask[]>();
  /** Per launch pool and slot: instances hosting at least one task. */
  private readonly inUse = new Map<string, number[]>();
  /** Per launch pool and slot: instances whose span (first to last used slot) covers the slot. */
  private readonly spanCounts = new Map<string, number[]>();
  /**
   * Per launch pool: the next serial to hand out. Serials are never reused: an emptied instance can come
   * back (right-sizing puts its tasks back) after others were opened, and two instances under one serial
   * would be launched as one.
   */
  private readonly nextSerial = new Map<string, number>();

  constructor(
    readonly fleet: Fleet,
    /** Limited mode: x(t) per launch pool from the solver. Absent: open mode. */
    readonly limits?: ReadonlyMap<string, readonly number[]>,
    /**
     * How an opened instance is charged to the task that opens it: by its dominant share (`share`), or
     * also divided by how many such tasks the instance holds (`dense`), which favours big instances
     * when the fleet-size cap, not money, is what runs out.
     */
    readonly openCharge: 'share' | 'dense' = 'share',
    /**
     * Limited mode: what the caps are checked against. `solver` (decoding): the solver's counts, which
     * it already checked, raised to what is used. `used` (rounding an LP, whose rounded-up counts may
     * break the caps): only the instances actually used, checked at every new-instance pick.
     */
    readonly capBasis: 'solver' | 'used' = 'solver',
  ) {
    for (const pool of fleet.pools.values()) {
      if (pool.kind === 'existing')
        this.existing.set(
          pool.id,
          pool.members.map((id, i) => existingHost(pool, id, i)),
        );
      else {
        this.fresh.set(pool.id, []);
        this.inUse.set(pool.id, new Array<number>(fleet.slots).fill(0));
        this.spanCounts.set(pool.id, new Array<number>(fleet.slots).fill(0));
      }
    }
  }

  /** Places every task of the grant, or nothing (a gang is all or nothing). */
  place(req: GrantRequest, opts: PackOptions): PackResult | undefined {
    const end = windowEnd(this.fleet, req.leaf.start, req.leaf.duration);
    const order = this.poolOrder(req, opts);
    const tasks: PlacedTask[] = [];
    let marginal = 0;
    let moved = false;
    let extra = false;
    const left = new Map(req.hints ?? []);
    for (let i = 0; i < req.units; i++) {
      const pick = this.bestHost(req, order, left, end, opts);
      if (!pick) {
        for (const t of tasks) this.release(t);
        return undefined;
      }
      const task = {
        jobId: req.jobId,
        leafIndex: req.leafIndex,
        leaf: req.leaf,
        start: req.leaf.start,
        end,
        host: pick.host,
      };
      this.occupy(task);
      tasks.push(task);
      marginal += pick.cost;
      moved ||= req.hints !== undefined && !req.hints.has(pick.host.poolId);
      extra ||= pick.extra;
      const n = left.get(pick.host.poolId);
      if (n !== undefined) left.set(pick.host.poolId, n - 1);
      if (pick.opened && !this.capsHold()) {
        for (const t of tasks) this.release(t);
        return undefined;
      }
    }
    const list = this.placed.get(req.jobId) ?? [];
    list.push(...tasks);
    this.placed.set(req.jobId, list);
    return { tasks, marginal, moved, extra };
  }

  /** Takes every task of a job off its hosts (to undo a grant or re-place the job). */
  remove(jobId: string): void {
    for (const t of this.placed.get(jobId) ?? []) this.release(t);
    this.placed.delete(jobId);
  }

  /** Takes every task off one new instance; their jobs keep their other tasks. */
  evict(host: NewHost): PlacedTask[] {
    const out: PlacedTask[] = [];
    for (const [jobId, list] of this.placed) {
      const keep = list.filter((t) => t.host !== host);
      if (keep.length === list.length) continue;
      for (const t of list) if (t.host === host) out.push(t);
      this.placed.set(jobId, keep);
    }
    for (const t of out) this.release(t);
    return out;
  }

  /** Takes the given tasks off their hosts (undoes single-task grants). */
  unplace(tasks: readonly PlacedTask[]): void {
    const gone = new Set(tasks);
    for (const t of tasks) {
      this.release(t);
      const list = this.placed.get(t.jobId);
      if (list)
        this.placed.set(
          t.jobId,
          list.filter((x) => !gone.has(x)),
        );
    }
  }

  /** Puts evicted tasks back exactly where they were. */
  restore(tasks: readonly PlacedTask[]): void {
    for (const t of tasks) {
      this.occupy(t);
      const list = this.placed.get(t.jobId) ?? [];
      list.push(t);
      this.placed.set(t.jobId, list);
    }
  }

  /** Per launch pool and slot: new instances hosting at least one task. */
  usedCounts(): Map<string, number[]> {
    return new Map([...this.inUse].map(([poolId, u]) => [poolId, [...u]]));
  }

  /**
   * Instances alive per launch pool and slot, as the caps see them while packing: in limited mode the
   * solver's counts raised to what is used; in open mode each instance from its first to last used slot.
   */
  capPattern(): Map<string, number[]> {
    const out = new Map<string, number[]>();
    const used = this.limits ? this.usedCounts() : undefined;
    for (const poolId of this.fresh.keys()) {
      const a = new Array<number>(this.fleet.slots).fill(0);
      if (used) {
        const x = this.capBasis === 'solver' ? (this.limits?.get(poolId) ?? EMPTY) : EMPTY;
        const u = used.get(poolId)!;
        for (let t = 0; t < a.length; t++) a[t] = Math.max(x[t] ?? 0, u[t]!);
      } else {
        const spans = this.spanCounts.get(poolId)!;
        for (let t = 0; t < a.length; t++) a[t] = spans[t]!;
      }
      out.set(poolId, a);
    }
    return out;
  }

  capsHold(pattern?: ReadonlyMap<string, readonly number[]>): boolean {
    if (!pattern && this.fewEnough()) return true;
    return capsHold(this.fleet, pattern ?? this.capPattern());
  }

  /** Fast path: every instance ever opened, alive in every slot at once, would still fit the caps. */
  private fewEnough(): boolean {
    if (this.limits) return false;
    let count = this.fleet.fixedCount;
    let dollars = this.fleet.fixedPerHour;
    for (const [poolId, hosts] of this.fresh) {
      count += hosts.length;
      dollars += hosts.length * (this.fleet.pools.get(poolId) as LaunchPool).pricePerHour;
    }
    return count <= this.fleet.maxInstances && dollars <= this.fleet.budgetPerHour + 1e-6;
  }

  private poolOrder(req: GrantRequest, opts: PackOptions): string[] {
    const hinted = [...(req.hints?.keys() ?? [])].filter((p) => req.leaf.partitions.includes(p));
    if (req.hints && !opts.allowMove) return hinted;
    return [...hinted, ...req.leaf.partitions.filter((p) => !hinted.includes(p))];
  }

  private bestHost(
    req: GrantRequest,
    order: readonly string[],
    left: ReadonlyMap<string, number>,
    end: number,
    opts: PackOptions,
  ) {
    // Limited mode: a pool the solver chose is used up to its count before anything else is tried.
    if (req.hints) {
      for (const poolId of order) {
        if ((left.get(poolId) ?? 0) <= 0) continue;
        const p = this.pickIn(poolId, req.leaf.demand, req.leaf.start, end, { ...opts, allowExtra: false });
        if (p) return p;
      }
    }
    let best: HostPick | undefined;
    for (const poolId of order) {
      const p = this.pickIn(poolId, req.leaf.demand, req.leaf.start, end, opts);
      if (p && (!best || p.cost < best.cost - 1e-12)) best = p;
    }
    return best;
  }

  private pickIn(
    poolId: string,
    demand: Resources,
    start: number,
    end: number,
    opts: PackOptions,
  ): HostPick | undefined {
    const pool = this.fleet.pools.get(poolId);
    if (!pool) return undefined;
    if (pool.kind === 'new') return this.freshPick(pool, demand, start, end, opts);
    const members = this.existing.get(poolId)!;
    // Decoding packs best fit (least room left) to keep room whole for the tasks still to come; the
    // greedy, which tries many choices, takes the first fit.
    const host = this.limits
      ? bestFit(
          members.filter((h) => fitsOver(demand, h.free, start, end)),
          (h) => slack(demand, pool.capacity, h.free, start, end),
        )
      : members.find((h) => fitsOver(demand, h.free, start, end));
    return host && { host, cost: 0, opened: false, extra: false };
  }

  private freshPick(
    pool: LaunchPool,
    demand: Resources,
    start: number,
    end: number,
    opts: PackOptions,
  ): HostPick | undefined {
    const hosts = this.fresh.get(pool.id)!;
    const perSlot = pool.pricePerHour * this.fleet.slotHours;
    const limit = this.limits?.get(pool.id);
    const inUse = this.inUse.get(pool.id)!;
    // The solver paid for x(t) instances in slot t: any instance may serve, as long as no more than
    // x(t) are in use in any slot (tasks cannot migrate, so identity across slots is the packer's job).
    const allowed = (h: NewHost | undefined) => !limit || withinLimit(limit, inUse, h, start, end);
    let best: HostPick | undefined;
    let bestRoom = Number.POSITIVE_INFINITY;
    for (const h of hosts) {
      const ok = allowed(h);
      if ((!ok && !opts.allowExtra) || !roomOver(demand, pool.capacity, h.used, start, end)) continue;
      const span = spanOf(h);
      const grow = span
        ? Math.max(0, span[0] - start) + Math.max(0, end - 1 - span[1])
        : end - start + pool.bootSlots;
      // Within the solver's counts the instance is already paid for (and within the caps).
      const prepaid = limit !== undefined && ok;
      const cost = (prepaid ? this.prepaidWeight() : 1) * grow * perSlot;
      const opened = this.capBasis === 'used' || (!prepaid && grow > 0);
      const room = limit ? slack(demand, pool.capacity, freeOf(pool, h), start, end) : 0;
      if (!best || cost < best.cost - 1e-12 || (Math.abs(cost - best.cost) <= 1e-12 && room < bestRoom)) {
        best = { host: h, cost, opened, extra: !ok };
        bestRoom = room;
      }
      if (cost === 0 && ok && !limit) break;
    }
    if (best && best.cost === 0) return best;
    const serial = this.nextSerial.get(pool.id) ?? 0;
    const ok = allowed(undefined);
    if (!ok && !opts.allowExtra) return best;
    const dense =
      this.openCharge === 'dense' && !opts.fullOpen ? Math.max(1, copiesThatFit(demand, pool.capacity)) : 1;
    const share = opts.fullOpen ? 1 : Math.min(1, dominantShare(demand, pool.capacity));
    const openCost =
      ((limit && ok ? this.prepaidWeight() : 1) * (end - start + pool.bootSlots) * perSlot * share) / dense;
    if (!best || openCost < best.cost) {
      const host: NewHost = {
        kind: 'new',
        poolId: pool.id,
        serial,
        used: Array.from({ length: this.fleet.slots }, () => ZERO_RESOURCES),
        tasks: new Array<number>(this.fleet.slots).fill(0),
      };
      return { host, cost: openCost, opened: this.capBasis === 'used' || !(limit && ok), extra: !ok };
    }
    return best;
  }

  /**
   * Share of its price an instance the solver paid for is charged at. Decoding takes the counts as
   * given (0). Rounding an LP, whose rounded-up counts are only a ceiling, charges in full: a task then
   * goes onto an instance already alive in its slots, in any pool, before it stretches or opens one,
   * since the plan finally pays for what is used (measured at 1000 jobs: 814.8 -> 820.1).
   */
  private prepaidWeight(): number {
    return this.capBasis === 'used' ? 1 : 0;
  }

  private bumpInUse(poolId: string, t: number, by: number): void {
    const u = this.inUse.get(poolId)!;
    u[t] = u[t]! + by;
  }

  private moveSpan(h: NewHost, by: 1 | -1): void {
    const span = spanOf(h);
    if (!span) return;
    const counts = this.spanCounts.get(h.poolId)!;
    for (let t = span[0]; t <= span[1]; t++) counts[t] = counts[t]! + by;
  }

  private occupy(task: PlacedTask): void {
    const h = task.host;
    if (h.kind === 'new') this.moveSpan(h, -1);
    if (h.kind === 'new') {
      const hosts = this.fresh.get(h.poolId)!;
      if (!hosts.includes(h)) hosts.push(h);
      this.nextSerial.set(h.poolId, Math.max(this.nextSerial.get(h.poolId) ?? 0, h.serial + 1));
    }
    for (let t = task.start; t < task.end; t++) {
      if (h.kind === 'existing') h.free[t] = subtractResources(h.free[t]!, task.leaf.demand);
      else {
        h.used[t] = addResources(h.used[t]!, task.leaf.demand);
        h.tasks[t] = h.tasks[t]! + 1;
        if (h.tasks[t] === 1) this.bumpInUse(h.poolId, t, 1);
      }
    }
    if (h.kind === 'new') this.moveSpan(h, 1);
  }

  private release(task: PlacedTask): void {
    const h = task.host;
    if (h.kind === 'new') this.moveSpan(h, -1);
    for (let t = task.start; t < task.end; t++) {
      if (h.kind === 'existing') h.free[t] = addResources(h.free[t]!, task.leaf.demand);
      else {
        h.used[t] = subtractResources(h.used[t]!, task.leaf.demand);
        h.tasks[t] = h.tasks[t]! - 1;
        if (h.tasks[t] === 0) this.bumpInUse(h.poolId, t, -1);
      }
    }
    if (h.kind === 'new') this.moveSpan(h, 1);
    if (h.kind === 'new') {
      const hosts = this.fresh.get(h.poolId)!;
      // Only the last-opened instances are dropped: the list stays in the order they were opened.
      while (hosts.length > 0 && hosts[hosts.length - 1]!.tasks.every((n) => n === 0)) hosts.pop();
    }
  }
}

function existingHost(pool: ExistingPool, id: string, i: number): ExistingHost {
  return { kind: 'existing', poolId: pool.id, id, free: pool.memberFree[i]!.map((f) => ({ ...f })) };
}
