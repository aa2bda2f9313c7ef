import { planSlack, withSurgeHeadroom } from '../inference/headroom.ts';
import { createPackedCost } from '../inference/packed-cost.ts';
import { derivedStagesOf, PLANNING_LATE_FRACTION, type PlannerInput, plan } from '../inference/planner.ts';
import type { StageProfile } from '../inference/profiles.ts';
import type { PipelineConfig } from '../inference/simulator.ts';
import { type SampleTraceSpec, traceFromSpec } from '../inference/traces.ts';
import { tunerBasis } from '../inference/tuner.ts';
import { findInstanceType } from '../model/catalog.ts';
import type { Job } from '../model/job.ts';
import { MIN_SAMPLE_ARRIVALS } from '../model/pipeline.ts';
import type { PipelineRecord, ServingPlan, StagePlan } from '../model/pipeline-serving.ts';
import type { JobStore } from '../ports.ts';
import type { PipelineReport } from '../protocol/pipeline.ts';
import { own } from './own.ts';
import { ensureProfilingJobs } from './pipeline-admit.ts';
import { modelIdFor, profilingTypes } from './pipeline-jobs.ts';
import { advanceProfiling, type PipelineProfileDeps, updateIf } from './pipeline-profiles.ts';
import { activeJobsByPipeline, type ReconcileDeps, reconcilePipeline } from './pipeline-reconcile.ts';

/**
 * The scale step (every minute, and on demand): plans PLANNING pipelines with the InferLine planner,
 * re-plans SERVING ones after sustained drift (the tuner only changes replica counts; a new batch size
 * or hardware needs the planner), and reconciles every pipeline's jobs.
 *
 * Sample trace: the spec's `sampleTrace`, else DEFAULT_SAMPLE_TRACE (Poisson-like 20 qps for a minute: a
 * modest start; a pipeline whose real traffic differs is re-planned by the drift rule from its router's
 * reports, and the tuner covers the minutes before that). Cost: replicas packed onto whole
 * on-demand instances (createPackedCost, the placement engine's packer), as the fleet would pay; the
 * warm headroom packed apart at spot prices when the spec asks for spotHeadroom.
 *
 * Drift: over the last DRIFT.sustainedMs of router reports (which must cover at least 90% of that span),
 * every report's arrival rate is above DRIFT.factor x the planning rate, or every one is below it / the
 * factor, or every report's P99 exceeds the SLO. The re-plan uses a Gamma trace at the observed mean rate
 * with the sample's CV (1 when the sample was recorded). A plan younger than DRIFT.sustainedMs is never
 * re-planned, so one burst cannot make the planner thrash.
 */
export const DEFAULT_SAMPLE_TRACE: Extract<SampleTraceSpec, { kind: 'gamma' }> = Object.freeze({
  kind: 'gamma' as const,
  ratePerSecond: 20,
  cv: 1,
  durationSeconds: 60,
  seed: 1,
});

/**
 * The planner simulates the sample trace hundreds of times; a scale tick has under a minute. Longer samples
 * are cut to their first this-many arrivals (about 80 s at 250 qps), which keeps the burst structure of
 * the start of the trace; only those are drawn, so a fast long sample costs no more than its prefix.
 */
export const MAX_PLANNING_ARRIVALS = 20_000;

export const DRIFT = Object.freeze({ factor: 2, sustainedMs: 5 * 60_000, reports: 120 });

/**
 * Fewest arrivals a drift re-plan's sample holds. An idle pipeline's observed rate is near 0, and a sample
 * of one or two arrivals plans nothing meaningful (its mean rate may even come out as 0): the re-plan rate
 * is floored so the sample holds this many, and a plan within DRIFT.factor of that floor is not re-planned
 * lower. The same floor as a submitted sample's.
 */
export const MIN_DRIFT_SAMPLE_ARRIVALS = MIN_SAMPLE_ARRIVALS;

export interface PipelineScaleDeps extends PipelineProfileDeps, ReconcileDeps {
  readonly jobs: JobStore;
}

