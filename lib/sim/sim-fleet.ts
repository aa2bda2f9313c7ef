/**
 * The simulated fleet of the replay: instances with the tasks committed to them, exact in time
 * (milliseconds), and the slot view of it that a placer sees (`ExistingInstance.free` per slot).
 */
import type { InstanceType, Market } from '../core/model/instance-type.ts';
import type { Resources } from '../core/model/resources.ts';
import type { ExistingInstance } from '../core/placement/types.ts';

export interface SimTask {
  readonly jobId: string;
  readonly taskIndex: number;
  readonly resources: Resources;
  readonly start: number;
  readonly end: number;
}

export interface SimInstance {
  readonly id: string;
  readonly type: InstanceType;
  readonly market: Market;
  readonly pricePerHour: number;
  readonly capacity: Resources;
  readonly launchedAt: number;
  readonly readyAt: number;
  terminatedAt?: number;
  /** Tasks running or committed to start later; finished ones are dropped. */
  tasks: SimTask[];
  /** When the last task here ended (or when it became ready, before any task ran). */
  lastBusyAt: number;
}

export function newInstance(
  id: string,
  type: InstanceType,
  market: Market,
  launchedAt: number,
  bootSeconds: number,
): SimInstance {
  const readyAt = launchedAt + bootSeconds * 1000;
  return {
    id,
    type,
    market,
    pricePerHour: market === 'spot' ? type.spotPerHour : type.onDemandPerHour,
    capacity: { vcpu: type.vcpu, memoryMiB: type.memoryMiB, gpus: type.gpus },
    launchedAt,
    readyAt,
    tasks: [],
    lastBusyAt: readyAt,
  };
}

/** Resources in use at instant `t` (tasks are half-open [start, end)). */
function usageAt(inst: SimInstance, t: number): Resources {
  let vcpu = 0;
  let memoryMiB = 0;
  let gpus = 0;
  for (const task of inst.tasks) {
    if (task.start <= t && t < task.end) {
      vcpu += task.resources.vcpu;
      memoryMiB += task.resources.memoryMiB;
      gpus += task.resources.gpus;
    }
  }
  return { vcpu, memoryMiB, gpus };
}

const EPS = 1e-9;

/** Does `need` fit on `inst` throughout [start, end)? Checked at every instant where usage can rise. */
export function fitsDuring(inst: SimInstance, need: Resources, start: number, end: number): boolean {
  if (start < inst.readyAt) return false;
  const points = [start, ...inst.tasks.filter((t) => t.start > start && t.start < end).map((t) => t.start)];
  return points.every((p) => {
    const used = usageAt(inst, p);
    return (
      used.vcpu + need.vcpu <= inst.capacity.vcpu + EPS &&
      used.memoryMiB + need.memoryMiB <= inst.capacity.memoryMiB + EPS &&
      used.gpus + need.gpus <= inst.capacity.gpus + EPS
    );
  });
}

/** Peak use in [from, to): the most conservative view of a slot, as the planner needs it. */
function peakUse(inst: SimInstance, from: number, to: number): Resources {
  const points = [from, ...inst.tasks.filter((t) => t.start > from && t.start < to).map((t) => t.start)];
  let peak: Resources = { vcpu: 0, memoryMiB: 0, gpus: 0 };
  for (const p of points) {
    const u = usageAt(inst, p);
    peak = {
      vcpu: Math.max(peak.vcpu, u.vcpu),
      memoryMiB: Math.max(peak.memoryMiB, u.memoryMiB),
      gpus: Math.max(peak.gpus, u.gpus),
    };
  }
  return peak;
}

/**
 * The placer's view of `inst` at `now`: free resources per slot, taken at the slot's peak use, so a
 * task ending mid-slot still holds its share of that slot.
 */
export function toExistingInstance(
  inst: SimInstance,
  now: number,
  slotSeconds: number,
  slots: number,
): ExistingInstance {
  const slotMs = slotSeconds * 1000;
  const free = Array.from({ length: slots }, (_, s) => {
    const from = now + s * slotMs;
    const to = from + slotMs;
    const peak = peakUse(inst, from, to);
    return {
      vcpu: Math.max(0, inst.capacity.vcpu - peak.vcpu),
      memoryMiB: Math.max(0, inst.capacity.memoryMiB - peak.memoryMiB),
      gpus: Math.max(0, inst.capacity.gpus - peak.gpus),
    };
  });
  const availableFromSlot = inst.readyAt <= now ? 0 : Math.ceil((inst.readyAt - now) / slotMs - EPS);
  const busy = inst.tasks.some((t) => t.end > now);
  return {
    id: inst.id,
    type: inst.type.name,
    market: inst.market,
    pricePerHour: inst.pricePerHour,
    capacity: inst.capacity,
    free,
    availableFromSlot: Math.min(availableFromSlot, slots),
    ...(busy || inst.readyAt > now ? {} : { idleSince: inst.lastBusyAt }),
  };
}

/** Drop tasks that ended by `now`, remembering when the instance was last busy. */
export function retireFinished(inst: SimInstance, now: number): void {
  const done = inst.tasks.filter((t) => t.end <= now);
  if (done.length === 0) return;
  inst.lastBusyAt = Math.max(inst.lastBusyAt, ...done.map((t) => t.end));
  inst.tasks = inst.tasks.filter((t) => t.end > now);
}

/** $ spent on `inst` up to `until`. */
export function instanceCost(inst: SimInstance, until: number): number {
  const end = Math.min(inst.terminatedAt ?? until, until);
  return (inst.pricePerHour * Math.max(0, end - inst.launchedAt)) / 3_600_000;
}
