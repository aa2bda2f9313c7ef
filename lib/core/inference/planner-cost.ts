import {
  addReplicasUntilFeasible,
  type Ctx,
  candidates,
  feasible,
  fresh,
  profileOf,
  unitCost,
} from './planner-context.ts';
import { maxProfiledBatch, replicaThroughputQps, type StageProfile } from './profiles.ts';
import type { PipelineConfig, StageConfig } from './simulator.ts';
import { meanRatePerSecond } from './traces.ts';

export type PlanAction = 'initialise' | 'add-replica' | 'increase-batch' | 'remove-replica' | 'downgrade-hw';

export interface PlanStep {
  readonly action: PlanAction;
  readonly stage?: string;
  readonly costPerHour: number;
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
export function minimiseCost(ctx: Ctx, initial: PipelineConfig, steps: PlanStep[]): PipelineConfig {
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

/**
 * DowngradeHW: move the stage to cheaper hardware at batch 1 and one replica, add replicas until feasible,
 * then shrink locally (RemoveReplica, else IncreaseBatch) with the other stages frozen. The paper moves to
 * the next-cheaper type only; with many types that stops wherever the next-cheaper type cannot serve the
 * stage cheaply (a CPU type between two GPUs), so by default every cheaper type is tried, most expensive
 * first, and the cheapest result kept. A type whose throughput alone needs replicas costing at least the
 * best found so far is skipped unsimulated. Returns the result only if it is cheaper than `currentCost`.
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
    .sort((a, b) => b.cost - a.cost);
  const tries = (ctx.input.downgrade ?? 'any') === 'next' ? cheaper.slice(0, 1) : cheaper;
  let best: PipelineConfig | undefined;
  let bestCost = currentCost;
  for (const { p } of tries) {
    const floor = { ...config, [id]: { ...fresh(ctx, p), replicas: minReplicas(ctx, id, p) } };
    if (ctx.costOf(floor) >= bestCost) continue;
    const next = shrinkOnto(ctx, config, id, p);
    if (!next) continue;
    const cost = ctx.costOf(next);
    if (cost < bestCost) {
      best = next;
      bestCost = cost;
    }
  }
  return best;
}

/** The stage on `p` from one replica at batch 1, grown until feasible, then shrunk as far as it stays so. */
function shrinkOnto(
  ctx: Ctx,
  config: PipelineConfig,
  id: string,
  p: StageProfile,
): PipelineConfig | undefined {
  let next = addReplicasUntilFeasible(ctx, { ...config, [id]: fresh(ctx, p) }, [id]);
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
    return next;
  }
}

/**
 * Replicas the stage needs on `p` for 90% of the sample's mean rate at its best profiled throughput. With
 * less capacity its backlog grows by a tenth of the arrivals, so t seconds into the sample a query waits
 * about t/9 s: every query after 9·SLO is late, more than the late fraction f allows while
 * 9·SLO < (1 − f)·span. Then no feasible configuration has fewer; otherwise the bound is 1.
 */
function minReplicas(ctx: Ctx, id: string, p: StageProfile): number {
  const { arrivalsMs } = ctx.input;
  const spanS = ((arrivalsMs[arrivalsMs.length - 1] ?? 0) - (arrivalsMs[0] ?? 0)) / 1000;
  const f = ctx.input.lateFraction ?? 0.01;
  if (spanS <= 0 || (9 * ctx.input.pipeline.sloP99Ms) / 1000 >= (1 - f) * spanS) return 1;
  const rate = meanRatePerSecond(arrivalsMs) * (ctx.fractions[id] ?? 1);
  let mu = 0;
  for (let b = 1; b <= maxProfiledBatch(p); b *= 2) mu = Math.max(mu, replicaThroughputQps(p, b));
  return mu > 0 ? Math.max(1, Math.ceil((0.9 * rate) / mu - 1e-9)) : 1;
}