export type PlanOutcome =
  | { readonly feasible: true; readonly plan: ServingPlan }
  | { readonly feasible: false; readonly reason: string };

/** Runs the planner on the stored profiles of each stage's profiled types. */
export async function planPipeline(
  record: PipelineRecord,
  deps: Pick<PipelineScaleDeps, 'pipelines' | 'allowedTypes' | 'clock'>,
  trace: SampleTraceSpec = record.spec.sampleTrace ?? DEFAULT_SAMPLE_TRACE,
): Promise<PlanOutcome> {
  const profiles: Record<string, StageProfile[]> = {};
  for (const stage of record.spec.stages) {
    const types = profilingTypes(stage, deps.allowedTypes);
    const stored = await deps.pipelines.profilesOf(modelIdFor(stage.model.uri));
    profiles[stage.id] = stored.filter((p) => types.includes(p.instanceType));
  }
  const arrivalsMs = traceFromSpec(trace, MAX_PLANNING_ARRIVALS);
  // A bursty sample can draw no arrival at all; there is then nothing to plan for, and no retry helps.
  if (arrivalsMs.length === 0)
    return {
      feasible: false,
      reason: 'the sample trace drew no arrivals: give it a higher rate or a longer duration',
    };
  const plannerInput: PlannerInput = {
    pipeline: record.spec,
    profiles,
    arrivalsMs,
    seed: 1,
    maxQueueDelayMs: 0,
    costOf: createPackedCost(),
    // The plan must hold on live traffic, another draw than its sample: leave a margin below 1% late.
    lateFraction: PLANNING_LATE_FRACTION,
  };
  const result = plan(plannerInput);
  if (!result.feasible) return { feasible: false, reason: result.reason };
  const profileOf = (id: string, type: string) => {
    const p = own(profiles, id)?.find((x) => x.instanceType === type);
    if (!p) throw new RangeError(`no profile for stage ${id} on ${type}`);
    return p;
  };
  // The envelope starts at the SLO: shorter bursts were already shown to queue within it by the planner.
  const basisOf = (config: PipelineConfig, slack?: number) =>
    tunerBasis({
      config,
      profileOf,
      visitFractions: result.visitFractions,
      arrivalsMs,
      envelopeFloorMs: record.spec.sloP99Ms,
      ...(slack === undefined ? {} : { slack }),
    });
  // The plan with its serving headroom, batches and hardware revisited against their joint cost (headroom.ts).
  const served = withSurgeHeadroom({
    planner: plannerInput,
    config: result.config,
    basis: basisOf(result.config),
    bootMs: (_id, type) => (findInstanceType(type)?.bootSeconds ?? 60) * 1000,
    ...(record.spec.surgeFactor === undefined ? {} : { surgeFactor: record.spec.surgeFactor }),
    // Headroom on spot is priced at spot, packed apart from the on-demand replicas.
    ...(record.spec.spotHeadroom ? { headroomCostOf: createPackedCost(undefined, 'spot') } : {}),
  });
  const chosen = served?.config ?? result.config;
  // How far live traffic may beat the sample before the tuner adds replicas: as far as the plan holds.
  const basis = basisOf(chosen, planSlack(plannerInput, chosen));
  const config: Record<string, StagePlan> = {};
  for (const [id, c] of Object.entries(chosen)) config[id] = { ...c };
  return {
    feasible: true,
    plan: {
      config,
      costPerHour: served?.costPerHour ?? result.costPerHour,
      p99Ms: served?.p99Ms ?? result.p99Ms,
      visitFractions: { ...result.visitFractions },
      // The served configuration may have moved a stage to other hardware than the plan's.
      derivedStages: derivedStagesOf(plannerInput, chosen),
      ...(served ? { headroom: { ...served.headroom } } : {}),
      basis: {
        sample: {
          windowsMs: [...basis.sample.windowsMs],
          counts: [...basis.sample.counts],
          ratesPerSecond: [...basis.sample.ratesPerSecond],
        },
        planningRatePerSecond: basis.planningRatePerSecond,
        stages: Object.fromEntries(Object.entries(basis.stages).map(([id, s]) => [id, { ...s }])),
        rhoP: basis.rhoP,
        ...(basis.slack === undefined ? {} : { slack: basis.slack }),
      },
      plannedAt: deps.clock.now(),
    },
  };
}

