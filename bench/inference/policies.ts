import { performance } from 'node:perf_hooks';
import {
  peakRatePerSecond,
  planCgPeak,
  targetTrackingConfig,
  targetTrackingController,
} from '../../lib/core/inference/baselines.ts';
import {
  type ClosedLoopResult,
  inferlineController,
  runClosedLoop,
  withInterruption,
} from '../../lib/core/inference/closed-loop.ts';
import {
  type HeadroomPlan,
  type HeadroomRule,
  planSlack,
  plusHeadroom,
  splitHeadroomCost,
  withSurgeHeadroom,
} from '../../lib/core/inference/headroom.ts';
import { planOracle } from '../../lib/core/inference/oracle.ts';
import { packedCostPerHour, packedSpotCostPerHour } from '../../lib/core/inference/packed-cost.ts';
import {
  derivedStagesOf,
  type PlannerInput,
  type PlanResult,
  plan,
} from '../../lib/core/inference/planner.ts';
import type { StageProfile } from '../../lib/core/inference/profiles.ts';
import type { PipelineConfig } from '../../lib/core/inference/simulator.ts';
import { meanRatePerSecond } from '../../lib/core/inference/traces.ts';
import { tunerBasis } from '../../lib/core/inference/tuner.ts';
import { findInstanceType } from '../../lib/core/model/catalog.ts';
import { type BenchPipeline, plannerPipeline } from './pipelines.ts';
import type { BenchTrace } from './setup.ts';
import { lookup } from './setup.ts';

export type PolicyName = 'inferline' | 'planner-only' | 'cg-peak' | 'target-tracking' | 'oracle';
export const POLICIES: readonly PolicyName[] = [
  'inferline',
  'planner-only',
  'cg-peak',
  'target-tracking',
  'oracle',
];

/** The oracle re-plans this often, on each window's own arrivals (lib/core/inference/oracle.ts). */
export const ORACLE_WINDOW_MS = 30_000;
/** The oracle is held to the miss bound inferline is held to (target 1), with no planning margin. */
export const ORACLE_LATE_FRACTION = 0.005;

export interface PolicySettings {
  /** Serving headroom covers a surge to this multiple of the planning trace's boot-window rate. */
  readonly surgeFactor: number;
  /** Target-tracking target: this fraction of one batch-1 replica's throughput, per minute. */
  readonly targetUtilisation: number;
  /** Target-tracking metric period (and evaluation interval). */
  readonly targetTrackingPeriodMs: number;
  /** Target-tracking scale-in cooldown after the stage's last scaling activity. */
  readonly scaleInCooldownMs: number;
  /** The tuner's scale-down ratio: each stage's own ρ_m (the product default), or the paper's ρ_p. */
  readonly scaleDownRho: 'pipeline' | 'stage';
  /**
   * Smallest envelope window: `service` is the paper's (the shortest planned batch time of any stage),
   * `slo` starts at the SLO (what the product passes).
   */
  readonly envelopeFloor: 'service' | 'slo';
  /** Largest fraction of the sample's queries a plan may have over the SLO. */
  readonly planningLateFraction: number;
  /** The planner's DowngradeHW: every cheaper type (the product's rule) or the next-cheaper only (the paper's). */
  readonly downgrade: 'any' | 'next';
  /** The tuner's tick. */
  readonly tunerTickMs: number;
  /** Give the tuner the plan's certified slack (the product's rule), or compare with the bare sample. */
  readonly slack: boolean;
  /** Let the joint plan + headroom search move stages to other hardware (the product's rule). */
  readonly headroomHardware: boolean;
  /** How warm headroom combines with the tuner's target (headroom.ts servingCount). */
  readonly headroomRule: HeadroomRule;
  /** The warm headroom on spot capacity, priced at spot (the spec's spotHeadroom); off by default. */
  readonly spotHeadroom: boolean;
  /**
   * With spotHeadroom: replay each inferline row once per notice time, `spotInterruptionEveryMs` apart
   * (the first half a spacing in), with every warm headroom replica interrupted at that notice, and report
   * the worst miss rate (at the uninterrupted cost). Unset: no interruption.
   */
  readonly spotInterruptionEveryMs?: number;
  /**
   * How long interrupted headroom serves on after the notice: the product's drain grace (serving tasks
   * serve through a spot drain), or 0 to hand back at the notice (--spot-no-grace).
   */
  readonly spotServeForMs?: number;
  /**
   * A rebalance recommendation comes this long before each warning: the replacements are asked for then, and
   * the interrupted headroom serves until `spotRebalanceServeMs` after the recommendation (the product stops a
   * moved serving task that long after it) or `spotServeForMs` after the warning, whichever is first. A
   * recommendation may precede the trace (its replacements then serve one boot after it). Unset: no
   * recommendation, the replacements are asked for at the warning.
   */
  readonly spotRebalanceLeadMs?: number;
  readonly spotRebalanceServeMs?: number;
}

