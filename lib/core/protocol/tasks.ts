import { z } from 'zod';
import {
  atLeast,
  MAX_ATTEMPTS,
  MAX_GANG,
  MAX_GPUS,
  MAX_MEMORY_MIB,
  MAX_TIMEOUT_SECONDS,
  MAX_VCPU,
  TaskSpecSchema,
} from '../model/job.ts';
import { type Decoded, decodeMessage, envelope } from './envelope.ts';

/**
 * Messages between the scheduler and an agent about command tasks. The scheduler sends RunTask,
 * CancelTask and Drain to the instance's own queue; the agent answers with TaskEvent on the reports
 * queue. Delivery is at least once, so every message names the task by job id, task index and attempt,
 * and the agent dedupes on that triple.
 */

const JobIdSchema = z
  .string({ error: 'jobId must be a string' })
  .min(1, { error: 'jobId must not be empty' })
  .max(128, { error: 'jobId must be at most 128 characters' });

/** A job runs at most MAX_ATTEMPTS times, numbered from 0. */
const AttemptSchema = z
  .number({ error: 'attempt must be a number' })
  .int({ error: 'attempt must be a whole number' })
  .min(0, { error: 'attempt must be at least 0' })
  .max(MAX_ATTEMPTS - 1, { error: `attempt must be at most ${MAX_ATTEMPTS - 1}` });

/** One per gang member, numbered from 0. */
const TaskIndexSchema = z
  .number({ error: 'taskIndex must be a number' })
  .int({ error: 'taskIndex must be a whole number' })
  .min(0, { error: 'taskIndex must be at least 0' })
  .max(MAX_GANG - 1, { error: `taskIndex must be at most ${MAX_GANG - 1}` });

/** What a placement reserves for one task: at most what a job spec's requirement may ask. */
const TaskResourcesSchema = z.object({
  vcpu: z
    .number({ error: 'vcpu must be a number' })
    .min(0, { error: 'vcpu must be at least 0' })
    .max(MAX_VCPU, { error: `vcpu must be at most ${MAX_VCPU}` }),
  memoryMiB: z
    .number({ error: 'memoryMiB must be a number' })
    .min(0, { error: 'memoryMiB must be at least 0' })
    .max(MAX_MEMORY_MIB, { error: `memoryMiB must be at most ${MAX_MEMORY_MIB}` }),
  gpus: z
    .number({ error: 'gpus must be a number' })
    .int({ error: 'gpus must be a whole number' })
    .min(0, { error: 'gpus must be at least 0' })
    .max(MAX_GPUS, { error: `gpus must be at most ${MAX_GPUS}` }),
});

/** GPU indices of one instance; no EC2 type has more than 8 GPUs, 16 leaves room. */
const MAX_GPU_INDEX = 15;

/** Ask an agent to run one task of a job (one gang member) as a child process. */
export const RunTaskSchema = envelope('RunTask', {
  /** The job this task belongs to. */
  jobId: JobIdSchema,
  /** Which gang member this is; 0 for single-task jobs. */
  taskIndex: TaskIndexSchema.default(0),
  /** Placement attempt; a retry after a lost instance gets a higher one and is a different run. */
  attempt: AttemptSchema,
  /**
   * What to run: a command (child process until it exits), a model (a model server until cancelled) or
   * a router (a pipeline's front door until cancelled).
   */
  task: TaskSpecSchema,
  /** What the placement reserved on this instance; the agent admits the task only when it fits. */
  resources: TaskResourcesSchema,
  /** GPUs of this instance given to the task; exported as CUDA_VISIBLE_DEVICES (empty when none). */
  gpuIndices: z
    .array(
      z
        .number()
        .int({ error: 'gpuIndices must be whole numbers' })
        .min(0)
        .max(MAX_GPU_INDEX, { error: `gpuIndices must be at most ${MAX_GPU_INDEX}` }),
      { error: 'gpuIndices must be an array of GPU indices' },
    )
    .default([]),
  /**
   * Kill the task after this long; overrides `task.timeoutSeconds`. No limit when both are absent. At most
   * 21 days, as in a job spec: the agent's timer could not hold much more (2^31-1 ms).
   */
  timeoutSeconds: z
    .number()
    .min(1, atLeast('timeoutSeconds', 1))
    .max(MAX_TIMEOUT_SECONDS, { error: 'timeoutSeconds must be at most 1,814,400 (21 days)' })
    .optional(),
}).superRefine((m, ctx) => {
  if (new Set(m.gpuIndices).size !== m.gpuIndices.length)
    ctx.addIssue({
      code: 'custom',
      path: ['gpuIndices'],
      message: `gpuIndices must not repeat an index, got [${m.gpuIndices.join(', ')}]`,
    });
  if (m.gpuIndices.length !== m.resources.gpus)
    ctx.addIssue({
      code: 'custom',
      path: ['gpuIndices'],
      message: `gpuIndices must list exactly resources.gpus (${m.resources.gpus}) indices, got ${m.gpuIndices.length}`,
    });
});
export type RunTask = z.output<typeof RunTaskSchema>;
export type RunTaskInput = z.input<typeof RunTaskSchema>;

/** Stop a running (or not yet started) task; the agent reports it as cancelled. */
export const CancelTaskSchema = envelope('CancelTask', {
  jobId: JobIdSchema,
  /** Only this gang member; every task of the job on this instance when absent. */
  taskIndex: TaskIndexSchema.optional(),
  /** Only this attempt; every attempt when absent. */
  attempt: AttemptSchema.optional(),
  /** Why, for the report and logs (e.g. `user`, `expired`). */
  reason: z.string().max(256).optional(),
  /**
   * Stop the task this long after the message arrives rather than at once. The control plane sets it on a
   * serving task it has requeued from an instance EC2 recommends rebalancing: the task serves on while its
   * replacement starts elsewhere (make before break).
   */
  afterSeconds: z
    .number({ error: 'afterSeconds must be a number' })
    .min(0, { error: 'afterSeconds must be at least 0' })
    .max(3600, { error: 'afterSeconds must be at most 3,600' })
    .optional(),
});
export type CancelTask = z.output<typeof CancelTaskSchema>;
export type CancelTaskInput = z.input<typeof CancelTaskSchema>;

