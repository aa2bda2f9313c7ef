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
 *   rate, set k_m = max(current, ⌈r_max·s_m / (μ_m·ρ_m)⌉).
 * - Scale down: only after `stabilisationMs` (15 s: three 5 s replica activations) without a change;
 *   λ_new = highest rate over the last 30 s in 5 s buckets; k_m = max(1, ⌈λ_new·s_m / (μ_m·ρ)⌉); never
 *   raises a count.
 *
 * Two differences from the paper, both defaults the product uses:
 * - Scale-down sizes each stage with its own ρ_m (`scaleDownRho: 'stage'`), where the paper uses the
 *   pipeline-wide ρ_p = min_m ρ_m. With whole replicas, a stage planned at one replica for a trickle has
 *   a tiny ρ_m, and ρ_p then holds every other stage at ρ_m/ρ_p times its planned count after the first
 *   scale-up, for as long as the pipeline runs; with its own ρ_m each stage returns to its plan once the
 *   rate is back at the planning rate. `scaleDownRho: 'pipeline'` gives the paper's rule.
 * - The envelope's smallest window can start at the SLO (`envelopeFloorMs` in tunerBasis) rather than at
 *   the shortest service time: the planner already checked, on the sample trace, that bursts shorter than
 *   the SLO queue within it, and over millisecond windows a live trace beats the sample's maximum by
 *   chance (a handful of queries landing together), which would drive scale-ups the load does not need.
 */

export interface StageBasis {
  readonly visitFraction: number;
  /** μ_m: one replica's throughput at the planned hardware and batch. */
  readonly replicaThroughputQps: number;
  readonly plannedReplicas: number;
  /** ρ_m = s_m·λ / (k_m·μ_m). */
  readonly rho: number;
}

export interface TunerBasis {
  readonly sample: Envelope;
  readonly planningRatePerSecond: number;
  readonly stages: Readonly<Record<string, StageBasis>>;
  /** ρ_p = min ρ_m over visited stages. */
  readonly rhoP: number;
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
  for (const [id, c] of Object.entries(input.config)) {
    const profile = input.profileOf(id, c.instanceType);
    shortest = Math.min(shortest, serviceTimeMs(profile, c.maxBatch));
    const mu = replicaThroughputQps(profile, c.maxBatch);
    const s = input.visitFractions[id] ?? 0;
    stages[id] = {
      visitFraction: s,
      replicaThroughputQps: mu,
      plannedReplicas: c.replicas,
      rho: (s * lambda) / (c.replicas * mu),
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
  };
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
  const over = compareEnvelopes(live, basis.sample);
  if (over.exceeded) {
    const replicas = mapStages(basis, state, (b, current) =>
      Math.max(current, replicasFor(over.maxRatePerSecond, b.visitFraction, b.replicaThroughputQps, b.rho)),
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
  const floor = (b: StageBasis) =>
    over.exceeded ? replicasFor(over.maxRatePerSecond, b.visitFraction, b.replicaThroughputQps, b.rho) : 1;
  const rate = maxBucketRate(arrivalsMs, nowMs, o.lookbackMs, o.bucketMs);
  const replicas = mapStages(basis, state, (b, current) =>
    b.visitFraction > 0
      ? Math.min(
          current,
          Math.max(
            floor(b),
            1,
            replicasFor(
              rate,
              b.visitFraction,
              b.replicaThroughputQps,
              o.scaleDownRho === 'stage' ? b.rho : basis.rhoP,
            ),
          ),
        )
      : current,
  );
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
