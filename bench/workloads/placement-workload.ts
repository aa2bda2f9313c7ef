/**
 * Seeded synthetic placement workloads, for the placement benchmark and the multi-cycle replay.
 *
 * - Jobs come from a pool of templates (job-templates.ts), so identical jobs repeat, as they do when
 *   users resubmit the same training or batch step; submission times fall on slot boundaries of the
 *   last half hour, so repeats are also identical in time.
 * - The existing fleet has 20-200 instances of 12 types; each may be partly busy with running tasks
 *   that end at a random slot, or still booting.
 * - Launchable: every catalog type with at most 64 vCPUs, except Inferentia (not CUDA): 39 types.
 * - A window of 16 slots of 10 minutes.
 */
import { INSTANCE_CATALOG } from '../../lib/core/model/catalog.ts';
import type { InstanceType } from '../../lib/core/model/instance-type.ts';
import type { JobSpec } from '../../lib/core/model/job.ts';
import type { Resources } from '../../lib/core/model/resources.ts';
import type {
  ExistingInstance,
  LaunchableType,
  PendingJob,
  PlacementInput,
  PlacementLimits,
} from '../../lib/core/placement/types.ts';
import { makeTemplate, nominalJobCost, pick, type Random, rng, uniform } from './job-templates.ts';

export const DEFAULT_NOW = Date.UTC(2026, 0, 5, 12, 0, 0);
export const DEFAULT_SLOT_SECONDS = 600;
export const DEFAULT_SLOTS = 16;

/** The launchable catalog subset used by the workloads. */
export function benchInstanceTypes(): InstanceType[] {
  return INSTANCE_CATALOG.filter((t) => t.vcpu <= 64 && t.inferentiaChips === 0 && t.family !== 'inf2');
}

export function launchable(types: readonly InstanceType[] = benchInstanceTypes()): LaunchableType[] {
  return types.map((type) => ({ type, markets: ['on-demand'] }));
}

/** Templates are drawn from their own stream so that the job count does not change them. */
export function makeTemplates(seed: number, count: number, types: readonly InstanceType[]): JobSpec[] {
  const r = rng(seed ^ 0x5eed);
  return Array.from({ length: count }, (_, i) => makeTemplate(r, i, types));
}

const FLEET_TYPE_NAMES = [
  'c7i.2xlarge',
  'c7i.4xlarge',
  'm7i.2xlarge',
  'm7i.4xlarge',
  'm7i.8xlarge',
  'r7i.2xlarge',
  'g4dn.xlarge',
  'g4dn.2xlarge',
  'g5.xlarge',
  'g5.2xlarge',
  'g6.xlarge',
  'g6.2xlarge',
];

function scaled(cap: Resources, fraction: number): Resources {
  return {
    vcpu: Math.floor(cap.vcpu * fraction),
    memoryMiB: Math.floor(cap.memoryMiB * fraction),
    gpus: Math.floor(cap.gpus * fraction),
  };
}

/** One existing instance: busy with a random share of its capacity until a random slot. */
function existingInstance(
  r: Random,
  i: number,
  types: readonly InstanceType[],
  now: number,
  slots: number,
): ExistingInstance {
  const typeName = pick(r, FLEET_TYPE_NAMES);
  const type = types.find((t) => t.name === typeName) ?? pick(r, types);
  const capacity = { vcpu: type.vcpu, memoryMiB: type.memoryMiB, gpus: type.gpus };
  const busyShare = pick(r, [0, 0, 0.5, 1]);
  const busyUntil = Math.floor(uniform(r, 1, slots / 2));
  const free = Array.from({ length: slots }, (_, s) =>
    s < busyUntil ? scaled(capacity, 1 - busyShare) : capacity,
  );
  const booting = r() < 0.05;
  return {
    id: `i-${String(i).padStart(5, '0')}`,
    type: type.name,
    market: 'on-demand',
    pricePerHour: type.onDemandPerHour,
    capacity,
    free,
    availableFromSlot: booting ? 1 : 0,
    ...(busyShare === 0 && !booting ? { idleSince: now - Math.floor(uniform(r, 0, 1800)) * 1000 } : {}),
  };
}

export interface WorkloadOptions {
  readonly seed: number;
  readonly jobs: number;
  /** Existing instances; default grows with the job count, from 20 to 200. */
  readonly instances?: number;
  /** Size of the template pool. @default 120 */
  readonly templates?: number;
  readonly slots?: number;
  readonly slotSeconds?: number;
  readonly now?: number;
  readonly limits?: Partial<PlacementLimits>;
}

export function defaultFleetSize(jobs: number): number {
  return Math.max(20, Math.min(200, Math.round(jobs / 25)));
}

