import { z } from 'zod';
import { type PipelineSpec, PipelineSpecSchema } from './pipeline.ts';

/**
 * What the control plane stores about a submitted pipeline, and what the router reads to serve it.
 *
 *   PROFILING -> PLANNING -> SERVING -> STOPPED
 *        \            \
 *         +-----------+--> REFUSED (unknown model, impossible SLO, profiling failed)
 *
 * PROFILING: profiling jobs run for every (model, allowed type) pair without a stored profile.
 * PLANNING: every profile is in; the scale handler runs the InferLine planner.
 * SERVING: `plan` holds the configuration and the tuner's basis; `targets` the replica count per stage
 * (the plan's, then the tuner's ReplicaRequests); replica and router jobs run.
 */

export const PIPELINE_STATUSES = ['PROFILING', 'PLANNING', 'SERVING', 'REFUSED', 'STOPPED'] as const;
export const PipelineStatusSchema = z.enum(PIPELINE_STATUSES);
export type PipelineStatus = z.infer<typeof PipelineStatusSchema>;

const positiveInt = z.number().int().min(1);

/** How one stage is served: the planner's choice. */
export const StagePlanSchema = z.object({
  instanceType: z.string().min(1),
  maxBatch: positiveInt.max(1024),
  replicas: positiveInt,
  maxQueueDelayMs: z.number().min(0),
});
export type StagePlan = z.infer<typeof StagePlanSchema>;

/** A traffic envelope as stored: window sizes and the largest rate seen in each. */
export const StoredEnvelopeSchema = z.object({
  windowsMs: z.array(z.number().positive()).min(1),
  counts: z.array(z.number().int().min(0)).min(1),
  ratesPerSecond: z.array(z.number().min(0)).min(1),
});

/** The tuner's basis (see lib/core/inference/tuner.ts), as stored with the plan. */
export const StoredTunerBasisSchema = z.object({
  sample: StoredEnvelopeSchema,
  planningRatePerSecond: z.number().min(0),
  stages: z.record(
    z.string(),
    z.object({
      visitFraction: z.number().min(0).max(1),
      replicaThroughputQps: z.number().positive(),
      plannedReplicas: positiveInt,
      rho: z.number().min(0),
      /** ρ against envelope rates (lib/core/inference/tuner.ts); absent in plans stored before it. */
      burstRho: z.number().min(0).optional(),
    }),
  ),
  rhoP: z.number().min(0),
  /** The plan's certified slack σ (lib/core/inference/tuner.ts); absent in plans stored before it: 1. */
  slack: z.number().min(1).max(100).optional(),
});
export type StoredTunerBasis = z.infer<typeof StoredTunerBasisSchema>;

export const ServingPlanSchema = z.object({
  config: z.record(z.string(), StagePlanSchema),
  costPerHour: z.number().min(0),
  /** The planner's estimated P99 on the sample trace. */
  p99Ms: z.number().min(0),
  visitFractions: z.record(z.string(), z.number().min(0).max(1)),
  /** Stages whose chosen profile was derived rather than measured. */
  derivedStages: z.array(z.string()),
  /**
   * Replicas per stage kept serving on top of the stage's target: what the estimator says a surge to
   * HEADROOM_SURGE_FACTOR x the sample's boot-window rate needs (withSurgeHeadroom). Absent on plans whose
   * surge no configuration within the planner's cap serves; those use the tuner's formula.
   */
  headroom: z.record(z.string(), z.number().int().min(0)).optional(),
  basis: StoredTunerBasisSchema,
  plannedAt: z.number().int().min(0),
});
export type ServingPlan = z.infer<typeof ServingPlanSchema>;

export const PipelineRecordSchema = z.object({
  pipelineId: z.string().min(1),
  spec: PipelineSpecSchema,
  status: PipelineStatusSchema,
  /** Why it was refused or stopped, or what it waits for. */
  reason: z.string().optional(),
  createdAt: z.number().int().min(0),
  updatedAt: z.number().int().min(0),
  /** Optimistic-concurrency counter: every write names the version it read. */
  version: z.number().int().min(0),
  plan: ServingPlanSchema.optional(),
  /** Replica count wanted per stage; starts at the plan's, then follows ReplicaRequests. */
  targets: z.record(z.string(), positiveInt).default({}),
  /** `at` of the ReplicaRequest (or plan) that set `targets`; older requests are ignored. */
  targetsAt: z.number().int().min(0).default(0),
  /** Client idempotency key of the submission, when one was given. */
  idempotencyKey: z.string().optional(),
});
export type PipelineRecord = z.output<typeof PipelineRecordSchema>;

/** The stage id a router's endpoint is stored under. */
export const ROUTER_STAGE = '_router';

/** A running serving task (a stage replica, or the router) and the URL it answers on. */
export const ServingEndpointSchema = z.object({
  pipelineId: z.string().min(1),
  /** The stage the replica serves, or ROUTER_STAGE. */
  stageId: z.string().min(1),
  jobId: z.string().min(1),
  taskIndex: z.number().int().min(0),
  attempt: z.number().int().min(0),
  instanceId: z.string().min(1),
  url: z.url(),
  /** When the task reported started, epoch ms. */
  since: z.number().int().min(0),
});
export type ServingEndpoint = z.infer<typeof ServingEndpointSchema>;

/** The router clients should use: the newest listed, so that clients follow a replaced router. */
export function newestRouter(endpoints: readonly ServingEndpoint[]): string | undefined {
  return [...endpoints].filter((e) => e.stageId === ROUTER_STAGE).sort((a, b) => b.since - a.since)[0]?.url;
}

/**
 * What a pipeline still lacks before a query through it is answered: its router, and a replica of every
 * stage, as listed in the serving directory (e.g. `["a replica of classify", "the router"]`). Empty once
 * all of them serve.
 */
export function unansweredBy(
  spec: Pick<PipelineSpec, 'stages'>,
  endpoints: readonly ServingEndpoint[],
): string[] {
  const listed = new Set(endpoints.map((e) => e.stageId));
  const missing = spec.stages.filter((s) => !listed.has(s.id)).map((s) => `a replica of ${s.id}`);
  if (!listed.has(ROUTER_STAGE)) missing.push('the router');
  return missing;
}

/** unansweredBy's list in words: "a replica of detect, a replica of classify and the router". */
export function inWords(missing: readonly string[]): string {
  return missing.length <= 1
    ? (missing[0] ?? '')
    : `${missing.slice(0, -1).join(', ')} and ${missing.at(-1)}`;
}

/** Everything a router needs to serve one pipeline: the record and the live endpoints. */
export interface PipelineServing {
  readonly record: PipelineRecord;
  readonly endpoints: readonly ServingEndpoint[];
}
