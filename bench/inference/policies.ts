import { performance } from 'node:perf_hooks';
import {
  peakRatePerSecond,
  planCgPeak,
  targetTrackingConfig,
  targetTrackingController,
} from '../../lib/core/inference/baselines.ts';
import {
  inferlineController,
  runClosedLoop,
  withInterruption,
} from '../../lib/core/inference/closed-loop.ts';
import {
  type HeadroomPlan,
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
import { refused, round4, row } from './policy-rows.ts';
import type { Context, PolicyName, PolicyRow, PolicySettings } from './policy-types.ts';
import { lookup } from './setup.ts';
import { interruptionSweep, interruptionTiming } from './spot-interruption.ts';

/** The oracle re-plans this often, on each window's own arrivals (lib/core/inference/oracle.ts). */
export const ORACLE_WINDOW_MS = 30_000;
/** The oracle is held to the miss bound inferline is held to (target 1), with no planning margin. */
export const ORACLE_LATE_FRACTION = 0.005;

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
