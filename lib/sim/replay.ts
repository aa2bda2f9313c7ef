/**
 * A multi-cycle replay of one arrival trace against a placer, on a simulated clock and fleet.
 *
 * Each cycle (every `cycleSeconds`, by default one slot): tasks that ended are retired, jobs that can no longer earn
 * anything expire, new arrivals join the queue, the placer plans, and the replay commits what the
 * plan starts now: launches (ready after their boot time), placements (checked against the exact
 * capacity of their instance over their whole run; a gang is committed whole or not at all; a task
 * starts as soon as its instance is ready and has room, as the agent would run it) and
 * terminations of idle instances. Tasks run for their alternative's stated duration. A job meets its
 * deadline when its last task ends by `submittedAt + deadlineSeconds`.
 */
import type { JobSpec } from '../core/model/job.ts';
import type { Placement } from '../core/model/placement.ts';
import { hardDeadlineSeconds, utilityAt } from '../core/model/utility.ts';
import type {
  LaunchableType,
  PlacementInput,
  PlacementLimits,
  PlacementPlan,
} from '../core/placement/types.ts';
import {
  fitsDuring,
  instanceCost,
  newInstance,
  retireFinished,
  type SimInstance,
  toExistingInstance,
} from './sim-fleet.ts';

export interface ReplayArrival {
  readonly id: string;
  /** Epoch ms. */
  readonly at: number;
  readonly spec: JobSpec;
}

export type Placer = (input: PlacementInput) => Promise<PlacementPlan> | PlacementPlan;

export interface ReplayOptions {
  readonly arrivals: readonly ReplayArrival[];
  readonly placer: Placer;
  readonly start: number;
  readonly slotSeconds: number;
  readonly slots: number;
  /** Time between schedule cycles; the slot grid restarts at each cycle. @default slotSeconds */
  readonly cycleSeconds?: number;
  readonly launchable: readonly LaunchableType[];
  readonly limits: PlacementLimits;
  /** Instances running at the start (ready, idle). */
  readonly initialFleet?: readonly { readonly type: string; readonly count: number }[];
  /** Stop after this many cycles even if work remains. @default 500 */
  readonly maxCycles?: number;
  readonly onCycle?: (cycle: CycleStats) => void;
}

export interface CycleStats {
  readonly cycle: number;
  readonly now: number;
  readonly pending: number;
  readonly started: number;
  readonly launched: number;
  readonly placerMs: number;
}

export interface ReplayResult {
  readonly jobs: number;
  readonly met: number;
  readonly late: number;
  readonly expired: number;
  /** met / jobs. */
  readonly deadlineMet: number;
  /** Utility earned by completed jobs, by their utility curves. */
  readonly utility: number;
  /** $ of every instance over the replay. */
  readonly cost: number;
  readonly cycles: number;
  /** Placements the replay refused: unknown target, over capacity, over cap or budget. */
  readonly violations: readonly string[];
  readonly placerMs: { readonly total: number; readonly max: number };
}

interface SimJob {
  readonly arrival: ReplayArrival;
  state: 'pending' | 'running' | 'done' | 'expired';
  completedAt?: number;
}

interface SimState {
  readonly options: ReplayOptions;
  readonly types: ReadonlyMap<string, LaunchableType>;
  readonly instances: SimInstance[];
  readonly jobs: Map<string, SimJob>;
  readonly violations: string[];
  nextInstance: number;
}

function launchInstance(
  state: SimState,
  typeName: string,
  market: 'on-demand' | 'spot',
  now: number,
): SimInstance | undefined {
  const lt = state.types.get(typeName);
  if (!lt) return undefined;
  const inst = newInstance(
    `sim-${String(state.nextInstance++).padStart(5, '0')}`,
    lt.type,
    market,
    now,
    lt.bootSeconds ?? lt.type.bootSeconds,
  );
  state.instances.push(inst);
  return inst;
}

const alive = (state: SimState, now: number) =>
  state.instances.filter((i) => i.terminatedAt === undefined || i.terminatedAt > now);

