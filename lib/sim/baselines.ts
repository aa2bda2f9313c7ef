/**
 * Greedy baseline placers for the replay, over the same PlacementInput the MILP sees. Both only start
 * work now (on a ready instance, a booting one, or one they launch now); neither plans ahead.
 *
 * - `planEdf`: earliest deadline first, aware of heterogeneity. For each job, in deadline order, it
 *   tries every alternative on the capacity it has (existing instances and those launched this cycle)
 *   and on a fresh launch of the cheapest type that fits, and takes the option that finishes soonest
 *   (then the cheaper one). It skips a job that would finish past its hard deadline.
 * - `planFifo`: first in, first out, first fit, unaware of heterogeneity: the job's first alternative,
 *   the first instance that fits, else a launch of the first launchable type that fits. A job that
 *   does not fit is skipped (not blocking the queue).
 * Both honour the fleet cap and the $/h budget, and terminate instances idle past the timeout.
 */
import type { InstanceType, Market } from '../core/model/instance-type.ts';
import type { Alternative, Requirement } from '../core/model/job.ts';
import type { Placement } from '../core/model/placement.ts';
import { copiesThatFit, fits, type Resources } from '../core/model/resources.ts';
import { hardDeadlineSeconds } from '../core/model/utility.ts';
import type { Launch, PendingJob, PlacementInput, PlacementPlan } from '../core/placement/types.ts';

interface Host {
  readonly id: string;
  readonly typeName: string;
  readonly info?: InstanceType;
  readonly market: Market;
  readonly capacity: Resources;
  /** Free resources per slot; mutated as tasks are placed. */
  readonly free: Resources[];
  readonly availableFromSlot: number;
  /** Exact start offset (ms after now) for instances launched this cycle. */
  readonly readyOffsetMs: number;
  readonly launch?: { type: string; market: Market; index: number };
  used: boolean;
}

interface Ctx {
  readonly input: PlacementInput;
  readonly hosts: Host[];
  readonly types: ReadonlyMap<string, InstanceType>;
  fleetCount: number;
  fleetCostPerHour: number;
  readonly launches: Map<string, Launch>;
  readonly placements: Placement[];
  readonly unplaced: Record<string, string>;
}

function compatible(
  q: Requirement,
  typeName: string,
  info: InstanceType | undefined,
  market: Market,
  cap: Resources,
): boolean {
  if (market === 'spot' && !q.spot) return false;
  if (q.instanceTypes && !q.instanceTypes.includes(typeName)) return false;
  if (q.families && !q.families.includes(info?.family ?? typeName.split('.')[0] ?? '')) return false;
  if (q.gpuModel && info?.gpuModel !== q.gpuModel) return false;
  return fits(need(q), cap);
}

const need = (q: Requirement): Resources => ({ vcpu: q.vcpu, memoryMiB: q.memoryMiB, gpus: q.gpus });

function context(input: PlacementInput): Ctx {
  const types = new Map(input.launchable.map((l) => [l.type.name, l.type]));
  const hosts: Host[] = input.instances.map((inst) => ({
    id: inst.id,
    typeName: inst.type,
    ...(types.get(inst.type) ? { info: types.get(inst.type) } : {}),
    market: inst.market,
    capacity: inst.capacity,
    free: inst.free.map((f) => ({ ...f })),
    availableFromSlot: inst.availableFromSlot,
    readyOffsetMs: inst.availableFromSlot * input.slotSeconds * 1000,
    used: false,
  }));
  return {
    input,
    hosts,
    types,
    fleetCount: input.instances.length,
    fleetCostPerHour: input.instances.reduce((s, i) => s + i.pricePerHour, 0),
    launches: new Map(),
    placements: [],
    unplaced: {},
  };
}

interface Option {
  readonly alternative: number;
  /** Hosts chosen per task (length = gang); a host may appear several times. */
  readonly hosts: Host[];
  readonly finishMs: number;
  readonly launchCost: number;
}

/** Slots [from, to) of the window that a run starting at slot `from` for `seconds` occupies. */
function slotRange(input: PlacementInput, from: number, seconds: number): [number, number] {
  return [from, Math.min(input.slots, from + Math.ceil(seconds / input.slotSeconds - 1e-9))];
}

function hostFits(ctx: Ctx, host: Host, demand: Resources, seconds: number): boolean {
  if (host.availableFromSlot >= ctx.input.slots) return false;
  const [from, to] = slotRange(ctx.input, host.availableFromSlot, seconds);
  for (let s = from; s < to; s++) if (!fits(demand, host.free[s] ?? host.capacity)) return false;
  return true;
}

function take(ctx: Ctx, host: Host, demand: Resources, seconds: number, sign: 1 | -1): void {
  const [from, to] = slotRange(ctx.input, host.availableFromSlot, seconds);
  for (let s = from; s < to; s++) {
    const f = host.free[s];
    if (!f) continue;
    host.free[s] = {
      vcpu: f.vcpu - sign * demand.vcpu,
      memoryMiB: f.memoryMiB - sign * demand.memoryMiB,
      gpus: f.gpus - sign * demand.gpus,
    };
  }
}

