import { z } from 'zod';
import { parseOrThrow } from '../model/validate.ts';
import {
  compareEnvelopes,
  computeEnvelope,
  type Envelope,
  envelopeWindows,
  maxBucketRate,
  recentArrivals,
} from './envelope.ts';
import { replicaThroughputQps, type StageProfile, serviceTimeMs } from './profiles.ts';
import type { PipelineConfig } from './simulator.ts';
import { meanRatePerSecond } from './traces.ts';

/**
 * The InferLine tuner's arithmetic: it changes replica counts only (batch size and hardware stay as
 * planned), scaling up as soon as live traffic leaves the planning trace's envelope and scaling down
 * after a quiet period.
 *
 * ρ_m, the max-provisioning ratio, is ambiguous in the paper; here ρ_m = s_m·λ / (k_m·μ_m), with λ the
 * planning trace's mean rate, s_m the stage's visit fraction, k_m its planned replicas and μ_m one
 * replica's throughput at the planned batch. It is the planned utilisation at the mean rate, so that
 * k = ⌈r·s_m / (μ_m·ρ_m)⌉ gives back exactly k_m when r = λ, and scales it linearly with the rate.
 *
 * - Scale up: if any live envelope rate exceeds the sample's, with r_max the largest exceeding live
 *   rate, the paper sets k_m = max(current, ⌈r_max·s_m / (μ_m·ρ_m)⌉); here k_m = max(current,
 *   burstNeed), never more than that (see burstNeed).
 * - Scale down: only after `stabilisationMs` (15 s: three 5 s replica activations) without a change;
 *   λ_new = highest rate over the last 30 s in 5 s buckets; the paper's k_m = max(1, ⌈λ_new·s_m /
 *   (μ_m·ρ)⌉), or fewer where the live envelope shows one replica's capacity bound suffices (see
 *   tune()); never raises a count, and never under what an exceeding rate needs.
 *
 * Differences from the paper, all defaults the product uses:
 * - Scale-down sizes each stage with its own ρ_m (`scaleDownRho: 'stage'`), where the paper uses the
 *   pipeline-wide ρ_p = min_m ρ_m. With whole replicas, a stage planned at one replica for a trickle has
 *   a tiny ρ_m, and ρ_p then holds every other stage at ρ_m/ρ_p times its planned count after the first
 *   scale-up, for as long as the pipeline runs; with its own ρ_m each stage returns to its plan once the
 *   rate is back at the planning rate. `scaleDownRho: 'pipeline'` gives the paper's rule.
 * - The envelope's smallest window can start at the SLO (`envelopeFloorMs` in tunerBasis) rather than at
 *   the shortest service time: the planner already checked, on the sample trace, that bursts shorter than
 *   the SLO queue within it, and over millisecond windows a live trace beats the sample's maximum by
 *   chance (a handful of queries landing together), which would drive scale-ups the load does not need.
 *
 * - Rates are compared with the sample's times the plan's certified slack σ (TunerBasis.slack, from
 *   planSlack in headroom.ts: the largest factor, up to PLAN_SLACK_MAX, at which the estimator shows the
 *   plan alone still meets the SLO on the sample compressed in time). Live traffic beats a sample's
 *   envelope at some window by chance about as often as not, and against the bare sample every such
 *   excess rounded a one-replica stage up to two (a whole GPU instance) for as long as the next chance
 *   excess kept it there. ρ becomes ρ·σ in both directions, so a stage returns to its plan once the
 *   recent rate is within what the plan holds.
 *
 * Two more, both comparing like with like. Scale-up scales the plan by the live over the sample envelope
 * rate window by window, rather than a short-window peak over the mean rate (see burstNeed). And for
 * stages that carry a small share of the load (the one-replica case): ρ_m is the planned
 * utilisation at the *mean* rate, while the exceeding rate r_max is a *peak* rate over windows of at least
 * W (the envelope's smallest window). Where the plan holds a stage at one replica because it cannot hold
 * fewer, ρ_m is an artefact of rounding (a trickle over a whole replica), and ⌈r_max·s/(μ·ρ_m)⌉ =
 * ⌈r_max/λ⌉ adds a replica to every such stage as soon as any window beats the sample, though one
 * replica is far from busy. So against envelope rates the tuner uses ρ_burst = max(ρ_m, ρ_safe), with
 * ρ_safe the utilisation at which one replica still meets its share of the SLO, by network calculus: if
 * the stage's arrivals over every window of at least W stay under ρ·μ per second, they fit the arrival
 * curve ρμ·max(t, W) (a burst of ρμW, then rate ρμ); a batching replica is at worst a rate-latency server
 * (rate μ, latency T(B): the batch in flight), so a query's delay at the stage is at most T(B) + ρ·W.
 * Keeping that within an equal share SLO/n of the SLO (n visited stages, at least the longest path) gives
 * ρ_safe = (SLO/n − T(B)) / W. A heavy stage (T(B) near SLO/n) gets no allowance and keeps the paper's
 * ρ_m; a light one keeps its single replica until its peak load needs a second. It is set only when the
 * envelope floor is given (the product passes the SLO), since it needs windows of a known length.
 */

