import type { HeadroomRule } from '../../lib/core/inference/headroom.ts';
import type { PlanResult } from '../../lib/core/inference/planner.ts';
import type { StageProfile } from '../../lib/core/inference/profiles.ts';
import type { BenchPipeline } from './pipelines.ts';
import type { BenchTrace } from './setup.ts';

export type PolicyName = 'inferline' | 'planner-only' | 'cg-peak' | 'target-tracking' | 'oracle';
export const POLICIES: readonly PolicyName[] = [
  'inferline',
  'planner-only',
  'cg-peak',
  'target-tracking',
  'oracle',
];

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