/** `count` pending jobs with ids `${prefix}-${n}`, submitted at slot boundaries of the last 30 minutes. */
export function pendingJobs(
  r: Random,
  templates: readonly JobSpec[],
  count: number,
  now: number,
  slotSeconds: number,
  prefix = 'job',
): PendingJob[] {
  const back = Math.max(1, Math.round(1800 / slotSeconds));
  return Array.from({ length: count }, (_, n) => ({
    id: `${prefix}-${String(n).padStart(5, '0')}`,
    spec: pick(r, templates),
    submittedAt: now - Math.floor(r() * (back + 1)) * slotSeconds * 1000,
    attempts: 0,
  }));
}

/** A single-cycle placement input. The same options always give the same input. */
export function generatePlacementWorkload(options: WorkloadOptions): PlacementInput {
  const slots = options.slots ?? DEFAULT_SLOTS;
  const slotSeconds = options.slotSeconds ?? DEFAULT_SLOT_SECONDS;
  const now = options.now ?? DEFAULT_NOW;
  const types = benchInstanceTypes();
  const templates = makeTemplates(options.seed, options.templates ?? 120, types);
  const r = rng(options.seed);
  const fleetSize = options.instances ?? defaultFleetSize(options.jobs);
  const instances = Array.from({ length: fleetSize }, (_, i) => existingInstance(r, i, types, now, slots));
  const jobs = pendingJobs(r, templates, options.jobs, now, slotSeconds);
  const fleetCost = instances.reduce((s, i) => s + i.pricePerHour, 0);
  return {
    now,
    slotSeconds,
    slots,
    instances,
    launchable: launchable(types),
    jobs,
    limits: {
      maxInstances: fleetSize + 400,
      budgetPerHour: Math.round(fleetCost + 400),
      idleTimeoutSeconds: 900,
      ...options.limits,
    },
  };
}

/**
 * The next cycle of a steady state: `input` with a share of its jobs replaced by new ones (fresh ids,
 * same templates), at the same instant, so the solver sees a mostly unchanged model.
 */
export function churnJobs(
  input: PlacementInput,
  seed: number,
  share: number,
  templatesSeed: number,
): PlacementInput {
  const r = rng(seed);
  const replace = Math.round(input.jobs.length * share);
  const kept = [...input.jobs];
  for (let k = 0; k < replace && kept.length > 0; k++) kept.splice(Math.floor(r() * kept.length), 1);
  const templates = makeTemplates(templatesSeed, 120, benchInstanceTypes());
  const fresh = pendingJobs(r, templates, replace, input.now, input.slotSeconds, `new${seed}`);
  return { ...input, jobs: [...kept, ...fresh] };
}

// --- arrival traces for the replay ---------------------------------------------------------------

export interface Arrival {
  readonly id: string;
  readonly at: number;
  readonly spec: JobSpec;
}

export interface TraceOptions {
  readonly seed: number;
  /** Offered load: nominal $/h of arriving work over `budgetPerHour`. */
  readonly load: number;
  readonly budgetPerHour: number;
  /** Length of the arrival period. */
  readonly durationSeconds: number;
  readonly start?: number;
  readonly templates?: number;
  /** Multiplies every job's value (the templates price jobs at 2-6x their cheapest cost). @default 1 */
  readonly valueScale?: number;
}

function scaleValue(spec: JobSpec, k: number): JobSpec {
  if (k === 1 || !spec.utility) return spec;
  return { ...spec, utility: { ...spec.utility, value: Math.min(1e6, spec.utility.value * k) } };
}

/**
 * Poisson arrivals drawn from the templates at a rate that makes the offered load `load`: the
 * cheapest way to run each job (its share of the cheapest fitting type, for the fastest-to-pay
 * alternative) summed per hour, over the budget. Load 1 would keep the whole budget busy even if
 * every job ran on its cheapest alternative and packed perfectly.
 */
export function generateArrivalTrace(options: TraceOptions): Arrival[] {
  const types = benchInstanceTypes();
  const templates = makeTemplates(options.seed, options.templates ?? 60, types).map((t) =>
    scaleValue(t, options.valueScale ?? 1),
  );
  const meanCost = templates.reduce((s, t) => s + nominalJobCost(t, types), 0) / templates.length;
  const perHour = (options.load * options.budgetPerHour) / meanCost;
  const r = rng(options.seed + 1);
  const start = options.start ?? DEFAULT_NOW;
  const arrivals: Arrival[] = [];
  let t = 0;
  for (let n = 0; ; n++) {
    t += (-Math.log(1 - r()) / perHour) * 3600;
    if (t >= options.durationSeconds) break;
    arrivals.push({
      id: `a-${String(n).padStart(5, '0')}`,
      at: start + Math.round(t * 1000),
      spec: pick(r, templates),
    });
  }
  return arrivals;
}
