import { z } from 'zod';
import { MarketSchema } from './instance-type.ts';
import { JOB_STATES } from './job-state.ts';
import { hardDeadlineSeconds, UtilitySchema } from './utility.ts';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/*
 * Bounds of a job spec's numbers (README, "Job spec reference"). Beyond them a value cannot be stored
 * (the DynamoDB marshaller refuses numbers past 2^53, DynamoDB magnitudes below 1e-130) or used (a Node
 * timer holds at most 2^31-1 ms), and a spec that validates must not fail later for a number.
 */

/** A hundredth of a vCPU: finer shares mean nothing to the scheduler's packing. */
export const MIN_VCPU = 0.01;
/** The largest EC2 types (u-* high memory) have 448 vCPUs; the catalog's largest has 192. */
export const MAX_VCPU = 448;
/** 2 TiB; the catalog's largest type has exactly this. */
export const MAX_MEMORY_MIB = 2_097_152;
/** No EC2 type has more than 8 NVIDIA GPUs. */
export const MAX_GPUS = 8;
/** The scheduler plans in whole seconds at the finest. */
export const MIN_DURATION_SECONDS = 1;
export const MAX_DURATION_SECONDS = 7 * 24 * 3600;
/**
 * 21 days: three times the longest duration, which is the default timeout (lib/core/control/run-task.ts),
 * and under the 2,147,483 s a Node timer can hold (a longer one fires at once and kills the task).
 */
export const MAX_TIMEOUT_SECONDS = 3 * MAX_DURATION_SECONDS;
export const MIN_PRIORITY = 0.001;
export const MAX_PRIORITY = 1000;
export const MAX_GANG = 64;
export const MAX_ATTEMPTS = 10;

/**
 * The error of a lower bound above 0: a value of 0 or less is told it must be greater than 0, a small
 * positive one the bound. One check rather than two, so that a bad number does not hide the spec's other
 * issues (an aborting check would stop the refinements that follow).
 */
export function atLeast(name: string, min: number, detail = '') {
  return {
    error: (issue: { readonly input?: unknown }) =>
      typeof issue.input === 'number' && issue.input <= 0
        ? `${name} must be greater than 0`
        : `${name} must be at least ${min}${detail}`,
  };
}

/**
 * What one task of the job (one gang member) needs from an instance. An instance type qualifies when it
 * has the resources, the GPU model or family asked for, and is in `instanceTypes` when that is given.
 */
export const RequirementSchema = z.object({
  vcpu: z
    .number()
    .min(MIN_VCPU, atLeast('vcpu', MIN_VCPU, ' (a hundredth of a vCPU)'))
    .max(MAX_VCPU, { error: `vcpu must be at most ${MAX_VCPU}` }),
  memoryMiB: z
    .number()
    .int({ error: 'memoryMiB must be a whole number of MiB' })
    .positive({ error: 'memoryMiB must be greater than 0' })
    .max(MAX_MEMORY_MIB, { error: 'memoryMiB must be at most 2,097,152 (2 TiB)' }),
  gpus: z
    .number()
    .int({ error: 'gpus must be a whole number' })
    .min(0)
    .max(MAX_GPUS, { error: `gpus must be at most ${MAX_GPUS}` })
    .default(0),
  /** e.g. `A10G`, `L4`, `H100`. */
  gpuModel: z.string().min(1).optional(),
  /** Instance families allowed, e.g. `["g5", "g6"]`. */
  families: z.array(z.string().min(1)).min(1).optional(),
  /** Exact instance types allowed. */
  instanceTypes: z.array(z.string().min(1)).min(1).optional(),
  /** May this alternative run on spot capacity? */
  spot: z.boolean().default(false),
});
export type Requirement = z.infer<typeof RequirementSchema>;

/** One way to run the job: a requirement per task and how long a task takes on it. */
export const AlternativeSchema = z.object({
  name: z.string().min(1).max(64).optional(),
  requirement: RequirementSchema,
  durationSeconds: z
    .number()
    .min(MIN_DURATION_SECONDS, atLeast('durationSeconds', MIN_DURATION_SECONDS))
    .max(MAX_DURATION_SECONDS, { error: 'durationSeconds must be at most 604,800 (7 days)' }),
});
export type Alternative = z.infer<typeof AlternativeSchema>;

export const CommandTaskSchema = z.object({
  kind: z.literal('command'),
  command: z.string().min(1, { error: 'command must not be empty' }),
  args: z.array(z.string()).max(256).default([]),
  env: z
    .record(z.string().regex(ENV_NAME, { error: 'env names must match [A-Za-z_][A-Za-z0-9_]*' }), z.string())
    .default({}),
  /** Kill the task after this long; defaults to 3x the longest alternative's duration. */
  timeoutSeconds: z
    .number()
    .min(1, atLeast('timeoutSeconds', 1))
    .max(MAX_TIMEOUT_SECONDS, { error: 'timeoutSeconds must be at most 1,814,400 (21 days)' })
    .optional(),
});

export const ModelRefSchema = z.object({
  /** `s3://bucket/key.onnx` or an absolute local path. */
  uri: z
    .string()
    .regex(/^(s3:\/\/[^/]+\/.+|\/.+)$/, { error: 'uri must be s3://bucket/key or an absolute path' }),
  inputName: z.string().min(1).optional(),
  outputName: z.string().min(1).optional(),
});
export type ModelRef = z.infer<typeof ModelRefSchema>;

const SERVING_ID = /^[a-z][a-z0-9-]{0,62}$/;
const ServingIdSchema = z
  .string()
  .regex(SERVING_ID, { error: 'must be lowercase letters, digits and "-", starting with a letter' });

