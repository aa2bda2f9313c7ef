import { z } from 'zod';
import { PlanInvariantError, ValidationError } from '../errors.ts';
import { parseOrThrow } from '../model/validate.ts';
import { type CostOf, onDemandCostPerHour } from './cost.ts';
import {
  maxProfiledBatch,
  parseProfile,
  replicaThroughputQps,
  type StageProfile,
  serviceTimeMs,
} from './profiles.ts';
import {
  allowedLate,
  checkTrace,
  type PipelineConfig,
  percentile,
  type SimulationInput,
  type StageConfig,
  simulate,
} from './simulator.ts';
import {
  compileTopology,
  drawnRouter,
  longestPath,
  type PipelineShape,
  recordedRouter,
  visitFractions,
} from './topology.ts';
import { createRng } from './traces.ts';

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
 * profiled batch), RemoveReplica and DowngradeHW (next-cheaper hardware, re-initialised and locally
 * minimised with the other stages frozen; kept only if the total cost falls), and applies the cheapest
 * feasible candidate. IncreaseBatch costs nothing, so it wins only when nothing cheaper is feasible; it
 * exists to make later RemoveReplica steps feasible. Every step keeps feasibility and never raises the
 * cost, so the plan ends no more costly than the initial configuration, at a local optimum.
 */

export interface PlannerPipeline extends PipelineShape {
  readonly sloP99Ms: number;
  readonly stages: readonly { readonly id: string; readonly instanceTypes?: readonly string[] }[];
}

export interface PlannerInput {
  readonly pipeline: PlannerPipeline;
  /** Candidate profiles per stage id, one per instance type. */
  readonly profiles: Readonly<Record<string, readonly StageProfile[]>>;
  /** The sample trace: sorted arrival times in ms. */
  readonly arrivalsMs: Float64Array;
  readonly seed?: number;
  readonly paths?: readonly (readonly string[])[];
  /** Batching delay every stage server uses. @default 0 (pull what is queued, InferLine's rule) */
  readonly maxQueueDelayMs?: number;
  /**
   * Dollars per hour of a configuration. It is also called with single-stage configurations to rank a
   * stage's hardware by price, so it must accept any subset of the stages.
   * @default onDemandCostPerHour (a whole on-demand instance per replica)
   */
  readonly costOf?: CostOf;
  /** The planner gives up on a stage that would need more replicas than this. @default 64 */
  readonly maxReplicasPerStage?: number;
  /**
   * Largest fraction of sample queries allowed over the SLO for a configuration to count as feasible.
   * The default, 0.01, is the spec's P99 ≤ SLO. A plan must hold on live traffic, a different draw than
   * its sample, so callers that deploy plans pass a stricter figure (PLANNING_LATE_FRACTION) as a safety
   * margin between sample and live traffic.
   * @default 0.01
   */
  readonly lateFraction?: number;
}

/**
 * The late fraction the product plans with: at most 0.25% of the sample's queries over the SLO, a
 * quarter of what P99 allows. A plan that just meets P99 on its sample misses it on about half of the
 * other draws of the same process; the margin covers that sampling variation.
 */
export const PLANNING_LATE_FRACTION = 0.0025;

export type PlanAction = 'initialise' | 'add-replica' | 'increase-batch' | 'remove-replica' | 'downgrade-hw';

export interface PlanStep {
  readonly action: PlanAction;
  readonly stage?: string;
  readonly costPerHour: number;
}

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

interface Ctx {
  readonly input: PlannerInput;
  readonly ids: readonly string[];
  readonly costOf: CostOf;
  readonly delayMs: number;
  readonly maxReplicas: number;
  readonly fractions: Readonly<Record<string, number>>;
  readonly cache: Map<string, boolean>;
  sims: number;
}

function contextOf(raw: PlannerInput): { ctx: Ctx; topo: ReturnType<typeof compileTopology> } {
  const input = validated(raw);
  const topo = compileTopology(input.pipeline);
  const router = input.paths
    ? recordedRouter(topo, input.paths)
    : drawnRouter(topo, createRng(input.seed ?? 1));
  const fractions = visitFractions(topo, router, input.arrivalsMs.length);
  const ctx: Ctx = {
    input,
    ids: topo.ids,
    costOf: input.costOf ?? onDemandCostPerHour,
    delayMs: input.maxQueueDelayMs ?? 0,
    maxReplicas: input.maxReplicasPerStage ?? 64,
    fractions: Object.fromEntries(topo.ids.map((id, i) => [id, fractions[i] as number])),
    cache: new Map(),
    sims: 0,
  };
  return { ctx, topo };
}

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
    derivedStages: ctx.ids.filter(
      (id) => profileOf(ctx, id, (config[id] as StageConfig).instanceType).source.kind === 'derived',
    ),
    simulations: ctx.sims,
  };
}

