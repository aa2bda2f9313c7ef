import type { Job, TaskSpec } from '../model/job.ts';
import type { Resources } from '../model/resources.ts';
import type { RunTaskInput } from '../protocol/tasks.ts';

/** How many times the longest alternative a task may run before its agent kills it, unless the job says. */
const TIMEOUT_FACTOR = 3;

/**
 * `expectedEndAt` of a task that runs until cancelled (a model server or a router): later than any
 * window, so capacity accounting holds it in every slot (capacity.ts `heldSlots`) and it is never
 * taken for overdue. The largest safe integer, so it survives the store's number round trip.
 */
export const OPEN_ENDED_AT = Number.MAX_SAFE_INTEGER;

/** Model and router tasks serve until cancelled: they have no duration and no timeout. */
export function isServingTask(task: TaskSpec): boolean {
  return task.kind === 'model' || task.kind === 'router';
}

/** When a task of `job` is expected to end, given the end its placement planned: never for serving work. */
export function expectedEndOf(job: Job, plannedEndAt: number): number {
  return isServingTask(job.spec.task) ? OPEN_ENDED_AT : plannedEndAt;
}

/**
 * The RunTask that tells an agent to start one task of `job`. A command gets a timeout (its own, else a
 * multiple of its longest alternative); a serving task gets none, since it runs until a CancelTask.
 */
export function runTaskFor(
  job: Job,
  task: { taskIndex: number; attempt: number; resources: Resources; gpuIndices: readonly number[] },
): RunTaskInput {
  const spec = job.spec.task;
  const base = {
    version: 1 as const,
    kind: 'RunTask' as const,
    jobId: job.id,
    taskIndex: task.taskIndex,
    attempt: task.attempt,
    task: spec,
    resources: { ...task.resources },
    gpuIndices: [...task.gpuIndices],
  };
  if (spec.kind !== 'command') return base;
  const longest = Math.max(...job.spec.alternatives.map((a) => a.durationSeconds));
  return { ...base, timeoutSeconds: spec.timeoutSeconds ?? TIMEOUT_FACTOR * longest };
}
