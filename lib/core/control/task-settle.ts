import type { Job, JobError } from '../model/job.ts';
import { isTerminal } from '../model/job-state.ts';
import type { TaskEvent } from '../protocol/tasks.ts';
import { type ControlDeps, settleJob, stopTasks } from './requeue.ts';

/**
 * What a task's report does to its job once the task record has moved: start it, finish it when the whole
 * gang has succeeded, fail or cancel it. Each step re-reads the job and moves it only from the attempt and
 * state it expects, so running one again (a report redelivered after a write failed part-way) changes
 * nothing that was already changed.
 */

/** PLACED -> RUNNING; a job placed on an instance that was still launching goes LAUNCHING -> PLACED first. */
export async function markRunning(
  jobId: string,
  attempt: number,
  at: number,
  deps: ControlDeps,
): Promise<void> {
  for (let step = 0; step < 2; step++) {
    const moved = await settleJob(jobId, attempt, deps, (job) => {
      if (job.status === 'LAUNCHING') return { to: 'PLACED', patch: {} };
      if (job.status === 'PLACED') return { to: 'RUNNING', patch: { startedAt: at } };
      return undefined;
    });
    if (!moved || moved.status === 'RUNNING') return;
  }
}

/** SUCCEEDED once every task of the attempt has; true when the job moved. */
export async function finishIfGangDone(
  jobId: string,
  attempt: number,
  at: number,
  deps: ControlDeps,
): Promise<boolean> {
  const tasks = (await deps.tasks.tasksOfJob(jobId)).filter((t) => t.attempt === attempt);
  if (!tasks.every((t) => t.state === 'SUCCEEDED')) return false;
  return settleToTerminal(jobId, attempt, 'SUCCEEDED', { finishedAt: at }, deps);
}

/** A gang is all or nothing: the other members are stopped and the job FAILS; true when the job moved. */
export async function failJob(
  jobId: string,
  attempt: number,
  error: JobError,
  at: number,
  deps: ControlDeps,
): Promise<boolean> {
  const tasks = (await deps.tasks.tasksOfJob(jobId)).filter((t) => t.attempt === attempt);
  await stopTasks(tasks, 'CANCELLED', `gang member failed: ${error.message}`, deps);
  return settleToTerminal(jobId, attempt, 'FAILED', { finishedAt: at, error }, deps);
}

/** The other members are stopped and the job ends CANCELLED; true when the job moved. */
export async function cancelJob(
  jobId: string,
  attempt: number,
  at: number,
  deps: ControlDeps,
): Promise<boolean> {
  const tasks = (await deps.tasks.tasksOfJob(jobId)).filter((t) => t.attempt === attempt);
  await stopTasks(tasks, 'CANCELLED', 'job cancelled', deps);
  return settleToTerminal(
    jobId,
    attempt,
    'CANCELLED',
    { finishedAt: at, error: { code: 'CANCELLED', message: 'cancelled by the user' } },
    deps,
  );
}

/**
 * Whether a report whose task was already in `state` still has its job to move: an earlier delivery moved
 * the task and then failed before the job followed. A job that has ended, or moved to another attempt,
 * has nothing left to do.
 */
export function jobLagsTask(
  job: Job,
  attempt: number,
  taskState: string | undefined,
  state: string,
): boolean {
  return taskState === state && !isTerminal(job.status) && job.attempts === attempt + 1;
}

/** Terminal states are reached from RUNNING or PLACED; a LAUNCHING job is first moved to PLACED. */
async function settleToTerminal(
  jobId: string,
  attempt: number,
  to: 'SUCCEEDED' | 'FAILED' | 'CANCELLED',
  patch: Partial<Pick<Job, 'finishedAt' | 'error'>>,
  deps: ControlDeps,
): Promise<boolean> {
  for (let step = 0; step < 2; step++) {
    const moved = await settleJob(jobId, attempt, deps, (job) =>
      job.status === 'LAUNCHING' ? { to: 'PLACED', patch: {} } : { to, patch },
    );
    if (!moved) return false;
    if (isTerminal(moved.status)) return true;
  }
  return false;
}

export function failureOf(event: TaskEvent): JobError {
  const how =
    event.exitCode !== undefined
      ? `exited with code ${event.exitCode}`
      : event.signal
        ? `was killed by ${event.signal}`
        : (event.message ?? 'failed');
  const tail = event.output
    ? [event.output.stderr, event.output.stdout].filter(Boolean).join('\n')
    : undefined;
  return {
    code: (event.reason ?? 'exit').toUpperCase().replace('-', '_'),
    message: `task ${event.taskIndex} ${event.reason === 'timeout' ? 'timed out and ' : ''}${how}`,
    exitCode: event.exitCode,
    outputTail: tail?.slice(-8192),
  };
}