/** What a row's worst spot interruption did, and every notice time tried (spotInterruptionEveryMs). */
export interface InterruptionSweep {
  readonly noticesAtS: readonly number[];
  readonly missRates: readonly number[];
  /** The expected miss rate for one interruption at a uniformly random time of the trace. */
  readonly meanMissRate: number;
  /** The notice the row's missRate comes from. */
  readonly worstNoticeAtS: number;
  /**
   * That run's cost, its replacements priced on-demand while both run. The row's cost is the
   * uninterrupted run's: one interruption in a five-minute trace is a stress test, not the steady state.
   */
  readonly worstCostPerHour: number;
  /** The row's miss rate without an interruption. */
  readonly uninterruptedMissRate: number;
}

export interface PolicyRow {
  readonly pipeline: string;
  readonly trace: string;
  readonly sloMs: number;
  readonly policy: PolicyName;
  readonly missRate: number | null;
  readonly costPerHour: number | null;
  readonly p99Ms?: number;
  readonly queries?: number;
  readonly config?: Record<string, string>;
  readonly peakReplicas?: Record<string, number>;
  readonly headroom?: Readonly<Record<string, number>>;
  /** inferline: the plan's certified slack σ the tuner was given (1: none). */
  readonly slack?: number;
  /** inferline: the served configuration alone, and with its headroom (packed), before the tuner acts. */
  readonly planCostPerHour?: number;
  readonly withHeadroomCostPerHour?: number;
  /** Stages whose batch the headroom search lowered from the plan's, with the batch they got. */
  readonly loweredBatch?: Readonly<Record<string, number>>;
  /** Stages the headroom search moved to other hardware than the plan's, with the type they got. */
  readonly rehosted?: Readonly<Record<string, string>>;
  readonly derivedStages?: readonly string[];
  /** inferline with spot headroom and --spot-interruptions: the interruption sweep. */
  readonly interruptions?: InterruptionSweep;
  /** oracle: the cost of each window's configuration, in trace order. */
  readonly windowCostsPerHour?: readonly number[];
  readonly note?: string;
}

export interface Context {
  readonly pipeline: BenchPipeline;
  readonly profiles: Record<string, StageProfile[]>;
  readonly trace: BenchTrace;
  readonly sloMs: number;
  readonly plan: PlanResult;
  readonly sample: Float64Array;
  readonly settings: PolicySettings;
}

const served = new WeakMap<object, { readonly result: HeadroomPlan | undefined; readonly ms: number }>();

/** The plan with its headroom, computed once per plan (the search is deterministic). */
function servedOf(plan: object, search: () => HeadroomPlan | undefined): HeadroomPlan | undefined {
  if (!served.has(plan)) {
    const t0 = performance.now();
    const result = search();
    served.set(plan, { result, ms: performance.now() - t0 });
  }
  return served.get(plan)?.result;
}

/** How long the joint plan + headroom search took for a plan, once an inferline row has run it. */
export function headroomSearchMs(plan: object): number | undefined {
  return served.get(plan)?.ms;
}

function bootOfType(type: string): number {
  const t = findInstanceType(type);
  if (!t) throw new Error(`unknown type ${type}`);
  return t.bootSeconds * 1000;
}

