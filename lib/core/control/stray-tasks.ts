import type { Job } from '../model/job.ts';
import { isTerminal } from '../model/job-state.ts';
import type { Logger } from '../ports.ts';
import type { TaskEvent } from '../protocol/tasks.ts';
import type { ControlDeps } from './requeue.ts';
import { ACTIVE_TASK_STATES, type TaskRecord } from './task-record.ts';

/**
 * A task an agent reports `started` that must not run (its job ended, its attempt was given up, or it was
 * never placed there): the agent is told to stop it, whatever let its RunTask through, so stray work never
 * holds an instance. A record of an ended job that is still active (its RunTask raced the end) ends too,
 * so the instance counts as free. A CancelTask for a task the agent no longer runs is a no-op there.
 */
export async function stopStrayTask(
  event: Pick<TaskEvent, 'jobId' | 'taskIndex' | 'attempt' | 'instanceId'>,
  job: Job,
  record: TaskRecord | undefined,
  why: string,
  deps: ControlDeps & { readonly log?: Logger },
): Promise<void> {
  if (record && ACTIVE_TASK_STATES.has(record.state) && isTerminal(job.status))
    await deps.tasks.moveTask(record, [...ACTIVE_TASK_STATES], 'CANCELLED', deps.clock.now());
  const instance = await deps.instances.getInstance(event.instanceId);
  if (!instance?.queueUrl || instance.state === 'TERMINATED') return;
  const reason = `stray task: ${why}`;
  await deps.channel.send(instance.queueUrl, {
    version: 1,
    kind: 'CancelTask',
    jobId: event.jobId,
    taskIndex: event.taskIndex,
    attempt: event.attempt,
    reason: reason.slice(0, 256),
  });
  deps.log?.info('stopping a task that should not run', {
    jobId: event.jobId,
    taskIndex: event.taskIndex,
    attempt: event.attempt,
    instanceId: event.instanceId,
    reason,
  });
}