/** First fit of the job's gang on the current hosts; returns the hosts per task or undefined. */
function fitOnHosts(ctx: Ctx, job: PendingJob, alt: Alternative): Host[] | undefined {
  const demand = need(alt.requirement);
  const chosen: Host[] = [];
  for (const host of ctx.hosts) {
    if (!compatible(alt.requirement, host.typeName, host.info, host.market, host.capacity)) continue;
    while (chosen.length < job.spec.gang && hostFits(ctx, host, demand, alt.durationSeconds)) {
      take(ctx, host, demand, alt.durationSeconds, 1);
      chosen.push(host);
    }
    if (chosen.length === job.spec.gang) break;
  }
  for (const host of chosen) take(ctx, host, demand, alt.durationSeconds, -1);
  return chosen.length === job.spec.gang ? chosen : undefined;
}

/** New hosts of the given type for the whole gang, if the cap and budget allow them. */
function launchHosts(ctx: Ctx, job: PendingJob, alt: Alternative, typeName: string): Host[] | undefined {
  const lt = ctx.input.launchable.find((l) => l.type.name === typeName);
  if (!lt) return undefined;
  const market: Market = lt.markets.includes('on-demand') ? 'on-demand' : 'spot';
  const perInstance = copiesThatFit(need(alt.requirement), {
    vcpu: lt.type.vcpu,
    memoryMiB: lt.type.memoryMiB,
    gpus: lt.type.gpus,
  });
  if (perInstance < 1) return undefined;
  const count = Math.ceil(job.spec.gang / perInstance);
  const price = market === 'spot' ? lt.type.spotPerHour : lt.type.onDemandPerHour;
  const { limits } = ctx.input;
  if (ctx.fleetCount + count > limits.maxInstances) return undefined;
  if (ctx.fleetCostPerHour + count * price > limits.budgetPerHour + 1e-9) return undefined;
  const bootSeconds = lt.bootSeconds ?? lt.type.bootSeconds;
  const availableFromSlot = Math.ceil(bootSeconds / ctx.input.slotSeconds - 1e-9);
  const key = `${typeName}|${market}`;
  const already = ctx.launches.get(key)?.count ?? 0;
  const hosts: Host[] = [];
  for (let k = 0; k < count; k++) {
    const capacity = { vcpu: lt.type.vcpu, memoryMiB: lt.type.memoryMiB, gpus: lt.type.gpus };
    hosts.push({
      id: `new:${key}:${already + k}`,
      typeName,
      info: lt.type,
      market,
      capacity,
      free: Array.from({ length: ctx.input.slots }, () => ({ ...capacity })),
      availableFromSlot,
      readyOffsetMs: bootSeconds * 1000,
      launch: { type: typeName, market, index: already + k },
      used: false,
    });
  }
  return hosts;
}

function cheapestLaunchType(ctx: Ctx, alt: Alternative): string | undefined {
  let best: { name: string; price: number } | undefined;
  for (const lt of ctx.input.launchable) {
    const cap = { vcpu: lt.type.vcpu, memoryMiB: lt.type.memoryMiB, gpus: lt.type.gpus };
    if (!compatible(alt.requirement, lt.type.name, lt.type, 'on-demand', cap)) continue;
    if (!best || lt.type.onDemandPerHour < best.price)
      best = { name: lt.type.name, price: lt.type.onDemandPerHour };
  }
  return best?.name;
}

function firstLaunchType(ctx: Ctx, alt: Alternative): string | undefined {
  return ctx.input.launchable.find((lt) =>
    compatible(alt.requirement, lt.type.name, lt.type, 'on-demand', {
      vcpu: lt.type.vcpu,
      memoryMiB: lt.type.memoryMiB,
      gpus: lt.type.gpus,
    }),
  )?.type.name;
}

function finishOf(hosts: readonly Host[], alt: Alternative): number {
  return Math.max(...hosts.map((h) => h.readyOffsetMs)) + alt.durationSeconds * 1000;
}

function commit(ctx: Ctx, job: PendingJob, option: Option): void {
  const alt = job.spec.alternatives[option.alternative];
  if (!alt) return;
  const demand = need(alt.requirement);
  option.hosts.forEach((host, taskIndex) => {
    if (host.launch && !ctx.hosts.includes(host)) {
      ctx.hosts.push(host);
      ctx.fleetCount++;
      const price =
        host.market === 'spot' ? (host.info?.spotPerHour ?? 0) : (host.info?.onDemandPerHour ?? 0);
      ctx.fleetCostPerHour += price;
      const key = `${host.launch.type}|${host.launch.market}`;
      const prev = ctx.launches.get(key);
      ctx.launches.set(key, {
        type: host.launch.type,
        market: host.launch.market,
        count: (prev?.count ?? 0) + 1,
        slot: 0,
        firstIndex: 0,
      });
    }
    take(ctx, host, demand, alt.durationSeconds, 1);
    host.used = true;
    const startAt = ctx.input.now + host.readyOffsetMs;
    ctx.placements.push({
      jobId: job.id,
      taskIndex,
      attempt: job.attempts,
      alternative: option.alternative,
      target: host.launch
        ? { kind: 'new', type: host.launch.type, index: host.launch.index, market: host.launch.market }
        : { kind: 'existing', instanceId: host.id },
      resources: demand,
      gpuIndices: [],
      startAt,
      expectedEndAt: startAt + alt.durationSeconds * 1000,
    });
  });
}