/** The plan's replica counts: the targets a fresh plan starts from. */
export function plannedTargets(p: ServingPlan): Record<string, number> {
  return Object.fromEntries(Object.entries(p.config).map(([id, c]) => [id, c.replicas]));
}

export type Drift =
  | { readonly drift: false }
  | { readonly drift: true; readonly reason: string; readonly ratePerSecond: number };

/** Sustained drift from the plan, by the rule in the file comment; `reports` newest first. */
export function detectDrift(record: PipelineRecord, reports: readonly PipelineReport[], now: number): Drift {
  const p = record.plan;
  if (!p || now - p.plannedAt < DRIFT.sustainedMs) return { drift: false };
  const since = now - DRIFT.sustainedMs;
  const recent = reports.filter((r) => r.intervalEndMs > since && r.intervalEndMs > r.intervalStartMs);
  if (recent.length === 0) return { drift: false };
  const start = Math.min(...recent.map((r) => r.intervalStartMs));
  const end = Math.max(...recent.map((r) => r.intervalEndMs));
  if (end - start < 0.9 * DRIFT.sustainedMs) return { drift: false };
  const rates = recent.map((r) => (r.arrivals * 1000) / (r.intervalEndMs - r.intervalStartMs));
  const seconds = recent.reduce((s, r) => s + (r.intervalEndMs - r.intervalStartMs), 0) / 1000;
  const mean = recent.reduce((s, r) => s + r.arrivals, 0) / seconds;
  const planned = p.basis.planningRatePerSecond;
  const f = DRIFT.factor;
  if (rates.every((r) => r > planned * f))
    return {
      drift: true,
      reason: `arrivals ${round(mean)}/s stayed above ${f}x the planned ${round(planned)}/s`,
      ratePerSecond: mean,
    };
  // A plan within the factor of the floor has nothing lower to go to (its sample's drawn mean varies).
  if (planned > driftFloorRate(record) * f && rates.every((r) => r < planned / f))
    return {
      drift: true,
      reason: `arrivals ${round(mean)}/s stayed below the planned ${round(planned)}/s / ${f}`,
      ratePerSecond: mean,
    };
  const slo = record.spec.sloP99Ms;
  if (recent.every((r) => r.completed > 0 && r.latency.p99Ms > slo))
    return { drift: true, reason: `live p99 stayed above the slo of ${slo} ms`, ratePerSecond: mean };
  return { drift: false };
}

function driftSampleSeconds(record: PipelineRecord): number {
  const sample = record.spec.sampleTrace ?? DEFAULT_SAMPLE_TRACE;
  return sample.kind === 'gamma' ? sample.durationSeconds : DEFAULT_SAMPLE_TRACE.durationSeconds;
}

/** The least rate a drift re-plan plans for: MIN_DRIFT_SAMPLE_ARRIVALS over the sample's duration. */
export function driftFloorRate(record: PipelineRecord): number {
  return MIN_DRIFT_SAMPLE_ARRIVALS / driftSampleSeconds(record);
}

/** A Gamma sample at the observed rate (at least driftFloorRate), shaped like the original sample. */
export function driftTrace(record: PipelineRecord, ratePerSecond: number): SampleTraceSpec {
  const sample = record.spec.sampleTrace ?? DEFAULT_SAMPLE_TRACE;
  return {
    kind: 'gamma',
    ratePerSecond: Math.max(ratePerSecond, driftFloorRate(record)),
    cv: sample.kind === 'gamma' ? sample.cv : 1,
    durationSeconds: driftSampleSeconds(record),
    seed: 1,
  };
}

export interface ScaleSummary {
  readonly planned: number;
  readonly replanned: number;
  readonly refused: number;
  readonly submitted: number;
  readonly cancelled: number;
  readonly failed: number;
}