/**
 * Serve an ONNX model until cancelled (an inference replica). The agent starts a model server, reports
 * the task `started` with the server's URL as `endpoint`, and stops it on CancelTask or drain. A replica
 * of a pipeline stage names its pipeline and stage, so its endpoint joins that stage's replica set.
 */
export const ModelTaskSchema = z.object({
  kind: z.literal('model'),
  /** Id the server answers to (`/v1/models/{modelId}/infer`). */
  modelId: ServingIdSchema,
  model: ModelRefSchema,
  maxBatch: z.number().int().positive().max(1024).default(8),
  /** 0: a free server takes whatever is queued (the router already batches). */
  maxQueueDelayMs: z.number().min(0).max(10_000).default(2),
  /** onnxruntime intra-op threads; 0 lets it choose. */
  intraOpThreads: z.number().int().min(0).max(256).default(0),
  pipelineId: ServingIdSchema.optional(),
  stageId: ServingIdSchema.optional(),
});
export type ModelTask = z.infer<typeof ModelTaskSchema>;

/**
 * Run a pipeline's router (the agent's frontend role) until cancelled: `POST /v1/pipelines/{id}/infer`,
 * one EDF queue per stage, the tuner beside it. Reported `started` with the router's URL as `endpoint`.
 */
export const RouterTaskSchema = z.object({
  kind: z.literal('router'),
  pipelineId: ServingIdSchema,
});
export type RouterTask = z.infer<typeof RouterTaskSchema>;

export const TaskSpecSchema = z.discriminatedUnion(
  'kind',
  [CommandTaskSchema, ModelTaskSchema, RouterTaskSchema],
  { error: 'task.kind must be "command", "model" or "router"' },
);
export type TaskSpec = z.infer<typeof TaskSpecSchema>;

export const PolicyNameSchema = z.enum(['deadline', 'fifo', 'slo-service'], {
  error: 'policy must be one of deadline, fifo, slo-service',
});
export type PolicyName = z.infer<typeof PolicyNameSchema>;

/** What a user submits. */
export const JobSpecSchema = z
  .object({
    name: z
      .string()
      .regex(NAME, { error: 'name must be 1-128 characters of letters, digits, ".", "_" or "-"' }),
    owner: z.string().min(1, { error: 'owner must not be empty' }).max(128).default('default'),
    policy: PolicyNameSchema.default('deadline'),
    /** Weight of this job's utility against others'. */
    priority: z
      .number()
      .min(MIN_PRIORITY, atLeast('priority', MIN_PRIORITY))
      .max(MAX_PRIORITY, { error: `priority must be at most ${MAX_PRIORITY}` })
      .default(1),
    task: TaskSpecSchema,
    /** Number of tasks that must start together (all or nothing). */
    gang: z
      .number()
      .int({ error: 'gang must be a whole number' })
      .min(1)
      .max(MAX_GANG, { error: `gang must be at most ${MAX_GANG}` })
      .default(1),
    alternatives: z
      .array(AlternativeSchema)
      .min(1, { error: 'alternatives must list at least one way to run the job' })
      .max(8, { error: 'alternatives must list at most 8 ways to run the job' }),
    utility: UtilitySchema.optional(),
    maxAttempts: z.number().int().min(1).max(MAX_ATTEMPTS).default(3),
    labels: z.record(z.string(), z.string()).default({}),
  })
  .superRefine((spec, ctx) => {
    if (spec.policy === 'deadline' && !spec.utility) {
      ctx.addIssue({
        code: 'custom',
        path: ['utility'],
        message: 'utility is required for the deadline policy',
      });
    }
    const shortest = Math.min(...spec.alternatives.map((a) => a.durationSeconds));
    const hard = spec.utility ? hardDeadlineSeconds(spec.utility) : Number.POSITIVE_INFINITY;
    if (shortest > hard) {
      ctx.addIssue({
        code: 'custom',
        path: [
          'utility',
          spec.utility?.hardDeadlineSeconds !== undefined ? 'hardDeadlineSeconds' : 'deadlineSeconds',
        ],
        message: `no alternative can finish by the hard deadline (${hard}s); shortest takes ${shortest}s`,
      });
    }
  });
export type JobSpec = z.infer<typeof JobSpecSchema>;
export type JobSpecInput = z.input<typeof JobSpecSchema>;

export const JobStatusSchema = z.enum(JOB_STATES);

/** Why a job failed or was refused: a code plus, for validation, the field issues. */
export const JobErrorSchema = z.object({
  code: z.string().min(1),
  message: z.string(),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  exitCode: z.number().int().optional(),
  outputTail: z.string().optional(),
});
export type JobError = z.infer<typeof JobErrorSchema>;

/** A job as stored: the spec plus its lifecycle. Times are epoch milliseconds. */
export const JobSchema = z.object({
  id: z.string().min(1),
  spec: JobSpecSchema,
  status: JobStatusSchema,
  version: z.number().int().min(0),
  submittedAt: z.number().int(),
  updatedAt: z.number().int(),
  attempts: z.number().int().min(0).default(0),
  /** The market of its latest placement: spot when any of its tasks landed on spot. */
  market: MarketSchema.optional(),
  startedAt: z.number().int().optional(),
  finishedAt: z.number().int().optional(),
  /** Set when a user asked to cancel a job that is already placed; the scheduler stops its tasks. */
  cancelRequestedAt: z.number().int().optional(),
  error: JobErrorSchema.optional(),
});
export type Job = z.infer<typeof JobSchema>;