const OptionsSchema = z.object({
  maxQueueDelayMs: z
    .number()
    .min(0, { error: 'maxQueueDelayMs must be at least 0' })
    .max(10_000, { error: 'maxQueueDelayMs must be at most 10,000' })
    .optional(),
  maxReplicasPerStage: z
    .number()
    .int({ error: 'maxReplicasPerStage must be an integer' })
    .min(1, { error: 'maxReplicasPerStage must be at least 1' })
    .max(10_000, { error: 'maxReplicasPerStage must be at most 10,000' })
    .optional(),
  seed: z.number().int({ error: 'seed must be an integer' }).optional(),
  lateFraction: z
    .number()
    .min(0, { error: 'lateFraction must be at least 0' })
    .max(0.5, { error: 'lateFraction must be at most 0.5' })
    .optional(),
});

/** Check the options and the trace, and parse every profile (which also sorts its points). */
function validated(input: PlannerInput): PlannerInput {
  parseOrThrow(OptionsSchema, input, 'planner options');
  checkTrace(input.arrivalsMs, input.pipeline.sloP99Ms);
  if (input.arrivalsMs.length === 0)
    throw new ValidationError('planner input', [
      { path: 'arrivalsMs', message: 'the sample trace is empty' },
    ]);
  const duplicates = Object.entries(input.profiles).flatMap(([id, list]) =>
    list
      .map((p, i) => ({ type: p.instanceType, i }))
      .filter(({ type }, i) => list.findIndex((p) => p.instanceType === type) !== i)
      .map(({ type, i }) => ({ path: `profiles.${id}.${i}`, message: `second profile for ${type}` })),
  );
  if (duplicates.length > 0) throw new ValidationError('planner input', duplicates);
  const profiles = Object.fromEntries(
    Object.entries(input.profiles).map(([id, list]) => [id, list.map((p) => parseProfile(p))]),
  );
  return { ...input, profiles };
}