export interface StageBasis {
  readonly visitFraction: number;
  /** μ_m: one replica's throughput at the planned hardware and batch. */
  readonly replicaThroughputQps: number;
  readonly plannedReplicas: number;
  /** ρ_m = s_m·λ / (k_m·μ_m). */
  readonly rho: number;
  /**
   * ρ used against envelope rates (scale-up, and the scale-down floor from the exceeding rate):
   * max(ρ_m, ρ_safe), see above. Absent in bases stored before it existed: ρ_m is used then.
   */
  readonly burstRho?: number;
}

export interface TunerBasis {
  readonly sample: Envelope;
  readonly planningRatePerSecond: number;
  readonly stages: Readonly<Record<string, StageBasis>>;
  /** ρ_p = min ρ_m over visited stages. */
  readonly rhoP: number;
  /**
   * The plan's certified slack σ ≥ 1: the estimator showed the plan still meets the SLO on the sample
   * compressed in time to σ times its rate (planSlack in headroom.ts). Rates are compared with the
   * sample's scaled by σ, so live traffic that beats the sample by chance, by less than the plan was
   * shown to absorb, buys nothing. Absent (bases stored before it): 1, the paper's comparison.
   */
  readonly slack?: number;
}

export interface BasisInput {
  readonly config: PipelineConfig;
  readonly profileOf: (stageId: string, instanceType: string) => StageProfile;
  readonly visitFractions: Readonly<Record<string, number>>;
  /** The planning (sample) trace. */
  readonly arrivalsMs: Float64Array;
  /**
   * The envelope's smallest window, when set: the product passes the pipeline's SLO. Unset, it is the
   * shortest planned batch service time (the paper's choice).
   */
  readonly envelopeFloorMs?: number;
  /**
   * The pipeline's P99 SLO, for ρ_safe. Defaults to envelopeFloorMs (the product passes the SLO there);
   * without either, burstRho is ρ_m (the paper's rule).
   */
  readonly sloMs?: number;
  /** The plan's certified slack (see TunerBasis.slack). @default 1 */
  readonly slack?: number;
}

/**
 * What the planner hands the tuner. The envelope's smallest window is `envelopeFloorMs` when given, else
 * the shortest planned batch service time of any stage (the finest timescale at which a stage can fall
 * behind); at least 1 ms either way.
 */
export function tunerBasis(input: BasisInput): TunerBasis {
  const lambda = meanRatePerSecond(input.arrivalsMs);
  const stages: Record<string, StageBasis> = {};
  let shortest = Number.POSITIVE_INFINITY;
  const visited = Object.keys(input.config).filter((id) => (input.visitFractions[id] ?? 0) > 0).length;
  const sloMs = input.sloMs ?? input.envelopeFloorMs;
  for (const [id, c] of Object.entries(input.config)) {
    const profile = input.profileOf(id, c.instanceType);
    const batchMs = serviceTimeMs(profile, c.maxBatch);
    shortest = Math.min(shortest, batchMs);
    const mu = replicaThroughputQps(profile, c.maxBatch);
    const s = input.visitFractions[id] ?? 0;
    const rho = (s * lambda) / (c.replicas * mu);
    const safe =
      input.envelopeFloorMs !== undefined && sloMs !== undefined && visited > 0
        ? safeUtilisation(sloMs / visited, batchMs, Math.max(1, input.envelopeFloorMs))
        : 0;
    stages[id] = {
      visitFraction: s,
      replicaThroughputQps: mu,
      plannedReplicas: c.replicas,
      rho,
      burstRho: Math.max(rho, safe),
    };
  }
  const rhos = Object.values(stages)
    .map((s) => s.rho)
    .filter((r) => r > 0);
  return {
    sample: computeEnvelope(
      input.arrivalsMs,
      envelopeWindows(Math.max(1, input.envelopeFloorMs ?? shortest)),
    ),
    planningRatePerSecond: lambda,
    stages,
    rhoP: rhos.length > 0 ? Math.min(...rhos) : 0,
    ...(input.slack !== undefined && input.slack > 1 ? { slack: input.slack } : {}),
  };
}