function placerInput(state: SimState, now: number): PlacementInput {
  const { options } = state;
  return {
    now,
    slotSeconds: options.slotSeconds,
    slots: options.slots,
    instances: alive(state, now).map((i) => toExistingInstance(i, now, options.slotSeconds, options.slots)),
    launchable: options.launchable,
    jobs: [...state.jobs.values()]
      .filter((j) => j.state === 'pending')
      .map((j) => ({ id: j.arrival.id, spec: j.arrival.spec, submittedAt: j.arrival.at, attempts: 0 })),
    limits: options.limits,
  };
}

/** Launch what the plan asks for now, within the cap and budget; returns `type|market|index` -> instance. */
function applyLaunches(state: SimState, plan: PlacementPlan, now: number): Map<string, SimInstance> {
  const created = new Map<string, SimInstance>();
  const { limits } = state.options;
  for (const launch of plan.launches.filter((l) => l.slot === 0)) {
    for (let k = 0; k < launch.count; k++) {
      const fleet = alive(state, now);
      const price = state.types.get(launch.type)?.type.onDemandPerHour ?? 0;
      const spend = fleet.reduce((s, i) => s + i.pricePerHour, 0);
      if (fleet.length + 1 > limits.maxInstances || spend + price > limits.budgetPerHour + 1e-6) {
        state.violations.push(`launch of ${launch.type} at ${now} exceeds the fleet cap or budget`);
        continue;
      }
      const inst = launchInstance(state, launch.type, launch.market, now);
      if (inst) created.set(`${launch.type}|${launch.market}|${launch.firstIndex + k}`, inst);
      else state.violations.push(`launch of unknown type ${launch.type}`);
    }
  }
  return created;
}

function targetOf(state: SimState, p: Placement, created: Map<string, SimInstance>): SimInstance | undefined {
  if (p.target.kind === 'existing') {
    const id = p.target.instanceId;
    return state.instances.find((i) => i.id === id && i.terminatedAt === undefined);
  }
  return created.get(`${p.target.type}|${p.target.market}|${p.target.index}`);
}

/** Commit one job's placements as a gang: all tasks fit, or none is committed. */
function commitJob(
  state: SimState,
  job: SimJob,
  placements: Placement[],
  created: Map<string, SimInstance>,
  now: number,
): boolean {
  const spec = job.arrival.spec;
  const staged: { inst: SimInstance; start: number; end: number; p: Placement }[] = [];
  const undo = () => {
    for (const s of staged) s.inst.tasks.pop();
  };
  for (const p of placements) {
    const alt = spec.alternatives[p.alternative];
    const inst = targetOf(state, p, created);
    if (!alt || !inst) {
      undo();
      state.violations.push(
        `job ${job.arrival.id}: unknown alternative or target ${JSON.stringify(p.target)}`,
      );
      return false;
    }
    // The agent runs a dispatched task as soon as its instance is ready and has room: that can be
    // before the slot the planner booked (a slot grid rounds boot times up).
    const seconds = alt.durationSeconds * 1000;
    const start = [Math.max(now, inst.readyAt), Math.max(now, p.startAt, inst.readyAt)].find((t) =>
      fitsDuring(inst, p.resources, t, t + seconds),
    );
    if (start === undefined) {
      undo();
      state.violations.push(
        `job ${job.arrival.id}: task ${p.taskIndex} does not fit on ${inst.id} (${inst.type.name})`,
      );
      return false;
    }
    const end = start + seconds;
    inst.tasks.push({ jobId: job.arrival.id, taskIndex: p.taskIndex, resources: p.resources, start, end });
    staged.push({ inst, start, end, p });
  }
  if (staged.length < spec.gang) {
    undo();
    state.violations.push(`job ${job.arrival.id}: ${staged.length} of ${spec.gang} gang tasks placed`);
    return false;
  }
  job.state = 'running';
  job.completedAt = Math.max(...staged.map((s) => s.end));
  return true;
}

function applyPlan(state: SimState, plan: PlacementPlan, now: number): { started: number; launched: number } {
  const created = applyLaunches(state, plan, now);
  const byJob = new Map<string, Placement[]>();
  for (const p of plan.placements) byJob.set(p.jobId, [...(byJob.get(p.jobId) ?? []), p]);
  let started = 0;
  for (const [jobId, placements] of byJob) {
    const job = state.jobs.get(jobId);
    if (job?.state !== 'pending') continue;
    if (commitJob(state, job, placements, created, now)) started++;
  }
  for (const t of plan.terminations) {
    const inst = state.instances.find((i) => i.id === t.instanceId);
    if (inst && inst.terminatedAt === undefined && inst.tasks.length === 0) inst.terminatedAt = now;
  }
  return { started, launched: created.size };
}

