import { ConflictError } from '../errors.ts';
import type { Job } from '../model/job.ts';
import { isTerminal } from '../model/job-state.ts';
import type { Clock, InstanceChannel, InstanceStore, JobStore, TaskStore } from '../ports.ts';
import { ACTIVE_TASK_STATES, type TaskRecord } from './task-record.ts';

/** The ports the control loop's state changes go through. */
export interface ControlDeps {
  readonly jobs: JobStore;
  readonly tasks: TaskStore;
  readonly instances: InstanceStore;
  readonly channel: InstanceChannel;
  readonly clock: Clock;
}

export type RequeueOutcome = 'requeued' | 'failed' | 'cancelled' | 'unchanged';

/** How many times a read-decide-write is retried when a conditional write loses a race. */
const RACE_RETRIES = 4;

/**
 * A run of a job was lost (instance gone, task handed back, gang member failed to fit): mark every
 * still-active task of that attempt LOST, stop the survivors of a gang, and send the job back to PENDING
 * while attempts remain, else FAIL it with `reason`. A job the user asked to cancel is not run again: it
 * ends CANCELLED (back in PENDING, nothing would stop its next run, and a second cancel finds it already
 * requested). Only the attempt named counts: a late report about an older attempt changes nothing.
 */
export async function requeueAttempt(
  jobId: string,
  attempt: number,
  reason: string,
  deps: ControlDeps,
  options: StopOptions = {},
): Promise<RequeueOutcome> {
  const now = deps.clock.now();
  const tasks = (await deps.tasks.tasksOfJob(jobId)).filter((t) => t.attempt === attempt);
  await stopTasks(tasks, 'LOST', `requeued: ${reason}`, deps, options);
  const settled = await settleJob(jobId, attempt, deps, (job) => {
    if (job.cancelRequestedAt !== undefined)
      return { to: 'CANCELLED', patch: { finishedAt: now, error: USER_CANCELLED } };
    return job.attempts < job.spec.maxAttempts
      ? { to: 'PENDING', patch: {} }
      : {
          to: 'FAILED',
          patch: {
            finishedAt: now,
            error: {
              code: 'ATTEMPTS_EXHAUSTED',
              message: `${reason}; all ${job.spec.maxAttempts} attempts used`,
            },
          },
        };
  });
  if (!settled) return 'unchanged';
  if (settled.status === 'PENDING') return 'requeued';
  return settled.status === 'CANCELLED' ? 'cancelled' : 'failed';
}

/** The error a job the user cancelled ends with. */
export const USER_CANCELLED = Object.freeze({ code: 'CANCELLED', message: 'cancelled by the user' });

export interface StopOptions {
  /**
   * Record the tasks as ended without asking their instances to stop them: the instance is draining and
   * hands them back itself (a spot interruption's serving tasks, which serve on while they are replaced).
   */
  readonly leaveRunning?: boolean;
  /**
   * Ask the instance to stop them this long from now rather than at once (CancelTask.afterSeconds): serving
   * tasks moved off an instance EC2 recommends rebalancing serve on while their replacements start.
   */
  readonly cancelAfterSeconds?: number;
}

/** Marks active tasks `to` and asks their instances to stop them (a no-op for tasks already ended). */
export async function stopTasks(
  tasks: readonly TaskRecord[],
  to: 'LOST' | 'CANCELLED' | 'FAILED',
  reason: string,
  deps: ControlDeps,
  options: StopOptions = {},
): Promise<void> {
  const now = deps.clock.now();
  for (const task of tasks) {
    if (!ACTIVE_TASK_STATES.has(task.state)) continue;
    const moved = await deps.tasks.moveTask(task, [...ACTIVE_TASK_STATES], to, now);
    if (!moved || options.leaveRunning === true) continue;
    const instance = await deps.instances.getInstance(task.instanceId);
    if (instance?.queueUrl && instance.state !== 'TERMINATED') {
      await deps.channel.send(instance.queueUrl, {
        version: 1,
        kind: 'CancelTask',
        jobId: task.jobId,
        taskIndex: task.taskIndex,
        attempt: task.attempt,
        reason,
        ...(options.cancelAfterSeconds !== undefined ? { afterSeconds: options.cancelAfterSeconds } : {}),
      });
    }
  }
}

/**
 * Re-reads the job and applies `decide`, returning the moved job, if the job is still on `attempt` and
 * not finished; retries when a concurrent writer moved it first.
 */
export async function settleJob(
  jobId: string,
  attempt: number,
  deps: Pick<ControlDeps, 'jobs' | 'clock'>,
  decide: (
    job: Job,
  ) => { to: Job['status']; patch: NonNullable<Parameters<JobStore['transition']>[1]['patch']> } | undefined,
): Promise<Job | undefined> {
  for (let i = 0; ; i++) {
    const job = await deps.jobs.get(jobId);
    if (!job || isTerminal(job.status) || job.status === 'PENDING' || job.attempts !== attempt + 1)
      return undefined;
    const step = decide(job);
    if (!step) return undefined;
    try {
      return await deps.jobs.transition(jobId, {
        from: job.status,
        to: step.to,
        expectedVersion: job.version,
        now: deps.clock.now(),
        patch: step.patch,
      });
    } catch (error) {
      if (!(error instanceof ConflictError) || i >= RACE_RETRIES) throw error;
    }
  }
}