/** Queries of n that may be late: n − ⌈(1 − f)·n⌉, the nearest-rank rule (f = 0.01 is allowedLate's P99). */
export function lateLimit(n: number, fraction: number): number {
  return fraction === 0.01 ? allowedLate(n) : n - Math.ceil((1 - fraction) * n - 1e-9);
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/** Profiles the stage may use: those of its allowed instance types (all, when it lists none). */
function candidates(ctx: Ctx, id: string): readonly StageProfile[] {
  const all = ctx.input.profiles[id] ?? [];
  const allowed = ctx.input.pipeline.stages.find((s) => s.id === id)?.instanceTypes;
  return allowed ? all.filter((p) => allowed.includes(p.instanceType)) : all;
}

function profileOf(ctx: Ctx, id: string, instanceType: string): StageProfile {
  const p = candidates(ctx, id).find((c) => c.instanceType === instanceType);
  // Configurations only ever name types taken from the candidates, so a miss is a planner bug.
  if (!p) throw new PlanInvariantError(`no profile for stage ${id} on ${instanceType}`);
  return p;
}

/** Lowest batch-1 latency; a tie goes to the cheaper type so that Alg. 2 has less to undo. */
function fastest(ctx: Ctx, id: string): StageProfile {
  const ranked = [...candidates(ctx, id)].sort(
    (a, b) => serviceTimeMs(a, 1) - serviceTimeMs(b, 1) || unitCost(ctx, id, a) - unitCost(ctx, id, b),
  );
  return ranked[0] as StageProfile;
}

function fresh(ctx: Ctx, p: StageProfile): StageConfig {
  return { instanceType: p.instanceType, maxBatch: 1, replicas: 1, maxQueueDelayMs: ctx.delayMs };
}

function simInput(ctx: Ctx, config: PipelineConfig): SimulationInput {
  const { input } = ctx;
  return {
    pipeline: input.pipeline,
    config,
    profileOf: (id, type) => profileOf(ctx, id, type),
    arrivalsMs: input.arrivalsMs,
    sloMs: input.pipeline.sloP99Ms,
    ...(input.seed === undefined ? {} : { seed: input.seed }),
    ...(input.paths ? { paths: input.paths } : {}),
  };
}

/** Estimator P99 <= SLO on the sample trace; memoised, since Alg. 2 revisits configurations. */
function feasible(ctx: Ctx, config: PipelineConfig): boolean {
  const key = JSON.stringify(ctx.ids.map((id) => config[id]));
  const known = ctx.cache.get(key);
  if (known !== undefined) return known;
  ctx.sims++;
  const limit = lateLimit(ctx.input.arrivalsMs.length, ctx.input.lateFraction ?? 0.01);
  const result = simulate({ ...simInput(ctx, config), lateLimit: limit });
  const ok = result.complete && result.late <= limit;
  ctx.cache.set(key, ok);
  return ok;
}

/** Serving capacity of a stage relative to the share of queries that reach it (larger is better). */
function headroom(ctx: Ctx, id: string, c: StageConfig): number {
  const qps = c.replicas * replicaThroughputQps(profileOf(ctx, id, c.instanceType), c.maxBatch);
  const share = ctx.fractions[id] ?? 0;
  return share > 0 ? qps / share : Number.POSITIVE_INFINITY;
}

/** Alg. 1's loop, over the stages in `among`: add replicas at the bottleneck until feasible. */
function addReplicasUntilFeasible(
  ctx: Ctx,
  start: PipelineConfig,
  among: readonly string[],
): PipelineConfig | undefined {
  let config = start;
  while (!feasible(ctx, config)) {
    let worst: string | undefined;
    let worstHeadroom = Number.POSITIVE_INFINITY;
    for (const id of among) {
      const c = config[id] as StageConfig;
      const h = headroom(ctx, id, c);
      if (c.replicas < ctx.maxReplicas && h < worstHeadroom) {
        worst = id;
        worstHeadroom = h;
      }
    }
    if (worst === undefined) return undefined;
    const c = config[worst] as StageConfig;
    config = { ...config, [worst]: { ...c, replicas: c.replicas + 1 } };
  }
  return config;
}

interface Candidate {
  readonly action: PlanAction;
  readonly stage: string;
  readonly config: PipelineConfig;
  readonly cost: number;
  /** Already known to be feasible (DowngradeHW checks during its own search). */
  readonly checked: boolean;
}

/** Alg. 2: apply the cheapest feasible action until none is feasible. */
function minimiseCost(ctx: Ctx, initial: PipelineConfig, steps: PlanStep[]): PipelineConfig {
  let config = initial;
  for (;;) {
    const next = cheapestFeasible(ctx, config);
    if (!next) return config;
    config = next.config;
    steps.push({ action: next.action, stage: next.stage, costPerHour: next.cost });
  }
}

function cheapestFeasible(ctx: Ctx, config: PipelineConfig): Candidate | undefined {
  const cost = ctx.costOf(config);
  const reducing: Candidate[] = [];
  for (const id of ctx.ids) {
    const removed = removeReplica(config, id);
    if (removed) reducing.push(candidate(ctx, 'remove-replica', id, removed, false));
    const downgraded = downgrade(ctx, config, id, cost);
    if (downgraded) reducing.push(candidate(ctx, 'downgrade-hw', id, downgraded, true));
  }
  // Cheapest first, so the first feasible one is the answer and the rest need no simulation.
  reducing.sort((a, b) => a.cost - b.cost);
  const best = reducing.find((c) => c.cost < cost && (c.checked || feasible(ctx, c.config)));
  if (best) return best;
  for (const id of ctx.ids) {
    const bigger = increaseBatch(ctx, config, id);
    if (bigger && feasible(ctx, bigger)) return candidate(ctx, 'increase-batch', id, bigger, true);
  }
  return undefined;
}

function candidate(
  ctx: Ctx,
  action: PlanAction,
  stage: string,
  config: PipelineConfig,
  checked: boolean,
): Candidate {
  return { action, stage, config, cost: ctx.costOf(config), checked };
}

function removeReplica(config: PipelineConfig, id: string): PipelineConfig | undefined {
  const c = config[id] as StageConfig;
  return c.replicas > 1 ? { ...config, [id]: { ...c, replicas: c.replicas - 1 } } : undefined;
}

function increaseBatch(ctx: Ctx, config: PipelineConfig, id: string): PipelineConfig | undefined {
  const c = config[id] as StageConfig;
  const cap = maxProfiledBatch(profileOf(ctx, id, c.instanceType));
  return c.maxBatch * 2 <= cap ? { ...config, [id]: { ...c, maxBatch: c.maxBatch * 2 } } : undefined;
}

/** Price of one replica of a type, as the cost function sees it. */
function unitCost(ctx: Ctx, id: string, p: StageProfile): number {
  return ctx.costOf({ [id]: fresh(ctx, p) });
}

/**
 * DowngradeHW: move the stage to the next-cheaper hardware at batch 1 and one replica, add replicas
 * until feasible, then shrink locally (RemoveReplica, else IncreaseBatch) with the other stages frozen.
 * Returns the result only if it is cheaper than `currentCost`.
 */
function downgrade(
  ctx: Ctx,
  config: PipelineConfig,
  id: string,
  currentCost: number,
): PipelineConfig | undefined {
  const c = config[id] as StageConfig;
  const own = unitCost(ctx, id, profileOf(ctx, id, c.instanceType));
  const cheaper = candidates(ctx, id)
    .map((p) => ({ p, cost: unitCost(ctx, id, p) }))
    .filter((x) => x.cost < own)
    .sort((a, b) => b.cost - a.cost)[0];
  if (!cheaper) return undefined;
  let next = addReplicasUntilFeasible(ctx, { ...config, [id]: fresh(ctx, cheaper.p) }, [id]);
  if (!next) return undefined;
  for (;;) {
    const removed = removeReplica(next, id);
    if (removed && feasible(ctx, removed)) {
      next = removed;
      continue;
    }
    const bigger = increaseBatch(ctx, next, id);
    if (bigger && feasible(ctx, bigger)) {
      next = bigger;
      continue;
    }
    break;
  }
  return ctx.costOf(next) < currentCost ? next : undefined;
}
