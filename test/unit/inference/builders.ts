import type { PlannerInput, PlanResult } from '../../../lib/core/inference/planner.ts';
import type { StageProfile } from '../../../lib/core/inference/profiles.ts';
import type { StageConfig } from '../../../lib/core/inference/simulator.ts';
import { gammaTrace } from '../../../lib/core/inference/traces.ts';

/** A measured profile whose batch of b takes latency(b) ms; throughput follows from back-to-back batches. */
export function profile(
  instanceType: string,
  latency: (batch: number) => number,
  batches: readonly number[] = [1, 2, 4, 8, 16, 32],
  modelId = 'm',
): StageProfile {
  return {
    modelId,
    instanceType,
    source: { kind: 'measured' },
    points: batches.map((b) => ({
      batchSize: b,
      latencyMs: latency(b),
      throughputQps: (b * 1000) / latency(b),
    })),
  };
}

export function stage(overrides: Partial<StageConfig> = {}): StageConfig {
  return { instanceType: 'c7i.large', maxBatch: 1, replicas: 1, maxQueueDelayMs: 0, ...overrides };
}

/** Arrival times from a list (ms). */
export function at(...times: number[]): Float64Array {
  return Float64Array.from(times);
}

/** Evenly spaced arrivals: n queries, one every gapMs from 0. */
export function evenly(n: number, gapMs: number): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => i * gapMs);
}

/** A one-stage pipeline (stage `a`) under a P99 SLO of `slo` ms. */
export const singleStage = (slo: number) => ({ sloP99Ms: slo, stages: [{ id: 'a' }], edges: [] });

/** Poisson arrivals (Gamma, CV 1) at `rate` per second for `seconds`. */
export function gammaArrivals(rate: number, seconds = 30, seed = 1): Float64Array {
  return gammaTrace({ ratePerSecond: rate, cv: 1, durationSeconds: seconds }, seed);
}

/** A planner input on 100 qps of Poisson arrivals unless told otherwise. */
export function plannerInput(
  overrides: Partial<PlannerInput> & Pick<PlannerInput, 'pipeline' | 'profiles'>,
): PlannerInput {
  return { arrivalsMs: gammaArrivals(100), seed: 1, ...overrides };
}

/** The plan of a result that must be feasible; throws with the planner's reason otherwise. */
export function feasible(result: PlanResult) {
  if (!result.feasible) throw new Error(`expected a plan, got: ${result.reason}`);
  return result;
}
