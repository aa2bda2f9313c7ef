import { type CostOf, onDemandCostPerHour } from './cost.ts';
import { meetsSlo, type PlannerInput, provisionFor, simulatePlanned, stageOptions } from './planner.ts';
import { type PipelineConfig, percentile } from './simulator.ts';
import { meanRatePerSecond } from './traces.ts';
import type { TunerBasis } from './tuner.ts';

/**
 * Serving headroom: replicas kept serving on top of the tuner's target, for the burst that cannot wait for
 * new EC2 capacity to boot (minutes), sized by the estimator.
 *
 * The sample envelope at the window nearest the boot latency B (the slowest boot of the plan's types) gives
 * the rate the plan must expect over one boot, r_B (at least the planning mean rate). The headroom is what
 * the estimator says a surge to HEADROOM_SURGE_FACTOR·r_B needs: the sample is compressed in time to that
 * mean rate (its burst shape kept), and Alg. 1's replica loop adds replicas to the plan at the bottleneck
 * until the compressed sample meets the SLO.
 *
 * Why not the tuner's k = ⌈r·s/(μ·ρ)⌉ at the surge rate: ρ is the plan's provisioning ratio, and a plan
 * whose one replica is lightly loaded (ρ well below 1, as batching leaves most stages) would keep the same
 * low ratio at the surge, buying replicas the estimator shows it does not need.
 *
 * The plan and its headroom are paid for together, so the choices of batch and hardware are revisited with
 * both in the objective (withSurgeHeadroom): a large batch costs nothing at the sample's rate (Alg. 2's
 * IncreaseBatch is cost-neutral) but can make the surge need several more replicas, each waiting for a full
 * batch's run; and the hardware cheapest at the sample's rate can be the dearest at the surge's (a CPU stage
 * that needs two more instances for a 3x surge, where one GPU batching deeper holds it alone).
 */

/**
 * The surge the headroom is sized for, as a multiple of the sample's rate over one boot. The inference
 * benchmark (`npm run bench:inference -- --surge X`) sweeps it; its README section gives the figures. 3 is
 * the smallest of the swept factors at which a 3x spike shorter than any boot is held on every row: the
 * tuner adds replicas only beyond the plan's certified slack (planSlack), so nothing bought for chance
 * excesses is serving when a spike comes, and the headroom alone has to hold it.
 */
export const HEADROOM_SURGE_FACTOR = 3;

/**
 * The most slack the tuner is given (planSlack's default bound): live traffic may beat the sample by at most
 * this factor, and only as far as the estimator shows the plan holds, before the tuner adds replicas.
 */
export const PLAN_SLACK_MAX = 1.5;

export interface SurgeHeadroomInput {
  /** The planner input the plan was made from (pipeline, profiles, sample trace, seed, cost, late fraction). */
  readonly planner: PlannerInput;
  /** The plan. */
  readonly config: PipelineConfig;
  /** A tuner basis of the sample: its envelope gives the rate over one boot. */
  readonly basis: Pick<TunerBasis, 'sample' | 'planningRatePerSecond'>;
  /** Boot latency of new capacity for a stage on an instance type. */
  readonly bootMs: (stage: string, instanceType: string) => number;
  /** @default HEADROOM_SURGE_FACTOR */
  readonly surgeFactor?: number;
  /** Also try moving a stage to other hardware (withSurgeHeadroom). @default true */
  readonly hardware?: boolean;
  /**
   * The price of the headroom replicas alone, packed apart from the configuration's: given for headroom
   * bought in another market (spot, `spotHeadroom`). Absent: the configuration and its headroom are packed
   * together at the planner's cost.
   */
  readonly headroomCostOf?: CostOf;
}

/** The mean rate the headroom is sized for: surgeFactor × the sample envelope's rate over one boot. */
export function surgeRatePerSecond(input: Omit<SurgeHeadroomInput, 'planner'>): number {
  const { windowsMs, ratesPerSecond } = input.basis.sample;
  const boot = Math.max(...Object.entries(input.config).map(([s, c]) => input.bootMs(s, c.instanceType)));
  let i = 0;
  while (i + 1 < windowsMs.length && (windowsMs[i + 1] as number) <= boot) i++;
  const rB = Math.max(ratesPerSecond[i] ?? 0, input.basis.planningRatePerSecond);
  return (input.surgeFactor ?? HEADROOM_SURGE_FACTOR) * rB;
}

/** The sample compressed in time to a mean of `ratePerSecond`, its burst shape kept. */
function compressed(sample: Float64Array, ratePerSecond: number): Float64Array {
  const squeeze = meanRatePerSecond(sample) / ratePerSecond;
  return sample.map((t) => t * squeeze);
}