/** One scale tick over every pipeline; a failure with one pipeline is logged and the rest go on. */
export async function scalePipelines(deps: PipelineScaleDeps): Promise<ScaleSummary> {
  const totals = { planned: 0, replanned: 0, refused: 0, submitted: 0, cancelled: 0, failed: 0 };
  const live = await activeJobsByPipeline(deps.jobs);
  for (const record of await deps.pipelines.list()) {
    // An ended pipeline with nothing left running needs nothing.
    if ((record.status === 'STOPPED' || record.status === 'REFUSED') && !live.has(record.pipelineId))
      continue;
    try {
      const step = await scaleOne(record, deps, live.get(record.pipelineId) ?? []);
      totals.planned += step.planned;
      totals.replanned += step.replanned;
      totals.refused += step.refused;
      totals.submitted += step.submitted;
      totals.cancelled += step.cancelled;
    } catch (error) {
      totals.failed++;
      deps.log?.error('scale step failed for a pipeline', {
        pipelineId: record.pipelineId,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
  return totals;
}

/** Moves one pipeline along (profiling, planning, re-planning) and reconciles its jobs. */
export async function scaleOne(
  start: PipelineRecord,
  deps: PipelineScaleDeps,
  live?: readonly Job[],
): Promise<Omit<ScaleSummary, 'failed'>> {
  const out = { planned: 0, replanned: 0, refused: 0, submitted: 0, cancelled: 0 };
  let record: PipelineRecord | undefined = start;
  if (record.status === 'PROFILING') {
    // Covers a crash between storing the record and submitting its jobs, and derivations now possible.
    await ensureProfilingJobs(record, deps);
    record = await advanceProfiling(record.pipelineId, deps);
  }
  if (record?.status === 'PLANNING') {
    const outcome = await planPipeline(record, deps);
    const patch = outcome.feasible
      ? {
          status: 'SERVING' as const,
          reason: `planned at $${round(outcome.plan.costPerHour)}/h, estimated p99 ${round(outcome.plan.p99Ms)} ms`,
          plan: outcome.plan,
          targets: plannedTargets(outcome.plan),
          targetsAt: outcome.plan.plannedAt,
        }
      : { status: 'REFUSED' as const, reason: outcome.reason };
    record = await updateIf(record.pipelineId, 'PLANNING', patch, deps);
    if (outcome.feasible) out.planned++;
    else out.refused++;
  } else if (record?.status === 'SERVING') {
    record = await replanOnDrift(record, deps, out);
  }
  if (!record) return out;
  // Jobs read before planning are still current: planning creates none, and reconcile is what adds them.
  const r = await reconcilePipeline(record, deps, live);
  out.submitted += r.submitted.length;
  out.cancelled += r.cancelled.length;
  return out;
}

async function replanOnDrift(
  record: PipelineRecord,
  deps: PipelineScaleDeps,
  out: { replanned: number },
): Promise<PipelineRecord | undefined> {
  const reports = await deps.pipelines.recentReports(record.pipelineId, DRIFT.reports);
  const drift = detectDrift(record, reports, deps.clock.now());
  if (!drift.drift) return record;
  const outcome = await planPipeline(record, deps, driftTrace(record, drift.ratePerSecond));
  if (!outcome.feasible) {
    // Keep serving on the old plan: the tuner still adds replicas; say why nothing better was found.
    deps.log?.warn('re-plan after drift found no feasible plan', { pipelineId: record.pipelineId, ...drift });
    return updateIf(
      record.pipelineId,
      'SERVING',
      { reason: `${drift.reason}; re-plan infeasible: ${outcome.reason}` },
      deps,
    );
  }
  out.replanned++;
  deps.log?.info('re-planned a pipeline after drift', {
    pipelineId: record.pipelineId,
    reason: drift.reason,
  });
  return updateIf(
    record.pipelineId,
    'SERVING',
    {
      reason: `re-planned: ${drift.reason}`,
      plan: outcome.plan,
      targets: plannedTargets(outcome.plan),
      targetsAt: outcome.plan.plannedAt,
    },
    deps,
  );
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
