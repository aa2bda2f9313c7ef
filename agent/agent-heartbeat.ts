import type { AgentState, RunningTaskRef } from '../lib/core/protocol/heartbeat.ts';
import type { Entry } from './agent-deps.ts';
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
