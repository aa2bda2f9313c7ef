import { z } from 'zod';
import type { StageProfile } from './profiles.ts';
import type { PipelineShape } from './topology.ts';

/** Configuration, input and result types of the estimator (simulate() in simulator.ts). */

export const StageConfigSchema = z.object({
  instanceType: z.string().min(1, { error: 'instanceType must not be empty' }),
  maxBatch: z
    .number()
    .int({ error: 'maxBatch must be an integer' })
    .min(1, { error: 'maxBatch must be at least 1' })
    .max(1024, { error: 'maxBatch must be at most 1,024' }),
  replicas: z
    .number()
    .int({ error: 'replicas must be an integer' })
    .min(1, { error: 'replicas must be at least 1' })
    .max(10_000, { error: 'replicas must be at most 10,000' }),
  maxQueueDelayMs: z
    .number()
    .min(0, { error: 'maxQueueDelayMs must be at least 0' })
    .max(10_000, { error: 'maxQueueDelayMs must be at most 10,000' }),
});
export type StageConfig = z.infer<typeof StageConfigSchema>;

/** Stage id -> how that stage is served. */
export type PipelineConfig = Readonly<Record<string, StageConfig>>;

/** Finds the profile of a stage on an instance type. */
export type ProfileLookup = (stageId: string, instanceType: string) => StageProfile;

export interface SimulationInput {
  readonly pipeline: PipelineShape;
  readonly config: PipelineConfig;
  readonly profileOf: ProfileLookup;
  /** Sorted arrival times in ms. */
  readonly arrivalsMs: Float64Array;
  /** End-to-end SLO: queries slower than this are late. */
  readonly sloMs: number;
  /** Seed of the per-edge routing draws (ignored with `paths`). */
  readonly seed?: number;
  /** Recorded stage sets, one per query (repeated when the trace is longer). */
  readonly paths?: readonly (readonly string[])[];
  /**
   * Stop once more than this many queries are late: the caller only needs to know the P99 is missed.
   * Unset runs the whole trace.
   */
  readonly lateLimit?: number;
  /**
   * Closed-loop control: replica counts that change while the trace plays (see ReplicaControl). Unset,
   * every stage keeps its configured replicas throughout.
   */
  readonly control?: ReplicaControl;
  /**
   * Batch times to use instead of the profiles': the time of a batch of `size` at `stage` starting at
   * `atMs`, or undefined for the profile's. For checking the serving model alone against a live system, with
   * the batch times that system's machine produced when it produced them.
   */
  readonly batchTimeMs?: (stage: string, size: number, atMs: number) => number | undefined;
}

/** A change to one stage's replica count, asked for by a controller. */
export interface ReplicaChange {
  readonly stage: string;
  /** Replicas to add (> 0) or remove (< 0). */
  readonly delta: number;
  /** Added replicas start serving this long after the request. @default 0 */
  readonly activationDelayMs?: number;
  /**
   * With delta < 0: the replicas are lost with their instance (a spot interruption), so serving ones go
   * (idle first, then busy ones after their batch) and replicas still activating stay. Without it a removal
   * cancels activating replicas first, as a controller scaling down does.
   */
  readonly lose?: boolean;
}

/** What a controller sees of each stage at a tick. */
export interface ControlView {
  /** Serving replicas (idle or busy), not counting those leaving after their batch. */
  readonly active: Readonly<Record<string, number>>;
  /** Replicas asked for and not yet serving. */
  readonly activating: Readonly<Record<string, number>>;
  /** Queries that have entered each stage's queue so far (invocations). */
  readonly entered: Readonly<Record<string, number>>;
  /** Queries waiting in each stage's queue now. */
  readonly queued: Readonly<Record<string, number>>;
}

/**
 * A controller called every `tickMs` (at tickMs, 2·tickMs, ... while arrivals remain) with the arrivals
 * up to now. Added replicas serve after their activation delay; removed replicas are taken first from
 * those still activating, then from idle ones, and a busy one leaves when its batch is done. A stage
 * never drops below one replica (serving or activating), so its queue always drains.
 */
export interface ReplicaControl {
  readonly tickMs: number;
  tick(nowMs: number, arrivalsSoFar: Float64Array, view: ControlView): readonly ReplicaChange[];
}

/** Replica counts from `atMs` until the next point. */
export interface ReplicaPoint {
  readonly atMs: number;
  /** Paid-for replicas: serving, busy finishing a batch before leaving, or activating. */
  readonly provisioned: Readonly<Record<string, number>>;
  /** Serving replicas. */
  readonly active: Readonly<Record<string, number>>;
}

export interface StageStats {
  /** Queries that visited the stage. */
  readonly visits: number;
  readonly batches: number;
  readonly meanBatch: number;
}

export interface SimulationResult {
  /** End-to-end latency of each query in trace order; NaN for queries unfinished when it stopped early. */
  readonly latenciesMs: Float64Array;
  /** Queries over the SLO (counted as they finish). */
  readonly late: number;
  /** False when the run stopped at `lateLimit`. */
  readonly complete: boolean;
  readonly stages: Readonly<Record<string, StageStats>>;
  /** With `control`: the replica counts over time, a point at 0 and one after every change. */
  readonly timeline?: readonly ReplicaPoint[];
}
