import type { CostOf } from './cost.ts';
import { type HeadroomRule, servingCount } from './headroom.ts';
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
 * provisioned replicas of every stage (serving, activating, or finishing a batch before leaving) are priced
 * as one packed configuration, and the average over the trace is reported in $/h.
 */

export type PolicyController = ReplicaControl;

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
  /** Paid-for replica-seconds per stage (provisioned). */
  readonly replicaSeconds: Readonly<Record<string, number>>;
  /** Average $/h over the run. */
  readonly costPerHour: number;
  /** Largest provisioned count per stage. */
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
  const n = input.arrivalsMs.length;
  const durationMs = input.durationMs ?? (n > 0 ? (input.arrivalsMs[n - 1] as number) : 0);
  const costed = integrate(input, timeline, durationMs);
  return {
    latenciesMs: result.latenciesMs,
    late: result.late,
    missRate: n > 0 ? result.late / n : 0,
    p99Ms: percentile(result.latenciesMs, 99),
    timeline,
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
  durationMs: number,
): Pick<ClosedLoopResult, 'replicaSeconds' | 'costPerHour' | 'peakReplicas'> {
  const costOf = input.costOf ?? packedCostPerHour;
  const stages = Object.keys(input.config);
  const times = [...new Set([0, ...timeline.map((p) => p.atMs)])]
    .filter((t) => t < durationMs)
    .sort((a, b) => a - b);
  const replicaSeconds: Record<string, number> = Object.fromEntries(stages.map((s) => [s, 0]));
  const peak: Record<string, number> = Object.fromEntries(stages.map((s) => [s, 0]));
  let dollars = 0;
  let ti = 0;
  for (const [k, t] of times.entries()) {
    const end = k + 1 < times.length ? (times[k + 1] as number) : durationMs;
    ti = valueAt(timeline, t, ti);
    const point = timeline[ti];
    const config: Record<string, PipelineConfig[string]> = {};
    for (const s of stages) {
      const base = input.config[s] as PipelineConfig[string];
      config[s] = { ...base, replicas: point?.provisioned[s] ?? base.replicas };
    }
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
  /** The planned configuration: the tuner's counts at time 0 (headroom serving beside them is not its). */
  readonly config: PipelineConfig;
  /** A replica the tuner adds serves this long after it asks: its instance type's boot latency. */
  readonly bootMs: (stage: string) => number;
  /** @default 1000 */
  readonly tickMs?: number;
  readonly tuner?: TunerOptions;
  /** Shorthand for `tuner.scaleDownRho` (see tune()). @default 'stage' */
  readonly scaleDownRho?: 'pipeline' | 'stage';
  /**
   * Warm replicas per stage beyond the plan, serving from the start. How they combine with the tuner's
   * target is `headroomRule`'s (see servingCount).
   */
  readonly headroom?: Readonly<Record<string, number>>;
  /** @default 'absorb' */
  readonly headroomRule?: HeadroomRule;
}

/**
 * The InferLine tuner in the loop: every tick it runs tune() on the live arrivals and moves each stage's
 * serving count to servingCount(target, planned, headroom). A replica it adds serves after its type's boot
 * latency; one it removes leaves at once (after its batch). The run must start with planned + headroom
 * replicas per stage (plusHeadroom).
 */
export function inferlineController(o: InferlineControlOptions): PolicyController {
  const stages = Object.keys(o.config);
  const tunerOptions: TunerOptions = {
    ...o.tuner,
    ...(o.scaleDownRho ? { scaleDownRho: o.scaleDownRho } : {}),
  };
  const planned = (s: string) => (o.config[s] as PipelineConfig[string]).replicas;
  const rule = o.headroomRule ?? 'absorb';
  const serving = (s: string, target: number) => servingCount(rule, target, planned(s), o.headroom?.[s] ?? 0);
  let state: TunerState = {
    replicas: Object.fromEntries(stages.map((s) => [s, planned(s)])),
    lastChangeMs: 0,
  };
  return {
    tickMs: o.tickMs ?? 1000,
    tick(now: number, arrivals: Float64Array, _view: ControlView): ReplicaChange[] {
      const before = state.replicas;
      state = tune(o.basis, state, arrivals, now, tunerOptions).state;
      const out: ReplicaChange[] = [];
      for (const s of stages) {
        const d = serving(s, state.replicas[s] ?? 0) - serving(s, before[s] ?? 0);
        if (d > 0) out.push({ stage: s, delta: d, activationDelayMs: o.bootMs(s) });
        else if (d < 0) out.push({ stage: s, delta: d });
      }
      return out;
    },
  };
}

export interface InterruptionOptions {
  /**
   * When the interruption notice comes (replacements are asked for then). It may precede the run (a
   * rebalance recommendation before the trace's start): the replacements then serve one boot after it.
   */
  readonly noticeAtMs: number;
  /** Replicas lost per stage (the warm headroom on spot, say). */
  readonly lost: Readonly<Record<string, number>>;
  /** A replacement, asked for at the notice, serves this long after it: its instance type's boot latency. */
  readonly bootMs: (stage: string) => number;
  /**
   * How long the lost replicas serve on after the notice: the drain's grace, as the product's serving
   * tasks serve through a spot drain (serveThroughGrace). @default 0
   */
  readonly serveForMs?: number;
}

/**
 * A controller with one spot interruption on top, as the product handles it: at the first tick at or after
 * the notice, replacements for the lost replicas are asked for (serving one boot after the notice), and the lost
 * replicas stop serving at the first tick at or after `serveForMs` past the notice. Everything else is the
 * inner controller's.
 */
export function withInterruption(inner: PolicyController, o: InterruptionOptions): PolicyController {
  const stages = Object.entries(o.lost).filter(([, n]) => n > 0);
  const lossAtMs = o.noticeAtMs + (o.serveForMs ?? 0);
  let replaced = false;
  let lost = false;
  return {
    tickMs: inner.tickMs,
    tick(now: number, arrivals: Float64Array, view: ControlView): ReplicaChange[] {
      const out = [...inner.tick(now, arrivals, view)];
      if (!lost && now >= lossAtMs) {
        lost = true;
        for (const [stage, n] of stages) out.push({ stage, delta: -n, lose: true });
      }
      if (!replaced && now >= o.noticeAtMs) {
        replaced = true;
        for (const [stage, n] of stages)
          out.push({ stage, delta: n, activationDelayMs: Math.max(0, o.noticeAtMs + o.bootMs(stage) - now) });
      }
      return out;
    },
  };
}