function bootMsOf(config: PipelineConfig) {
  return (stage: string) => bootOfType(config[stage]?.instanceType ?? '');
}

/** `c7i.large b4 x3` per stage: what the row ran. */
function describe(config: PipelineConfig): Record<string, string> {
  return Object.fromEntries(
    Object.entries(config).map(([s, c]) => [s, `${c.instanceType} b${c.maxBatch} x${c.replicas}`]),
  );
}

function row(
  ctx: Context,
  policy: PolicyName,
  r: ClosedLoopResult,
  config: PipelineConfig,
  extra = {},
): PolicyRow {
  return {
    pipeline: ctx.pipeline.name,
    trace: ctx.trace.name,
    sloMs: ctx.sloMs,
    policy,
    missRate: r.missRate,
    costPerHour: r.costPerHour,
    p99Ms: Number.isFinite(r.p99Ms) ? Math.round(r.p99Ms * 10) / 10 : r.p99Ms,
    queries: r.latenciesMs.length,
    config: describe(config),
    peakReplicas: { ...r.peakReplicas },
    ...extra,
  };
}

function round4(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}

function refused(ctx: Context, policy: PolicyName, note: string): PolicyRow {
  return {
    pipeline: ctx.pipeline.name,
    trace: ctx.trace.name,
    sloMs: ctx.sloMs,
    policy,
    missRate: null,
    costPerHour: null,
    note,
  };
}

export function plannerInput(
  pipeline: BenchPipeline,
  profiles: Record<string, StageProfile[]>,
  sloMs: number,
  sample: Float64Array,
  lateFraction: number,
  downgrade: PolicySettings['downgrade'] = 'any',
): PlannerInput {
  return {
    pipeline: plannerPipeline(pipeline, sloMs),
    profiles,
    arrivalsMs: sample,
    seed: 7,
    costOf: packedCostPerHour,
    lateFraction,
    downgrade,
  };
}

export function planFor(
  pipeline: BenchPipeline,
  profiles: Record<string, StageProfile[]>,
  sloMs: number,
  sample: Float64Array,
  settings: Pick<PolicySettings, 'planningLateFraction' | 'downgrade'>,
): PlanResult {
  return plan(
    plannerInput(pipeline, profiles, sloMs, sample, settings.planningLateFraction, settings.downgrade),
  );
}

function runOracle(ctx: Context): PolicyRow {
  const { trace, sloMs } = ctx;
  const { arrivalsMs: _sample, ...planner } = plannerInput(
    ctx.pipeline,
    ctx.profiles,
    sloMs,
    ctx.sample,
    ORACLE_LATE_FRACTION,
    ctx.settings.downgrade,
  );
  const o = planOracle({
    planner,
    arrivalsMs: trace.arrivalsMs,
    windowMs: ORACLE_WINDOW_MS,
    durationMs: trace.durationMs,
  });
  if (!o.feasible)
    return refused(ctx, 'oracle', `planner refused the window from ${o.fromMs} ms: ${o.reason}`);
  return {
    pipeline: ctx.pipeline.name,
    trace: trace.name,
    sloMs,
    policy: 'oracle',
    missRate: o.missRate,
    costPerHour: o.costPerHour,
    queries: trace.arrivalsMs.length,
    windowCostsPerHour: o.windows.map((w) => round4(w.costPerHour)),
    note: `re-planned every ${ORACLE_WINDOW_MS / 1000} s on the window's own arrivals, switching instantly and free`,
  };
}