/** Stop taking work, finish or hand back what runs, report DRAINED and exit. */
export const DrainSchema = envelope('Drain', {
  /** Why, for logs (e.g. `scale-in`, `consolidation`). */
  reason: z.string().max(256).optional(),
  /** How long running tasks may take to finish before they are handed back; the agent's default when absent. */
  graceSeconds: z
    .number()
    .min(0, { error: 'graceSeconds must be at least 0' })
    .max(3600, { error: 'graceSeconds must be at most 3,600' })
    .optional(),
  /**
   * Serving tasks (model servers, routers) keep serving until the grace ends instead of being handed back
   * at once. The control plane sets it on a spot interruption, having already requeued them: their
   * replacements boot elsewhere while these still serve.
   */
  serveThroughGrace: z.boolean({ error: 'serveThroughGrace must be true or false' }).optional(),
});
export type Drain = z.output<typeof DrainSchema>;
export type DrainInput = z.input<typeof DrainSchema>;

export const TASK_EVENT_TYPES = ['started', 'succeeded', 'failed', 'cancelled', 'handed-back'] as const;
export const TaskEventTypeSchema = z.enum(TASK_EVENT_TYPES, {
  error: `event must be one of ${TASK_EVENT_TYPES.join(', ')}`,
});
export type TaskEventType = z.infer<typeof TaskEventTypeSchema>;

/**
 * Why a task ended the way it did. `exit`: it exited on its own; `signal`: something outside the agent
 * killed it; `timeout`: it ran past its limit; `spawn-error`: the command could not start;
 * `does-not-fit`: its resources or GPU indices exceed this instance; `cancel` and `drain`: the agent
 * stopped it on request.
 */
export const TaskEndReasonSchema = z.enum([
  'exit',
  'signal',
  'timeout',
  'spawn-error',
  'does-not-fit',
  'cancel',
  'drain',
]);
export type TaskEndReason = z.infer<typeof TaskEndReasonSchema>;

/** Longest `message` a TaskEvent carries. */
export const MAX_EVENT_MESSAGE_CHARS = 2048;

/** Largest output tail a TaskEvent carries per stream, in characters (keeps events well under 256 KiB). */
export const MAX_OUTPUT_TAIL_CHARS = 16_384;

/** The last bytes a task wrote, decoded as UTF-8; `truncated` when earlier output was dropped. */
export const OutputTailSchema = z.object({
  stdout: z.string().max(MAX_OUTPUT_TAIL_CHARS),
  stderr: z.string().max(MAX_OUTPUT_TAIL_CHARS),
  truncated: z.boolean().default(false),
});
export type OutputTail = z.output<typeof OutputTailSchema>;

/** What happened to a task, reported by the agent that runs it. */
export const TaskEventSchema = envelope('TaskEvent', {
  /** Lifecycle step: started, or one terminal outcome (handed-back means "run it elsewhere"). */
  event: TaskEventTypeSchema,
  jobId: JobIdSchema,
  taskIndex: TaskIndexSchema,
  attempt: AttemptSchema,
  /** The instance whose agent reports. */
  instanceId: z.string().min(1, { error: 'instanceId must not be empty' }),
  /** When the event happened, epoch milliseconds. */
  at: z.number().int().min(0),
  /** Exit code of the process when it exited by itself; absent when it was killed or never started. */
  exitCode: z.number().int().optional(),
  /** Signal that ended the process, e.g. `SIGKILL`; absent when it exited by itself. */
  signal: z.string().min(1).optional(),
  /**
   * Run time from spawn to exit, milliseconds; absent on `started` and for tasks that never started. A
   * serving task has no timeout, so only storability bounds it.
   */
  durationMs: z.number().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  /** Why the task ended; absent on `started`. */
  reason: TaskEndReasonSchema.optional(),
  /** Human-readable detail (spawn error text, cancel reason, what did not fit). */
  message: z.string().max(MAX_EVENT_MESSAGE_CHARS).optional(),
  /** Bounded tail of stdout and stderr; on terminal events only. */
  output: OutputTailSchema.optional(),
  /** URL a serving task (model or router) answers on; on `started` only. */
  endpoint: z.url({ error: 'endpoint must be a URL' }).optional(),
  /** True when this repeats an earlier report because the RunTask was delivered again after it finished. */
  repeat: z.boolean().default(false),
});
export type TaskEvent = z.output<typeof TaskEventSchema>;
export type TaskEventInput = z.input<typeof TaskEventSchema>;

/** Command messages the agent reads from its own queue that concern tasks and lifecycle. */
export const TASK_COMMAND_SCHEMAS = {
  RunTask: RunTaskSchema,
  CancelTask: CancelTaskSchema,
  Drain: DrainSchema,
} as const;
export type TaskCommand = RunTask | CancelTask | Drain;

/** Decode an instance-queue body into RunTask, CancelTask or Drain, or every field issue at once. */
export function decodeTaskCommand(body: unknown): Decoded<TaskCommand> {
  return decodeMessage(TASK_COMMAND_SCHEMAS, body);
}

/** Stable key for one run of one task: what dedupe, cancel and reports agree on. */
export function taskKey(t: { jobId: string; taskIndex: number; attempt: number }): string {
  return `${t.jobId}#${t.taskIndex}#${t.attempt}`;
}
