import type { AgentState, RunningTaskRef } from '../lib/core/protocol/heartbeat.ts';
import { type RunTask, taskKey } from '../lib/core/protocol/tasks.ts';
import type { Entry } from './agent-deps.ts';
import { taskIds } from './commands.ts';
import type { CapacityLedger } from './ledger.ts';
import { errorText, type Logger } from './log.ts';
import type { AgentSnapshot, Reporter } from './reporter.ts';

/** What a heartbeat reports: state, capacity, what is free, and the running and waiting tasks. */
export function buildSnapshot(
  state: AgentState,
  ledger: CapacityLedger,
  gpus: AgentSnapshot['gpus'],
  entries: ReadonlyMap<string, Entry>,
): AgentSnapshot {
  const refs = (phase: Entry['phase']): RunningTaskRef[] =>
    [...entries.values()]
      .filter((e) => e.phase === phase)
      .map(({ task }) => ({ jobId: task.jobId, taskIndex: task.taskIndex, attempt: task.attempt }));
  return {
    state,
    capacity: ledger.capacity,
    free: ledger.free(),
    freeGpuIndices: ledger.freeGpuIndices(),
    gpus,
    running: refs('running'),
    waiting: refs('waiting'),
  };
}

/** Send one heartbeat; a failure is logged, never thrown. */
export async function sendHeartbeat(
  reporter: Reporter,
  logger: Logger,
  snapshot: () => AgentSnapshot,
): Promise<void> {
  try {
    await reporter.heartbeat(snapshot());
  } catch (error) {
    logger.log('warn', 'heartbeat failed', { error: errorText(error) });
  }
}

/**
 * Report that a task started. A serving task has no process: it started when its server answers on its
 * endpoint, and one with neither (a serving task that failed to start) reports nothing here. A failure is
 * logged, never thrown; the returned promise lets the terminal event wait so it cannot overtake this one.
 */
export function reportStarted(
  reporter: Reporter,
  logger: Logger,
  task: RunTask,
  run: NonNullable<Entry['run']>,
): Promise<void> {
  const endpoint = run.endpoint;
  if (run.pid === undefined && endpoint === undefined) return Promise.resolve();
  const event = reporter.buildTaskEvent({
    event: 'started',
    ...taskIds(task),
    ...(endpoint ? { endpoint } : {}),
  });
  return reporter
    .sendTaskEvent(event)
    .catch((error) =>
      logger.log('warn', 'started event lost', { task: taskKey(task), error: errorText(error) }),
    );
}
