import type { CostOf } from './cost.ts';
import { packedCostPerHour } from './packed-cost.ts';
import {
  allowedLate,
  type ControlView,
  type PipelineConfig,
  percentile,
  type ReplicaChange,
  type ReplicaControl,
  type ReplicaPoint,
  type SimulationInput,
  simulate,
} from './simulator.ts';
import type { PipelineShape } from './topology.ts';
import { type TunerBasis, type TunerOptions, type TunerState, tune } from './tuner.ts';

/**
 * Closed-loop replay: the estimator's serving model (simulate() with a ReplicaControl) plus what a policy
 * pays. Cost is integrated over the replica-count timeline: in each interval between changes, the
 * provisioned replicas of every stage (serving, activating, or finishing a batch before leaving) plus any
 * warm standby the policy keeps are priced as one packed configuration, and the average over the trace is
 * reported in $/h.
 */

/**
 * Warm idle replica slots a policy keeps outside the serving set (paid for, not serving), per instance
 * type: a spare slot of a type serves any stage planned on that type.
 */
export interface StandbyPoint {
  readonly atMs: number;
  readonly standby: Readonly<Record<string, number>>;
}

/** The pseudo-stage a type's standby slots are priced under, packed with the serving replicas. */
export function standbyKey(instanceType: string): string {
  return `standby:${instanceType}`;
}

export interface PolicyController extends ReplicaControl {
  /** The standby it kept over the run (a point at 0 and one per change). */
  standbyTimeline?(): readonly StandbyPoint[];
}

export interface ClosedLoopInput {
  readonly pipeline: PipelineShape;
  /** The configuration at time 0 (hardware and batch stay; replica counts follow the controller). */
  readonly config: PipelineConfig;
  readonly profileOf: SimulationInput['profileOf'];
  readonly arrivalsMs: Float64Array;
  readonly sloMs: number;
  readonly seed?: number;
  /** Unset: a fixed configuration. */
  readonly controller?: PolicyController;
  /** @default packedCostPerHour */
  readonly costOf?: CostOf;
  /** The span cost is averaged over. @default the last arrival's time */
  readonly durationMs?: number;
}

export interface ClosedLoopResult {
  readonly latenciesMs: Float64Array;
  /** Queries over the SLO / all queries. */
  readonly missRate: number;
  readonly late: number;
  readonly p99Ms: number;
  readonly timeline: readonly ReplicaPoint[];
  readonly standby: readonly StandbyPoint[];
  /** Paid-for replica-seconds per stage (provisioned), and per `standby:<type>` (warm standby). */
  readonly replicaSeconds: Readonly<Record<string, number>>;
  /** Average $/h over the run. */
  readonly costPerHour: number;
  /** Largest provisioned count per stage, and largest standby per `standby:<type>`. */
  readonly peakReplicas: Readonly<Record<string, number>>;
}

/** A controller that never changes anything: the fixed configuration, with a timeline to cost. */
export function fixedController(tickMs = 60_000): PolicyController {
  return { tickMs, tick: () => [] };
}

export function runClosedLoop(input: ClosedLoopInput): ClosedLoopResult {
  const controller = input.controller ?? fixedController();
  const result = simulate({
    pipeline: input.pipeline,
    config: input.config,
    profileOf: input.profileOf,
    arrivalsMs: input.arrivalsMs,
    sloMs: input.sloMs,
    ...(input.seed === undefined ? {} : { seed: input.seed }),
    control: controller,
  });
  const timeline = result.timeline ?? [];
  const standby = controller.standbyTimeline?.() ?? [];
  const n = input.arrivalsMs.length;
  const durationMs = input.durationMs ?? (n > 0 ? (input.arrivalsMs[n - 1] as number) : 0);
  const costed = integrate(input, timeline, standby, durationMs);
  return {
    latenciesMs: result.latenciesMs,
    late: result.late,
    missRate: n > 0 ? result.late / n : 0,
    p99Ms: percentile(result.latenciesMs, 99),
    timeline,
    standby,
    ...costed,
  };
}

