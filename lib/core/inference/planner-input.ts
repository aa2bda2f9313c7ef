import { z } from 'zod';
import { ValidationError } from '../errors.ts';
import { parseOrThrow } from '../model/validate.ts';
import type { CostOf } from './cost.ts';
import { parseProfile, type StageProfile } from './profiles.ts';
import { allowedLate, checkTrace } from './simulator.ts';
import type { PipelineShape } from './topology.ts';

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
  /**
   * Which cheaper hardware DowngradeHW tries: `any` (every cheaper type the stage may use, keeping the
   * cheapest feasible result) or `next` (only the next-cheaper type, the paper's rule, which stops at a
   * type that cannot serve the stage cheaply even when a cheaper one could).
   * @default 'any'
   */
  readonly downgrade?: 'any' | 'next';
}

/**
 * The late fraction the product plans with: at most 0.25% of the sample's queries over the SLO, a
 * quarter of what P99 allows. A plan that just meets P99 on its sample misses it on about half of the
 * other draws of the same process; the margin covers that sampling variation.
 */
export const PLANNING_LATE_FRACTION = 0.0025;

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
  downgrade: z.enum(['any', 'next'], { error: 'downgrade must be any or next' }).optional(),
});

/** Check the options and the trace, and parse every profile (which also sorts its points). */
export function validated(input: PlannerInput): PlannerInput {
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