/** The sample envelope with every rate scaled by σ: what the plan was shown to absorb. */
export function certifiedEnvelope(basis: Pick<TunerBasis, 'sample' | 'slack'>): Envelope {
  const slack = slackOf(basis);
  if (slack === 1) return basis.sample;
  return { ...basis.sample, ratesPerSecond: basis.sample.ratesPerSecond.map((r) => r * slack) };
}

/** σ, at least 1. */
export function slackOf(basis: Pick<TunerBasis, 'slack'>): number {
  return Math.max(1, basis.slack ?? 1);
}

/**
 * ρ_safe = (budget − T(B)) / W: the utilisation, against rates over windows of at least W, at which one
 * batching replica's worst-case delay T(B) + ρ·W stays within its budget. Below 1 so that a replica is
 * never planned full, and 0 when the batch alone uses the budget.
 */
export function safeUtilisation(budgetMs: number, batchMs: number, windowMs: number): number {
  return Math.min(0.95, Math.max(0, (budgetMs - batchMs) / windowMs));
}

/** The ρ the tuner sizes a stage with against envelope rates. */
export function burstRhoOf(b: StageBasis, slack = 1): number {
  return Math.max(b.burstRho ?? b.rho, withSlack(b.rho, slack));
}

/** ρ·σ: the utilisation at the rate the plan was certified for, below 0.95 and never under ρ. */
export function withSlack(rho: number, slack: number): number {
  return Math.max(rho, Math.min(0.95, rho * slack));
}

/**
 * Replicas a stage needs for a live envelope that beats the sample's: the smaller of two counts, each
 * enough on its own.
 * - The plan scaled window by window: the planner showed k_m replicas meet the SLO on the sample, whose
 *   rate over window i is r̂_i, so k_m·r_i/r̂_i replicas keep every exceeding window i at the planned
 *   load. The paper's ⌈r_max·s_m/(μ_m·ρ_m)⌉ = ⌈k_m·r_max/λ⌉ compares a peak rate over a short window with
 *   the mean: the sample itself beats λ by 1.5-2x over SLO-long windows, so it buys that factor again on
 *   top of a plan already sized for it. Over 60 s windows r̂ ≈ λ and the two agree.
 * - ⌈r_max·s_m / (μ_m·ρ_burst)⌉, one replica's capacity bound (ρ_safe above), which keeps a lightly
 *   loaded one-replica stage at one replica (the scaled plan would round any excess up to two).
 * Never more than the paper's count, since r̂_i ≥ λ and ρ_burst ≥ ρ_m.
 */
export function burstNeed(
  basis: TunerBasis,
  live: Envelope,
  b: StageBasis,
  maxRatePerSecond: number,
): number {
  const slack = slackOf(basis);
  const capacity = replicasFor(
    maxRatePerSecond,
    b.visitFraction,
    b.replicaThroughputQps,
    burstRhoOf(b, slack),
  );
  if (b.visitFraction <= 0) return capacity;
  let scaled = 0;
  live.ratesPerSecond.forEach((r, i) => {
    const planned = (basis.sample.ratesPerSecond[i] ?? 0) * slack;
    if (planned > 0 && r > planned)
      scaled = Math.max(scaled, Math.ceil((b.plannedReplicas * r) / planned - 1e-9));
  });
  return scaled > 0 ? Math.min(scaled, capacity) : capacity;
}

/**
 * ⌈rate·s / (μ·ρ)⌉. The tiny allowance absorbs floating-point error, so that a rate equal to the planned
 * one gives back the planned count rather than one more.
 */
export function replicasFor(ratePerSecond: number, s: number, mu: number, rho: number): number {
  if (s <= 0 || rho <= 0) return 0;
  return Math.ceil((ratePerSecond * s) / (mu * rho) - 1e-9);
}

