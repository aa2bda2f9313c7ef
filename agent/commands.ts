import { type Decoded, decodeMessage } from '../lib/core/protocol/envelope.ts';
import { MODEL_COMMAND_SCHEMAS, type ModelCommand } from '../lib/core/protocol/inference.ts';
import {
  type CancelTask,
  type RunTask,
  TASK_COMMAND_SCHEMAS,
  type TaskCommand,
} from '../lib/core/protocol/tasks.ts';

/** Everything an instance queue carries: task and lifecycle commands, and model commands. */
export type AgentCommand = TaskCommand | ModelCommand;

const AGENT_COMMAND_SCHEMAS = { ...TASK_COMMAND_SCHEMAS, ...MODEL_COMMAND_SCHEMAS };

export function decodeAgentCommand(body: unknown): Decoded<AgentCommand> {
  return decodeMessage(AGENT_COMMAND_SCHEMAS, body);
}

/** The fields that name one run of a task in events and heartbeats. */
export function taskIds(task: RunTask): { jobId: string; taskIndex: number; attempt: number } {
  return { jobId: task.jobId, taskIndex: task.taskIndex, attempt: task.attempt };
}

/** A CancelTask without taskIndex or attempt covers every task or attempt of its job. */
export function cancelMatches(cancel: CancelTask, task: RunTask): boolean {
  return (
    cancel.jobId === task.jobId &&
    (cancel.taskIndex === undefined || cancel.taskIndex === task.taskIndex) &&
    (cancel.attempt === undefined || cancel.attempt === task.attempt)
  );
}

/** The first remembered cancel that covers this task, if any. */
export function cancelCovering(cancels: Iterable<CancelTask>, task: RunTask): CancelTask | undefined {
  for (const c of cancels) if (cancelMatches(c, task)) return c;
  return undefined;
}

export function cancelKey(cancel: CancelTask): string {
  return `${cancel.jobId}#${cancel.taskIndex ?? '*'}#${cancel.attempt ?? '*'}`;
}

export function cancelNote(cancel: CancelTask): string {
  return cancel.reason ? `cancelled: ${cancel.reason}` : 'cancelled';
}
