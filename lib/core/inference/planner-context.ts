import { PlanInvariantError } from '../errors.ts';
import { type CostOf, onDemandCostPerHour } from './cost.ts';
import { lateLimit, type PlannerInput, validated } from './planner-input.ts';
import { replicaThroughputQps, type StageProfile, serviceTimeMs } from './profiles.ts';
import { type PipelineConfig, type SimulationInput, type StageConfig, simulate } from './simulator.ts';
import { compileTopology, drawnRouter, recordedRouter, visitFractions } from './topology.ts';
import { createRng } from './traces.ts';

/** The planner's working state: the validated input, its derived settings and the feasibility memo. */
export interface Ctx {
  readonly input: PlannerInput;
  readonly ids: readonly string[];
  readonly costOf: CostOf;
  readonly delayMs: number;
  readonly maxReplicas: number;
  readonly fractions: Readonly<Record<string, number>>;
  readonly cache: Map<string, boolean>;
  sims: number;
}

export function contextOf(raw: PlannerInput): { ctx: Ctx; topo: ReturnType<typeof compileTopology> } {
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

/** Profiles the stage may use: those of its allowed instance types (all, when it lists none). */
export function candidates(ctx: Ctx, id: string): readonly StageProfile[] {
  const all = ctx.input.profiles[id] ?? [];
  const allowed = ctx.input.pipeline.stages.find((s) => s.id === id)?.instanceTypes;
  return allowed ? all.filter((p) => allowed.includes(p.instanceType)) : all;
}

export function profileOf(ctx: Ctx, id: string, instanceType: string): StageProfile {
  const p = candidates(ctx, id).find((c) => c.instanceType === instanceType);
  // Configurations only ever name types taken from the candidates, so a miss is a planner bug.
  if (!p) throw new PlanInvariantError(`no profile for stage ${id} on ${instanceType}`);
  return p;
}

/** Lowest batch-1 latency; a tie goes to the cheaper type so that Alg. 2 has less to undo. */
export function fastest(ctx: Ctx, id: string): StageProfile {
  const ranked = [...candidates(ctx, id)].sort(
    (a, b) => serviceTimeMs(a, 1) - serviceTimeMs(b, 1) || unitCost(ctx, id, a) - unitCost(ctx, id, b),
  );
  return ranked[0] as StageProfile;
}

export function fresh(ctx: Ctx, p: StageProfile): StageConfig {
  return { instanceType: p.instanceType, maxBatch: 1, replicas: 1, maxQueueDelayMs: ctx.delayMs };
}

export function simInput(ctx: Ctx, config: PipelineConfig): SimulationInput {
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
export function feasible(ctx: Ctx, config: PipelineConfig): boolean {
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
export function addReplicasUntilFeasible(
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

/** Price of one replica of a type, as the cost function sees it. */
export function unitCost(ctx: Ctx, id: string, p: StageProfile): number {
  return ctx.costOf({ [id]: fresh(ctx, p) });
}