export const TunerOptionsSchema = z.object({
  /** @default 15000 */
  stabilisationMs: z.number().min(0, { error: 'stabilisationMs must be at least 0' }).default(15_000),
  /** @default 30000 */
  lookbackMs: z.number().positive({ error: 'lookbackMs must be greater than 0' }).default(30_000),
  /** @default 5000 */
  bucketMs: z.number().positive({ error: 'bucketMs must be greater than 0' }).default(5_000),
  /** Live history the envelope is computed over. @default 60000 */
  historyMs: z.number().positive({ error: 'historyMs must be greater than 0' }).default(60_000),
  /** Scale-down ratio: each stage's own ρ_m, or the paper's pipeline-wide ρ_p. @default 'stage' */
  scaleDownRho: z
    .enum(['stage', 'pipeline'], { error: "scaleDownRho must be 'stage' or 'pipeline'" })
    .default('stage'),
});
export type TunerOptions = z.input<typeof TunerOptionsSchema>;

export interface TunerState {
  readonly replicas: Readonly<Record<string, number>>;
  /** When replica counts last changed (or the plan was deployed). */
  readonly lastChangeMs: number;
}

export type TunerReason = 'scale-up' | 'scale-down' | 'steady' | 'stabilising';

export interface TunerDecision {
  readonly state: TunerState;
  readonly reason: TunerReason;
  /** The rate that sized the change: r_max on scale-up, λ_new on scale-down. */
  readonly ratePerSecond?: number;
}

/** One tuner tick: the live arrivals (sorted, ms, same clock as nowMs) in, new replica counts out. */
export function tune(
  basis: TunerBasis,
  state: TunerState,
  arrivalsMs: Float64Array,
  nowMs: number,
  options: TunerOptions = {},
): TunerDecision {
  const o = parseOrThrow(TunerOptionsSchema, options, 'tuner options');
  const live = computeEnvelope(recentArrivals(arrivalsMs, nowMs, o.historyMs), basis.sample.windowsMs);
  const over = compareEnvelopes(live, certifiedEnvelope(basis));
  if (over.exceeded) {
    const replicas = mapStages(basis, state, (b, current) =>
      Math.max(current, burstNeed(basis, live, b, over.maxRatePerSecond)),
    );
    if (changed(state.replicas, replicas))
      return {
        state: { replicas, lastChangeMs: nowMs },
        reason: 'scale-up',
        ratePerSecond: over.maxRatePerSecond,
      };
    // A burst the current counts already cover changes nothing by itself. It must not block scaling
    // down either: live traffic beats a sample's envelope at some window by chance about as often as
    // not, so a scale-down below goes on, but never under what the exceeding rate needs.
  }
  if (nowMs - state.lastChangeMs < o.stabilisationMs) return { state, reason: 'stabilising' };
  const floor = (b: StageBasis) => (over.exceeded ? burstNeed(basis, live, b, over.maxRatePerSecond) : 1);
  const rate = maxBucketRate(arrivalsMs, nowMs, o.lookbackMs, o.bucketMs);
  // ρ_safe's bound also shows one replica's sufficiency from the live envelope itself (its rates are over
  // windows of at least W): a stage returns to one replica once its peak load no longer needs a second,
  // even while a 5 s bucket rate above the planning mean keeps ⌈λ_new/λ⌉ at two. Without ρ_safe this
  // count is never the smaller one, and the rule is the paper's.
  const envelopeRate = Math.max(0, ...live.ratesPerSecond);
  const slack = slackOf(basis);
  const replicas = mapStages(basis, state, (b, current) => {
    if (b.visitFraction <= 0) return current;
    const byRate = replicasFor(
      rate,
      b.visitFraction,
      b.replicaThroughputQps,
      withSlack(o.scaleDownRho === 'stage' ? b.rho : basis.rhoP, slack),
    );
    const byEnvelope = replicasFor(
      envelopeRate,
      b.visitFraction,
      b.replicaThroughputQps,
      burstRhoOf(b, slack),
    );
    return Math.min(current, Math.max(floor(b), 1, Math.min(byRate, byEnvelope)));
  });
  if (!changed(state.replicas, replicas)) return { state, reason: 'steady' };
  return { state: { replicas, lastChangeMs: nowMs }, reason: 'scale-down', ratePerSecond: rate };
}

function mapStages(
  basis: TunerBasis,
  state: TunerState,
  f: (b: StageBasis, current: number) => number,
): Record<string, number> {
  const out: Record<string, number> = { ...state.replicas };
  for (const [id, b] of Object.entries(basis.stages)) {
    out[id] = f(b, state.replicas[id] ?? b.plannedReplicas);
  }
  return out;
}

function changed(before: Readonly<Record<string, number>>, after: Readonly<Record<string, number>>): boolean {
  return Object.entries(after).some(([id, k]) => before[id] !== k);
}