/** Retire finished work and expire pending jobs that can no longer finish before the hard deadline. */
function advance(state: SimState, now: number): void {
  for (const inst of state.instances) retireFinished(inst, now);
  for (const job of state.jobs.values()) {
    if (job.state === 'running' && (job.completedAt ?? 0) <= now) job.state = 'done';
    if (job.state !== 'pending') continue;
    const spec = job.arrival.spec;
    const fastest = Math.min(...spec.alternatives.map((a) => a.durationSeconds));
    const hard = spec.utility ? hardDeadlineSeconds(spec.utility) : Number.POSITIVE_INFINITY;
    if (now + fastest * 1000 > job.arrival.at + hard * 1000) job.state = 'expired';
  }
}

function initialState(options: ReplayOptions): SimState {
  const state: SimState = {
    options,
    types: new Map(options.launchable.map((l) => [l.type.name, l])),
    instances: [],
    jobs: new Map(),
    violations: [],
    nextInstance: 0,
  };
  for (const { type, count } of options.initialFleet ?? []) {
    for (let k = 0; k < count; k++) {
      const inst = launchInstance(state, type, 'on-demand', options.start);
      // Already booted when the replay starts.
      if (inst)
        state.instances[state.instances.length - 1] = {
          ...inst,
          readyAt: options.start,
          lastBusyAt: options.start,
        };
    }
  }
  return state;
}

function summarize(state: SimState, cycles: number, end: number, placerMs: number[]): ReplayResult {
  let met = 0;
  let late = 0;
  let expired = 0;
  let utility = 0;
  for (const job of state.jobs.values()) {
    const u = job.arrival.spec.utility;
    if (job.state === 'done' || job.state === 'running') {
      const seconds = ((job.completedAt ?? end) - job.arrival.at) / 1000;
      if (u && seconds <= u.deadlineSeconds) met++;
      else late++;
      if (u) utility += utilityAt(u, seconds) * job.arrival.spec.priority;
    } else expired++;
  }
  const jobs = state.jobs.size;
  return {
    jobs,
    met,
    late,
    expired,
    deadlineMet: jobs === 0 ? 1 : met / jobs,
    utility,
    cost: state.instances.reduce((s, i) => s + instanceCost(i, end), 0),
    cycles,
    violations: state.violations,
    placerMs: { total: placerMs.reduce((a, b) => a + b, 0), max: Math.max(0, ...placerMs) },
  };
}

/** Runs the trace to the end: until every job is done or expired (or `maxCycles`). */
export async function replay(options: ReplayOptions): Promise<ReplayResult> {
  const state = initialState(options);
  const queue = [...options.arrivals].sort((a, b) => a.at - b.at);
  const cycleMs = (options.cycleSeconds ?? options.slotSeconds) * 1000;
  const maxCycles = options.maxCycles ?? 500;
  const placerMs: number[] = [];
  let now = options.start;
  let next = 0;
  let cycle = 0;
  for (; cycle < maxCycles; cycle++, now += cycleMs) {
    advance(state, now);
    while (next < queue.length && (queue[next]?.at ?? Number.POSITIVE_INFINITY) <= now) {
      const arrival = queue[next++] as ReplayArrival;
      state.jobs.set(arrival.id, { arrival, state: 'pending' });
    }
    const active = [...state.jobs.values()].some((j) => j.state === 'pending' || j.state === 'running');
    if (!active && next >= queue.length) break;
    const input = placerInput(state, now);
    const t0 = performance.now();
    const plan = await options.placer(input);
    const ms = performance.now() - t0;
    placerMs.push(ms);
    const { started, launched } = applyPlan(state, plan, now);
    options.onCycle?.({ cycle, now, pending: input.jobs.length, started, launched, placerMs: ms });
  }
  // Count running work that completes after the last cycle.
  advance(state, Number.POSITIVE_INFINITY);
  const end = Math.max(now, ...[...state.jobs.values()].map((j) => j.completedAt ?? 0));
  return summarize(state, cycle, end, placerMs);
}
