import type { Job } from '../model/job.ts';
import type { Resources } from '../model/resources.ts';
import type { RunTaskInput } from '../protocol/tasks.ts';

/** How many times the longest alternative a task may run before its agent kills it, unless the job says. */
const TIMEOUT_FACTOR = 3;

/** The RunTask that tells an agent to start one task of `job`; undefined for work that is not a command. */
export function runTaskFor(
  job: Job,
  task: { taskIndex: number; attempt: number; resources: Resources; gpuIndices: readonly number[] },
): RunTaskInput | undefined {
  const spec = job.spec.task;
  if (spec.kind !== 'command') return undefined;
  const longest = Math.max(...job.spec.alternatives.map((a) => a.durationSeconds));
  return {
    version: 1,
    kind: 'RunTask',
    jobId: job.id,
    taskIndex: task.taskIndex,
    attempt: task.attempt,
    task: spec,
    resources: { ...task.resources },
    gpuIndices: [...task.gpuIndices],
    timeoutSeconds: spec.timeoutSeconds ?? TIMEOUT_FACTOR * longest,
  };
}
