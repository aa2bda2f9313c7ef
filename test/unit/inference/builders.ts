import type { StageProfile } from '../../../lib/core/inference/profiles.ts';
import type { StageConfig } from '../../../lib/core/inference/simulator.ts';

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