/** Value of a step function (points sorted by time) at t. */
function valueAt<P extends { atMs: number }>(points: readonly P[], t: number, from: number): number {
  let i = from;
  while (i + 1 < points.length && (points[i + 1] as P).atMs <= t) i++;
  return i;
}

function integrate(
  input: ClosedLoopInput,
  timeline: readonly ReplicaPoint[],
  standby: readonly StandbyPoint[],
  durationMs: number,
): Pick<ClosedLoopResult, 'replicaSeconds' | 'costPerHour' | 'peakReplicas'> {
  const costOf = input.costOf ?? packedCostPerHour;
  const stages = Object.keys(input.config);
  const types = [...new Set(standby.flatMap((p) => Object.keys(p.standby)))];
  const keys = [...stages, ...types.map(standbyKey)];
  const times = [...new Set([0, ...timeline.map((p) => p.atMs), ...standby.map((p) => p.atMs)])]
    .filter((t) => t < durationMs)
    .sort((a, b) => a - b);
  const replicaSeconds: Record<string, number> = Object.fromEntries(keys.map((s) => [s, 0]));
  const peak: Record<string, number> = Object.fromEntries(keys.map((s) => [s, 0]));
  let dollars = 0;
  let ti = 0;
  let si = 0;
  for (const [k, t] of times.entries()) {
    const end = k + 1 < times.length ? (times[k + 1] as number) : durationMs;
    ti = valueAt(timeline, t, ti);
    si = valueAt(standby, t, si);
    const point = timeline[ti];
    const spare =
      standby[si]?.atMs !== undefined && (standby[si] as StandbyPoint).atMs <= t ? standby[si] : undefined;
    const config: Record<string, PipelineConfig[string]> = {};
    for (const s of stages) {
      const base = input.config[s] as PipelineConfig[string];
      config[s] = { ...base, replicas: point?.provisioned[s] ?? base.replicas };
    }
    // Standby slots are replicas of their type, packed onto the same instances as the serving ones.
    for (const type of types)
      config[standbyKey(type)] = {
        instanceType: type,
        maxBatch: 1,
        replicas: spare?.standby[type] ?? 0,
        maxQueueDelayMs: 0,
      };
    for (const [key, c] of Object.entries(config)) {
      replicaSeconds[key] = (replicaSeconds[key] as number) + (c.replicas * (end - t)) / 1000;
      peak[key] = Math.max(peak[key] as number, c.replicas);
    }
    dollars += (costOf(config) * (end - t)) / 3_600_000;
  }
  return {
    replicaSeconds,
    costPerHour: durationMs > 0 ? (dollars * 3_600_000) / durationMs : costOf(input.config),
    peakReplicas: peak,
  };
}

/** Whether a closed-loop run met a P99 SLO (the estimator's nearest-rank rule). */
export function meetsP99(result: ClosedLoopResult): boolean {
  return result.late <= allowedLate(result.latenciesMs.length);
}

export interface InferlineControlOptions {
  readonly basis: TunerBasis;
  /** The planned configuration (replicas at time 0). */
  readonly config: PipelineConfig;
  /** Warm standby slots per instance type, kept idle and ready; a slot serves any stage on its type. */
  readonly standby: Readonly<Record<string, number>>;
  /**
   * A standby replica serves this long after the tuner asks for it. The router keeps standby replicas
   * registered (model loaded) and its tuner switches them on at its next 1 s tick, so about one tick.
   * @default 1000
   */
  readonly warmActivationMs?: number;
  /** A brand-new instance of the stage's type serves this long after it is asked for. */
  readonly bootMs: (stage: string) => number;
  /** @default 1000 */
  readonly tickMs?: number;
  readonly tuner?: TunerOptions;
  /** Shorthand for `tuner.scaleDownRho` (see tune()). @default 'stage' */
  readonly scaleDownRho?: 'pipeline' | 'stage';
}