export function runPolicy(ctx: Context, policy: PolicyName): PolicyRow {
  const { trace, sloMs, plan: p } = ctx;
  if (policy === 'oracle') return runOracle(ctx);
  const profileOf = lookup(ctx.profiles);
  const common = { arrivalsMs: trace.arrivalsMs, sloMs, seed: 31, durationMs: trace.durationMs };
  if (policy === 'cg-peak') {
    const visitFractions = p.feasible ? p.visitFractions : {};
    // CG-Peak as the paper defines it: the peak rate over a sliding window equal to the SLO, known in advance.
    const peak = peakRatePerSecond(trace.arrivalsMs, sloMs);
    const shape = plannerPipeline(ctx.pipeline, sloMs);
    const cg = planCgPeak({
      shape,
      profiles: ctx.profiles,
      visitFractions,
      sloMs,
      peakRatePerSecond: peak,
      costOf: packedCostPerHour,
    });
    if (!cg) return refused(ctx, policy, 'no instance type runs the whole pipeline within the slo');
    const r = runClosedLoop({ ...common, pipeline: shape, config: cg.config, profileOf });
    return row(ctx, policy, r, cg.config, {
      note: `peak ${Math.round(peak)} qps over ${sloMs} ms windows; ${cg.units} units of one replica per stage`,
    });
  }
  if (!p.feasible) return refused(ctx, policy, `planner refused: ${p.reason}`);
  const pipeline = plannerPipeline(ctx.pipeline, sloMs);
  const base = { ...common, pipeline, config: p.config, profileOf };
  const derivedStages = p.derivedStages;
  if (policy === 'planner-only') return row(ctx, policy, runClosedLoop(base), p.config, { derivedStages });
  const boot = bootMsOf(p.config);
  if (policy === 'target-tracking') {
    const settings = ctx.settings;
    const start = targetTrackingConfig({
      config: p.config,
      profileOf,
      visitFractions: p.visitFractions,
      meanRatePerSecond: meanRatePerSecond(ctx.sample),
      targetUtilisation: settings.targetUtilisation,
    });
    const controller = targetTrackingController({
      config: start,
      profileOf,
      bootMs: boot,
      targetUtilisation: settings.targetUtilisation,
      periodMs: settings.targetTrackingPeriodMs,
      scaleInCooldownMs: settings.scaleInCooldownMs,
    });
    const r = runClosedLoop({ ...base, config: start, controller });
    return row(ctx, policy, r, start, { derivedStages });
  }
  const tunerBasisOf = (config: PipelineConfig, slack = 1) =>
    tunerBasis({
      config,
      profileOf,
      visitFractions: p.visitFractions,
      arrivalsMs: ctx.sample,
      ...(ctx.settings.envelopeFloor === 'slo' ? { envelopeFloorMs: sloMs } : {}),
      slack,
    });
  const planner = plannerInput(
    ctx.pipeline,
    ctx.profiles,
    sloMs,
    ctx.sample,
    ctx.settings.planningLateFraction,
    ctx.settings.downgrade,
  );
  // The same plan serves every trace of its sample's CV: search plan + headroom once per plan.
  const h = servedOf(p, () =>
    withSurgeHeadroom({
      planner,
      config: p.config,
      basis: tunerBasisOf(p.config),
      bootMs: (_stage, type) => bootOfType(type),
      surgeFactor: ctx.settings.surgeFactor,
      hardware: ctx.settings.headroomHardware,
      ...(ctx.settings.spotHeadroom ? { headroomCostOf: packedSpotCostPerHour } : {}),
    }),
  );
  if (!h) return refused(ctx, policy, 'no configuration within the replica cap serves the surge');
  // Headroom replicas serve from the start, on top of what the tuner asks for (as the product reconciles).
  const serving = plusHeadroom(h.config, h.headroom);
  const slack = ctx.settings.slack ? planSlack(planner, h.config) : 1;
  // A fresh controller per run: the tuner keeps state.
  const controller = () =>
    inferlineController({
      basis: tunerBasisOf(h.config, slack),
      config: h.config,
      bootMs: bootMsOf(h.config),
      tickMs: ctx.settings.tunerTickMs,
      scaleDownRho: ctx.settings.scaleDownRho,
      headroom: h.headroom,
      headroomRule: ctx.settings.headroomRule,
    });
  // With spot headroom, the warm slots of each stage are priced at spot, the rest on-demand.
  const costOf = ctx.settings.spotHeadroom
    ? splitHeadroomCost({
        planned: h.config,
        headroom: h.headroom,
        costOf: packedCostPerHour,
        headroomCostOf: packedSpotCostPerHour,
      })
    : packedCostPerHour;
  const plain = runClosedLoop({ ...base, config: serving, controller: controller(), costOf });
  const swept = interruptionSweep(ctx, plain, h.headroom, (noticeAtMs) =>
    runClosedLoop({
      ...base,
      config: serving,
      controller: withInterruption(controller(), {
        ...interruptionTiming(ctx.settings, noticeAtMs),
        lost: h.headroom,
        bootMs: bootMsOf(h.config),
      }),
      costOf,
    }),
  );
  // The worst interruption's misses, at the uninterrupted cost (InterruptionSweep.worstCostPerHour).
  const r = swept ? { ...plain, missRate: swept.worst.missRate, p99Ms: swept.worst.p99Ms } : plain;
  return row(ctx, policy, r, h.config, {
    ...(swept ? { interruptions: swept.sweep } : {}),
    derivedStages: derivedStagesOf(planner, h.config),
    headroom: h.headroom,
    slack: round4(slack),
    planCostPerHour: round4(h.costPerHour),
    withHeadroomCostPerHour: round4(h.totalCostPerHour),
    ...(Object.keys(h.lowered).length > 0 ? { loweredBatch: h.lowered } : {}),
    ...(Object.keys(h.rehosted).length > 0 ? { rehosted: h.rehosted } : {}),
  });
}

