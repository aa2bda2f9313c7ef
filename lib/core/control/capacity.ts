/**
 * What the fleet can still take: free resources per planning slot, the slot a booting instance becomes
 * usable, GPU indices not yet given out, and the PlacementInput the planner reads. Pure.
 */
import { findInstanceType, INSTANCE_CATALOG } from '../model/catalog.ts';
import type { Instance } from '../model/instance.ts';
import { type InstanceType, pricePerHour } from '../model/instance-type.ts';
import type { Job } from '../model/job.ts';
import { type Resources, subtractResources } from '../model/resources.ts';
import type { ExistingInstance, LaunchableType, PendingJob, PlacementInput } from '../placement/types.ts';
import type { CycleConfig } from './cycle-config.ts';
import type { TaskRecord } from './task-record.ts';

export interface SlotGrid {
  readonly now: number;
  readonly slotSeconds: number;
  readonly slots: number;
}

const slotMs = (g: SlotGrid) => g.slotSeconds * 1000;

/**
 * The slots `[first, end)` a task holds on its instance. Every active task is taken to hold from now,
 * even one planned to start later (its agent may start it as soon as it fits), until its expected end;
 * a task already past its expected end is assumed to run at least one more slot. A serving task's
 * expected end is OPEN_ENDED_AT (run-task.ts), so it holds every slot of every window until cancelled.
 */
export function heldSlots(task: Pick<TaskRecord, 'expectedEndAt'>, grid: SlotGrid): [number, number] {
  const end = task.expectedEndAt <= grid.now ? grid.now + slotMs(grid) : task.expectedEndAt;
  const last = Math.ceil((end - grid.now) / slotMs(grid));
  return [0, Math.min(grid.slots, Math.max(1, last))];
}

const clampAtZero = (r: Resources): Resources => ({
  vcpu: Math.max(0, r.vcpu),
  memoryMiB: Math.max(0, r.memoryMiB),
  gpus: Math.max(0, r.gpus),
});

/** Capacity minus what active tasks hold, per slot (never below zero). */
export function freeBySlot(capacity: Resources, tasks: readonly TaskRecord[], grid: SlotGrid): Resources[] {
  const free = Array.from({ length: grid.slots }, () => ({ ...capacity }));
  for (const task of tasks) {
    const [first, end] = heldSlots(task, grid);
    for (let t = first; t < end; t++) free[t] = subtractResources(free[t]!, task.resources);
  }
  return free.map(clampAtZero);
}

/** When the agent is expected to take work: the recorded `readyAt`, else launch plus the type's boot time. */
export function readyAtOf(instance: Instance): number {
  if (instance.readyAt !== undefined) return instance.readyAt;
  const boot = findInstanceType(instance.type)?.bootSeconds ?? 0;
  return instance.launchedAt + boot * 1000;
}

/**
 * First slot an instance can take work in: 0 once its agent has reported in, else the slot its
 * expected ready time falls in (`slots` when that is past the window).
 */
export function availableFromSlot(instance: Instance, grid: SlotGrid): number {
  if (instance.state === 'RUNNING' || instance.lastHeartbeatAt !== undefined) return 0;
  const wait = readyAtOf(instance) - grid.now;
  if (wait <= 0) return 0;
  return Math.min(grid.slots, Math.floor(wait / slotMs(grid)));
}

/** Since when an instance without tasks has had nothing to do; undefined while it holds tasks. */
export function idleSinceOf(instance: Instance, tasks: readonly TaskRecord[]): number | undefined {
  if (tasks.length > 0) return undefined;
  return Math.max(instance.lastBusyAt ?? Number.NEGATIVE_INFINITY, readyAtOf(instance), instance.launchedAt);
}

export function toExistingInstance(
  instance: Instance,
  tasks: readonly TaskRecord[],
  grid: SlotGrid,
): ExistingInstance {
  const type = findInstanceType(instance.type);
  return {
    id: instance.id,
    type: instance.type,
    market: instance.market,
    pricePerHour: type ? pricePerHour(type, instance.market) : 0,
    capacity: instance.capacity,
    gpuModel: type?.gpuModel,
    free: freeBySlot(instance.capacity, tasks, grid),
    availableFromSlot: availableFromSlot(instance, grid),
    idleSince: idleSinceOf(instance, tasks),
  };
}

/** The catalog's types the stack allows, in the markets the config allows. */
export function launchableTypes(config: CycleConfig): LaunchableType[] {
  const allowed = config.allowedInstanceTypes ? new Set(config.allowedInstanceTypes) : undefined;
  return INSTANCE_CATALOG.filter((t: InstanceType) => !allowed || allowed.has(t.name)).map((type) => ({
    type,
    markets: config.markets,
  }));
}

export function toPendingJob(job: Job): PendingJob {
  return { id: job.id, spec: job.spec, submittedAt: job.submittedAt, attempts: job.attempts };
}

/** Groups active tasks by the instance they hold resources on. */
export function tasksByInstance(tasks: readonly TaskRecord[]): Map<string, TaskRecord[]> {
  const out = new Map<string, TaskRecord[]>();
  for (const t of tasks) out.set(t.instanceId, [...(out.get(t.instanceId) ?? []), t]);
  return out;
}

export function buildPlacementInput(
  view: { instances: readonly Instance[]; tasks: readonly TaskRecord[]; jobs: readonly Job[] },
  config: CycleConfig,
  now: number,
): PlacementInput {
  const grid: SlotGrid = { now, slotSeconds: config.slotSeconds, slots: config.slots };
  const byInstance = tasksByInstance(view.tasks);
  return {
    now,
    slotSeconds: config.slotSeconds,
    slots: config.slots,
    instances: view.instances.map((i) => toExistingInstance(i, byInstance.get(i.id) ?? [], grid)),
    launchable: launchableTypes(config),
    jobs: view.jobs.map(toPendingJob),
    limits: {
      maxInstances: config.maxInstances,
      budgetPerHour: config.budgetPerHour,
      idleTimeoutSeconds: config.idleTimeoutSeconds,
    },
  };
}

/**
 * The lowest `count` GPU indices of `total` that are not in `used`, or undefined when too few are left.
 * Lowest first keeps the choice deterministic, so a re-run of the same decision picks the same GPUs.
 */
export function pickGpuIndices(
  count: number,
  total: number,
  used: ReadonlySet<number>,
): number[] | undefined {
  const out: number[] = [];
  for (let i = 0; i < total && out.length < count; i++) if (!used.has(i)) out.push(i);
  return out.length === count ? out : undefined;
}