/**
 * The InferLine tuner in the loop: every tick it runs tune() on the live arrivals. Scale-up takes warm
 * standby slots of the stage's instance type first (serving after warmActivationMs) and launches a
 * replacement for each one used, so the headroom is back after a boot; what the standby cannot cover
 * comes from new instances after their boot latency. Scale-down returns replicas to their type's standby
 * pool while it is short (a replacement still booting is cancelled first), and releases the rest.
 */
export function inferlineController(o: InferlineControlOptions): PolicyController {
  const stages = Object.keys(o.config);
  const typeOf = (s: string) => (o.config[s] as PipelineConfig[string]).instanceType;
  const types = [...new Set([...stages.map(typeOf), ...Object.keys(o.standby)])];
  const tunerOptions: TunerOptions = {
    ...o.tuner,
    ...(o.scaleDownRho ? { scaleDownRho: o.scaleDownRho } : {}),
  };
  const activation = o.warmActivationMs ?? 1000;
  let state: TunerState = {
    replicas: Object.fromEntries(stages.map((s) => [s, (o.config[s] as PipelineConfig[string]).replicas])),
    lastChangeMs: 0,
  };
  const ready: Record<string, number> = Object.fromEntries(types.map((t) => [t, o.standby[t] ?? 0]));
  /** Per type: times at which booting standby replacements become ready. */
  const booting: Record<string, number[]> = Object.fromEntries(types.map((t) => [t, []]));
  const points: StandbyPoint[] = [];
  const record = (t: number) => {
    const standby = Object.fromEntries(
      types.map((ty) => [ty, (ready[ty] ?? 0) + (booting[ty] as number[]).length]),
    );
    const last = points[points.length - 1];
    if (last && types.every((ty) => last.standby[ty] === standby[ty])) return;
    if (last && last.atMs === t) points.pop();
    points.push({ atMs: t, standby });
  };
  record(0);

  const scaleUp = (s: string, d: number, t: number, out: ReplicaChange[]) => {
    const type = typeOf(s);
    const warm = Math.min(d, ready[type] ?? 0);
    if (warm > 0) {
      ready[type] = (ready[type] ?? 0) - warm;
      for (let i = 0; i < warm; i++) (booting[type] as number[]).push(t + o.bootMs(s));
      out.push({ stage: s, delta: warm, activationDelayMs: activation });
    }
    if (d > warm) out.push({ stage: s, delta: d - warm, activationDelayMs: o.bootMs(s) });
  };
  const scaleDown = (s: string, d: number, out: ReplicaChange[]) => {
    out.push({ stage: s, delta: -d });
    const type = typeOf(s);
    const queue = booting[type] as number[];
    for (let i = 0; i < d; i++) {
      // A released replica takes the place of a replacement still booting, or tops the pool up.
      if (queue.length > 0) {
        queue.pop();
        ready[type] = (ready[type] ?? 0) + 1;
      } else if ((ready[type] ?? 0) < (o.standby[type] ?? 0)) ready[type] = (ready[type] ?? 0) + 1;
    }
  };

  return {
    tickMs: o.tickMs ?? 1000,
    tick(now: number, arrivals: Float64Array, _view: ControlView): ReplicaChange[] {
      for (const ty of types) {
        const queue = booting[ty] as number[];
        const done = queue.filter((at) => at <= now).length;
        if (done > 0) {
          booting[ty] = queue.filter((at) => at > now);
          ready[ty] = (ready[ty] ?? 0) + done;
        }
      }
      const before = state.replicas;
      state = tune(o.basis, state, arrivals, now, tunerOptions).state;
      const out: ReplicaChange[] = [];
      for (const s of stages) {
        const d = (state.replicas[s] ?? 0) - (before[s] ?? 0);
        if (d > 0) scaleUp(s, d, now, out);
        else if (d < 0) scaleDown(s, -d, out);
      }
      record(now);
      return out;
    },
    standbyTimeline: () => points,
  };
}
