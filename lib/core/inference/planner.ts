import { ValidationError } from '../errors.ts';
import {
  addReplicasUntilFeasible,
  type Ctx,
  candidates,
  contextOf,
  fastest,
  feasible,
  fresh,
  profileOf,
  simInput,
} from './planner-context.ts';
import { minimiseCost, type PlanStep } from './planner-cost.ts';
import type { PlannerInput } from './planner-input.ts';
import { maxProfiledBatch, serviceTimeMs } from './profiles.ts';
import {
  type PipelineConfig,
  percentile,
  type SimulationResult,
  type StageConfig,
  simulate,
} from './simulator.ts';
import { longestPath } from './topology.ts';

export type { PlanAction, PlanStep } from './planner-cost.ts';
export {
  lateLimit,
  PLANNING_LATE_FRACTION,
  type PlannerInput,
  type PlannerPipeline,
} from './planner-input.ts';

/**
 * The InferLine planner: the cheapest configuration (hardware, max batch, replicas per stage) whose
 * estimated P99 on the sample trace meets the SLO.
 *
 * Alg. 1 (initialise): every stage on its lowest-latency hardware at batch 1 with one replica. If the
 * batch-1 latencies summed along the longest path exceed the SLO, no configuration can meet it (batching
 * and queueing only add latency), so the planner refuses. Otherwise it adds one replica at a time to the
 * throughput bottleneck, the stage with the least replicas × throughput / visit fraction, until feasible.
 *
 * Alg. 2 (minimise cost): each round tries, for every stage, IncreaseBatch (×2, capped at the largest
 * profiled batch), RemoveReplica and DowngradeHW (cheaper hardware, re-initialised and locally minimised
 * with the other stages frozen; kept only if the total cost falls), and applies the cheapest
 * feasible candidate. IncreaseBatch costs nothing, so it wins only when nothing cheaper is feasible; it
 * exists to make later RemoveReplica steps feasible. Every step keeps feasibility and never raises the
 * cost, so the plan ends no more costly than the initial configuration, at a local optimum.
 *
 * DowngradeHW departs from the paper, which moves a stage to the next-cheaper hardware only. Among many
 * instance types the next-cheaper one is often unfit for the stage (a CPU type priced between two GPU
 * types, for a GPU-bound model), and the search stopped there. It now tries every cheaper type and keeps
 * the cheapest result (`downgrade: 'next'` restores the paper's rule; see planner-cost.ts).
 */

export type PlanResult =
  | {
      readonly feasible: true;
      readonly config: PipelineConfig;
      readonly costPerHour: number;
      readonly p99Ms: number;
      /** The configuration Alg. 1 ended with, before cost minimisation. */
      readonly initial: { readonly config: PipelineConfig; readonly costPerHour: number };
      readonly steps: readonly PlanStep[];
      /** Fraction of sample queries visiting each stage (s_m). */
      readonly visitFractions: Readonly<Record<string, number>>;
      /** Stages whose chosen profile was derived, not measured: their figures are estimates. */
      readonly derivedStages: readonly string[];
      readonly simulations: number;
    }
  | { readonly feasible: false; readonly reason: string; readonly simulations: number };

/**
 * Alg. 1's replica loop from a given configuration: `start` (usually a plan) with replicas added at the
 * bottleneck until the estimator says the input's trace meets the SLO; hardware and batch stay as they
 * are. Undefined when a stage would need more than maxReplicasPerStage.
 */
export function provisionFor(raw: PlannerInput, start: PipelineConfig): PipelineConfig | undefined {
  const { ctx } = contextOf(raw);
  const issues = ctx.ids.flatMap((id) => {
    const c = start[id];
    if (!c) return [{ path: `start.${id}`, message: 'the stage has no configuration' }];
    if (!candidates(ctx, id).some((p) => p.instanceType === c.instanceType))
      return [{ path: `start.${id}.instanceType`, message: `no usable profile for ${c.instanceType}` }];
    return [];
  });
  if (issues.length > 0) throw new ValidationError('planner input', issues);
  return addReplicasUntilFeasible(ctx, start, ctx.ids);
}

function derivedIn(ctx: Ctx, config: PipelineConfig): string[] {
  return ctx.ids.filter(
    (id) => profileOf(ctx, id, (config[id] as StageConfig).instanceType).source.kind === 'derived',
  );
}

/** Stages of a configuration whose profile was derived, not measured: their figures are estimates. */
export function derivedStagesOf(raw: PlannerInput, config: PipelineConfig): string[] {
  return derivedIn(contextOf(raw).ctx, config);
}

/**
 * The instance types a stage may run on (its profiles, within the stage's allowed types), each with the
 * batch sizes worth trying there: powers of two up to the largest profiled batch whose batch latency fits
 * within the SLO.
 */
export function stageOptions(
  raw: PlannerInput,
  id: string,
): { readonly instanceType: string; readonly batches: readonly number[] }[] {
  const { ctx } = contextOf(raw);
  const slo = ctx.input.pipeline.sloP99Ms;
  return candidates(ctx, id).map((p) => {
    const batches: number[] = [];
    for (let b = 1; b <= maxProfiledBatch(p) && serviceTimeMs(p, b) <= slo; b *= 2) batches.push(b);
    return { instanceType: p.instanceType, batches };
  });
}

/** Whether the estimator says the configuration meets the SLO on the input's trace (within its late fraction). */
export function meetsSlo(raw: PlannerInput, config: PipelineConfig): boolean {
  return feasible(contextOf(raw).ctx, config);
}

/** The estimator's run of a configuration on the planner input's trace, as the planner simulates it. */
export function simulatePlanned(raw: PlannerInput, config: PipelineConfig): SimulationResult {
  return simulate(simInput(contextOf(raw).ctx, config));
}

export function plan(raw: PlannerInput): PlanResult {
  const { ctx, topo } = contextOf(raw);
  const input = ctx.input;
  const missing = ctx.ids.filter((id) => candidates(ctx, id).length === 0);
  if (missing.length > 0)
    return { feasible: false, reason: `no usable profile for stage ${missing.join(', ')}`, simulations: 0 };

  const start: Record<string, StageConfig> = {};
  for (const id of ctx.ids) start[id] = fresh(ctx, fastest(ctx, id));
  const floorMs = longestPath(topo, (s) => {
    const id = topo.ids[s] as string;
    return serviceTimeMs(profileOf(ctx, id, (start[id] as StageConfig).instanceType), 1);
  });
  if (floorMs > input.pipeline.sloP99Ms)
    return {
      feasible: false,
      reason: `slo of ${input.pipeline.sloP99Ms} ms is below the ${round(floorMs)} ms batch-1 latency of the longest path on the fastest hardware`,
      simulations: 0,
    };

  const initial = addReplicasUntilFeasible(ctx, start, ctx.ids);
  if (!initial)
    return {
      feasible: false,
      reason: `no configuration within ${ctx.maxReplicas} replicas per stage meets the slo of ${input.pipeline.sloP99Ms} ms`,
      simulations: ctx.sims,
    };
  const steps: PlanStep[] = [{ action: 'initialise', costPerHour: ctx.costOf(initial) }];
  const config = minimiseCost(ctx, initial, steps);
  return {
    feasible: true,
    config,
    costPerHour: ctx.costOf(config),
    p99Ms: percentile(simulate(simInput(ctx, config)).latenciesMs, 99),
    initial: { config: initial, costPerHour: ctx.costOf(initial) },
    steps,
    visitFractions: ctx.fractions,
    derivedStages: derivedIn(ctx, config),
    simulations: ctx.sims,
  };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