function edfOption(ctx: Ctx, job: PendingJob): Option | undefined {
  let best: Option | undefined;
  job.spec.alternatives.forEach((alt, alternative) => {
    const candidates: { hosts: Host[]; launchCost: number }[] = [];
    const onHosts = fitOnHosts(ctx, job, alt);
    if (onHosts) candidates.push({ hosts: onHosts, launchCost: 0 });
    const typeName = cheapestLaunchType(ctx, alt);
    const fresh = typeName ? launchHosts(ctx, job, alt, typeName) : undefined;
    if (fresh)
      candidates.push({ hosts: fresh, launchCost: fresh.length * (fresh[0]?.info?.onDemandPerHour ?? 0) });
    for (const c of candidates) {
      const finishMs = finishOf(c.hosts, alt);
      if (!best || finishMs < best.finishMs || (finishMs === best.finishMs && c.launchCost < best.launchCost))
        best = { alternative, hosts: c.hosts, finishMs, launchCost: c.launchCost };
    }
  });
  return best;
}

function fifoOption(ctx: Ctx, job: PendingJob): Option | undefined {
  const alt = job.spec.alternatives[0];
  if (!alt) return undefined;
  const onHosts = fitOnHosts(ctx, job, alt);
  const typeName = onHosts ? undefined : firstLaunchType(ctx, alt);
  const hosts = onHosts ?? (typeName ? launchHosts(ctx, job, alt, typeName) : undefined);
  return hosts ? { alternative: 0, hosts, finishMs: finishOf(hosts, alt), launchCost: 0 } : undefined;
}

function deadlineAt(job: PendingJob): number {
  return job.submittedAt + (job.spec.utility?.deadlineSeconds ?? Number.POSITIVE_INFINITY) * 1000;
}

function hardDeadlineAt(job: PendingJob): number {
  return (
    job.submittedAt +
    (job.spec.utility ? hardDeadlineSeconds(job.spec.utility) : Number.POSITIVE_INFINITY) * 1000
  );
}

function finish(ctx: Ctx, startedMs: number, now: () => number): PlacementPlan {
  const { input } = ctx;
  const terminations = input.instances.flatMap((inst) => {
    const host = ctx.hosts.find((h) => h.id === inst.id);
    const idleFor = inst.idleSince === undefined ? 0 : (input.now - inst.idleSince) / 1000;
    if (host?.used || inst.idleSince === undefined || idleFor < input.limits.idleTimeoutSeconds) return [];
    return [
      {
        instanceId: inst.id,
        reason: `idle for ${Math.round(idleFor)}s, over the ${input.limits.idleTimeoutSeconds}s timeout`,
      },
    ];
  });
  return {
    placements: ctx.placements,
    launches: [...ctx.launches.values()],
    futureLaunches: [],
    terminations,
    unplaced: ctx.unplaced,
    future: [],
    objective: 0,
    utility: 0,
    cost: 0,
    solveMs: now() - startedMs,
    engine: 'greedy',
    model: { variables: 0, rows: 0 },
    repairs: [],
    explanations: {},
    // The baselines never plan ahead: the fleet they leave now stands for every slot.
    fleetBySlot: Array.from({ length: input.slots }, () => ({
      instances: ctx.fleetCount,
      perHour: ctx.fleetCostPerHour,
    })),
    notes: [],
  };
}

function run(
  input: PlacementInput,
  order: PendingJob[],
  choose: (ctx: Ctx, job: PendingJob) => Option | undefined,
  aware: boolean,
): PlacementPlan {
  const clock = () => performance.now();
  const started = clock();
  const ctx = context(input);
  for (const job of order) {
    const option = choose(ctx, job);
    if (!option) ctx.unplaced[job.id] = 'no capacity fits it now within the fleet cap and budget';
    else if (aware && input.now + option.finishMs > hardDeadlineAt(job))
      ctx.unplaced[job.id] = 'cannot finish before its hard deadline';
    else commit(ctx, job, option);
  }
  return finish(ctx, started, clock);
}

/** Earliest deadline first; picks the alternative and type that finish soonest. */
export function planEdf(input: PlacementInput): PlacementPlan {
  const order = [...input.jobs].sort((a, b) => deadlineAt(a) - deadlineAt(b) || (a.id < b.id ? -1 : 1));
  return run(input, order, edfOption, true);
}

/** First in, first out, first fit, first alternative. */
export function planFifo(input: PlacementInput): PlacementPlan {
  const order = [...input.jobs].sort((a, b) => a.submittedAt - b.submittedAt || (a.id < b.id ? -1 : 1));
  return run(input, order, fifoOption, false);
}