/**
 * The plan's certified slack σ: the largest factor in [1, max] (to 1/64 of the range) by which the sample
 * can be compressed in time, its burst shape kept, with the configuration still meeting the SLO in the
 * estimator. Every σ returned was simulated and met the SLO, except 1 (the plan's own sample). The tuner
 * compares live rates with the sample's scaled by σ (TunerBasis.slack), so it adds replicas only beyond
 * what the plan was shown to absorb.
 */
export function planSlack(planner: PlannerInput, config: PipelineConfig, max = PLAN_SLACK_MAX): number {
  const holdsAt = (c: number) =>
    meetsSlo({ ...planner, arrivalsMs: planner.arrivalsMs.map((t) => t / c) }, config);
  if (!(max > 1)) return 1;
  if (holdsAt(max)) return max;
  let lo = 1;
  let hi = max;
  for (let k = 0; k < 6; k++) {
    const mid = (lo + hi) / 2;
    if (holdsAt(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** Extra replicas per stage for the config to serve `surge`; undefined beyond the planner's cap. */
function headroomOn(
  planner: PlannerInput,
  config: PipelineConfig,
  surge: Float64Array,
): Record<string, number> | undefined {
  const served = provisionFor({ ...planner, arrivalsMs: surge }, config);
  if (!served) return undefined;
  return Object.fromEntries(
    Object.entries(config).map(([s, c]) => [s, (served[s]?.replicas ?? c.replicas) - c.replicas]),
  );
}

/**
 * Serving headroom per stage for a plan, by the rule in the file comment. Undefined when no configuration
 * within the planner's replica cap serves the surge.
 */
export function surgeHeadroom(input: SurgeHeadroomInput): Record<string, number> | undefined {
  const surge = compressed(input.planner.arrivalsMs, surgeRatePerSecond(input));
  return headroomOn(input.planner, input.config, surge);
}

export interface HeadroomPlan {
  /** The configuration to serve (the plan, or the plan with smaller batches where that is cheaper). */
  readonly config: PipelineConfig;
  /** Extra replicas per stage on top of it. */
  readonly headroom: Readonly<Record<string, number>>;
  /** The configuration alone. */
  readonly costPerHour: number;
  /** The configuration with its headroom, packed together. */
  readonly totalCostPerHour: number;
  /** The estimator's P99 of the configuration on the sample. */
  readonly p99Ms: number;
  /** Stages whose batch was lowered from the plan's (on the plan's hardware), with the batch they got. */
  readonly lowered: Readonly<Record<string, number>>;
  /** Stages moved to other hardware than the plan's, with the instance type they got. */
  readonly rehosted: Readonly<Record<string, string>>;
}

/** The configuration with `extra` replicas added per stage: what serves with its headroom. */
export function plusHeadroom(
  config: PipelineConfig,
  extra: Readonly<Record<string, number>>,
): PipelineConfig {
  return Object.fromEntries(
    Object.entries(config).map(([s, c]) => [s, { ...c, replicas: c.replicas + (extra[s] ?? 0) }]),
  );
}

/** The headroom replicas alone, on their stage's configuration. */
export function headroomOnly(
  config: PipelineConfig,
  headroom: Readonly<Record<string, number>>,
): PipelineConfig {
  return Object.fromEntries(
    Object.entries(config).map(([s, c]) => [s, { ...c, replicas: headroom[s] ?? 0 }]),
  );
}

/**
 * The price of a stage count over time when the warm headroom is bought in its own market (spotHeadroom):
 * of n replicas serving at a stage planned at P with headroom H, the slots P..P+H-1 are the headroom's
 * (min(max(n - P, 0), H) of them) and the rest are the configuration's, each part packed at its own cost.
 * These are the slots the reconcile step marks spot-allowed.
 */
export function splitHeadroomCost(o: {
  readonly planned: PipelineConfig;
  readonly headroom: Readonly<Record<string, number>>;
  readonly costOf: CostOf;
  readonly headroomCostOf: CostOf;
}): CostOf {
  return (config) => {
    const main: Record<string, PipelineConfig[string]> = {};
    const warm: Record<string, PipelineConfig[string]> = {};
    for (const [s, c] of Object.entries(config)) {
      const p = o.planned[s]?.replicas ?? 0;
      const h = o.headroom[s] ?? 0;
      const inHeadroom = Math.min(Math.max(c.replicas - p, 0), h);
      warm[s] = { ...c, replicas: inHeadroom };
      main[s] = { ...c, replicas: c.replicas - inHeadroom };
    }
    return o.costOf(main) + o.headroomCostOf(warm);
  };
}

/** Whether replica slot `slot` of a stage planned at `planned` with `headroom` warm replicas is headroom. */
export function isHeadroomSlot(slot: number, planned: number, headroom: number): boolean {
  return slot >= planned && slot < planned + headroom;
}

/**
 * The plan and its headroom, with each stage's batch and hardware revisited against their joint cost: while
 * it lowers the cost of configuration + headroom, it applies the best single-stage move, re-provisioned at
 * the bottleneck until the sample is feasible again. The moves are DecreaseBatch (any smaller power of two
 * on the stage's hardware) and, unless `hardware` is false, ChangeHW (any other instance type the stage
 * may use, at any batch whose batch latency fits the SLO, from one replica). Each candidate's surge is sized
 * over its own slowest boot. Every candidate is feasible on the sample and on the surge, so the result keeps
 * both guarantees and never costs more in total than the plan with its own headroom. Undefined when the
 * plan's surge is beyond the planner's cap.
 */
export function withSurgeHeadroom(input: SurgeHeadroomInput): HeadroomPlan | undefined {
  const { planner } = input;
  const costOf = planner.costOf ?? onDemandCostPerHour;
  const totalOf = (config: PipelineConfig, headroom: Readonly<Record<string, number>>) =>
    input.headroomCostOf
      ? costOf(config) + input.headroomCostOf(headroomOnly(config, headroom))
      : costOf(plusHeadroom(config, headroom));
  const evaluate = (config: PipelineConfig) => {
    // The surge is the sample's rate over the slowest boot among the configuration's types.
    const surge = compressed(planner.arrivalsMs, surgeRatePerSecond({ ...input, config }));
    const headroom = headroomOn(planner, config, surge);
    return headroom ? { config, headroom, total: totalOf(config, headroom) } : undefined;
  };
  let best = evaluate(input.config);
  if (!best) return undefined;
  const options = Object.fromEntries(Object.keys(input.config).map((s) => [s, stageOptions(planner, s)]));
  for (;;) {
    const current = best;
    let next: typeof best | undefined;
    const consider = (stage: string, c: PipelineConfig[string]) => {
      const feasible = provisionFor(planner, { ...current.config, [stage]: c });
      const candidate = feasible && evaluate(feasible);
      if (candidate && candidate.total < (next ?? current).total - 1e-9) next = candidate;
    };
    for (const [stage, c] of Object.entries(current.config)) {
      // DecreaseBatch on the stage's own hardware.
      for (let b = 1; b < c.maxBatch; b *= 2) consider(stage, { ...c, maxBatch: b });
      // Other hardware, at every batch that fits the SLO, from one replica.
      if (input.hardware === false) continue;
      for (const o of options[stage] ?? [])
        if (o.instanceType !== c.instanceType)
          for (const b of o.batches)
            consider(stage, { ...c, instanceType: o.instanceType, maxBatch: b, replicas: 1 });
    }
    if (!next) break;
    best = next;
  }
  const lowered = Object.fromEntries(
    Object.entries(best.config)
      .filter(
        ([s, c]) =>
          c.instanceType === input.config[s]?.instanceType && c.maxBatch !== input.config[s]?.maxBatch,
      )
      .map(([s, c]) => [s, c.maxBatch]),
  );
  const rehosted = Object.fromEntries(
    Object.entries(best.config)
      .filter(([s, c]) => c.instanceType !== input.config[s]?.instanceType)
      .map(([s, c]) => [s, c.instanceType]),
  );
  return {
    config: best.config,
    headroom: best.headroom,
    costPerHour: costOf(best.config),
    totalCostPerHour: best.total,
    p99Ms: percentile(simulatePlanned(planner, best.config).latenciesMs, 99),
    lowered,
    rehosted,
  };
}

/**
 * How warm headroom H combines with the tuner's target T for a stage planned at P replicas.
 * - `absorb` (the product's rule): a scale-up above the plan is served by the warm replicas first, so the
 *   stage serves max(T, P + H) once T > P, and T + H below the plan (a scale-down keeps its headroom).
 *   The headroom is sized for a surge to a multiple of the sample's rate (withSurgeHeadroom), so the tuner
 *   buys instances only for a target past what the warm replicas already hold: a burst the headroom was
 *   sized for passes without launching capacity that would boot after it is over.
 * - `on-top`: always T + H, a margin above whatever the tuner wants. While the live rate is high that
 *   guards a surge beyond the one the headroom was sized for, at the price of an instance launch for
 *   every scale-up, even those the warm replicas cover.
 * With H = 0 both are T.
 */
export type HeadroomRule = 'absorb' | 'on-top';

export function servingCount(rule: HeadroomRule, target: number, planned: number, headroom: number): number {
  if (rule === 'on-top' || target <= planned) return target + headroom;
  return Math.max(target, planned + headroom);
}