/**
 * When the replacements are asked for and how long the interrupted replicas serve after that, for a warning
 * at `warningAtMs`: at the warning, serving through its grace; or at a rebalance recommendation
 * `spotRebalanceLeadMs` earlier, serving until the first of the two ends (spotRebalanceServeMs after the
 * recommendation, spotServeForMs after the warning).
 */
export function interruptionTiming(
  s: Pick<PolicySettings, 'spotServeForMs' | 'spotRebalanceLeadMs' | 'spotRebalanceServeMs'>,
  warningAtMs: number,
): { noticeAtMs: number; serveForMs: number } {
  const afterWarning = s.spotServeForMs ?? 0;
  if (s.spotRebalanceLeadMs === undefined) return { noticeAtMs: warningAtMs, serveForMs: afterWarning };
  const at = warningAtMs - s.spotRebalanceLeadMs;
  const grace = s.spotRebalanceServeMs ?? Number.POSITIVE_INFINITY;
  return { noticeAtMs: at, serveForMs: Math.min(grace, warningAtMs + afterWarning - at) };
}

/**
 * The worst of one spot interruption of all warm headroom at each notice time `spotInterruptionEveryMs`
 * apart, when the row runs spot headroom and the sweep is asked for; undefined otherwise (or with no
 * headroom to lose). Ties go to the earlier notice.
 */
function interruptionSweep(
  ctx: Context,
  plain: ClosedLoopResult,
  headroom: Readonly<Record<string, number>>,
  run: (noticeAtMs: number) => ClosedLoopResult,
): { worst: ClosedLoopResult; sweep: InterruptionSweep } | undefined {
  const every = ctx.settings.spotInterruptionEveryMs;
  if (!ctx.settings.spotHeadroom || every === undefined) return undefined;
  if (!Object.values(headroom).some((n) => n > 0)) return undefined;
  const notices: number[] = [];
  for (let t = every / 2; t < ctx.trace.durationMs; t += every) notices.push(t);
  const runs = notices.map(run);
  let k = 0;
  runs.forEach((r, i) => {
    if (r.missRate > (runs[k] as ClosedLoopResult).missRate) k = i;
  });
  const missRates = runs.map((r) => r.missRate);
  return {
    worst: runs[k] as ClosedLoopResult,
    sweep: {
      noticesAtS: notices.map((t) => t / 1000),
      missRates: missRates.map((m) => Math.round(m * 1e6) / 1e6),
      meanMissRate: Math.round((missRates.reduce((a, b) => a + b, 0) / runs.length) * 1e6) / 1e6,
      worstNoticeAtS: (notices[k] as number) / 1000,
      worstCostPerHour: round4((runs[k] as ClosedLoopResult).costPerHour),
      uninterruptedMissRate: plain.missRate,
    },
  };
}
