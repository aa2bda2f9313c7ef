import type { WorkQueue } from '../lib/core/ports.ts';
import type { RunTask, TaskEndReason, TaskEvent, TaskEventType } from '../lib/core/protocol/tasks.ts';
import { taskKey } from '../lib/core/protocol/tasks.ts';
import type { BoundedMap } from './bounded-map.ts';
import { taskIds } from './commands.ts';
import { errorText, type Logger } from './log.ts';
import type { Reporter } from './reporter.ts';
import type { TaskResult } from './task-runner.ts';

/**
 * How a task's messages are settled once its outcome is known. The order matters for exactly-once
 * effects under at-least-once delivery:
 *   finished:    remember -> report -> delete   (a lost report keeps the message; redelivery re-reports)
 *   handed back: report -> visibility 0        (the scheduler re-places it from the report)
 */
export class Settler {
  constructor(
    private readonly queue: WorkQueue,
    private readonly reporter: Reporter,
    private readonly logger: Logger,
    /** Final events of recent runs, by task key: what a redelivered RunTask gets re-reported. */
    readonly completed: BoundedMap<string, TaskEvent>,
  ) {}

  /** The terminal event for a run that happened. */
  resultEvent(task: RunTask, result: TaskResult, note?: string): TaskEvent {
    const message = note ?? result.message;
    return this.reporter.buildTaskEvent({
      event: result.outcome,
      ...taskIds(task),
      reason: result.reason,
      durationMs: result.durationMs,
      output: result.output,
      ...(result.exitCode !== undefined ? { exitCode: result.exitCode } : {}),
      ...(result.signal ? { signal: result.signal } : {}),
      ...(message ? { message } : {}),
    });
  }

  /** The terminal event for a task that never started (cancelled first, does not fit, drained). */
  unstartedEvent(task: RunTask, type: TaskEventType, reason: TaskEndReason, message: string): TaskEvent {
    return this.reporter.buildTaskEvent({ event: type, ...taskIds(task), reason, message });
  }

  async finish(task: RunTask, event: TaskEvent, receipts: readonly string[]): Promise<void> {
    if (event.event === 'handed-back') return this.handBack(event, receipts);
    const key = taskKey(task);
    this.completed.set(key, event);
    try {
      await this.reporter.sendTaskEvent(event);
    } catch (error) {
      this.logger.log('error', 'result not reported; message kept', { task: key, error: errorText(error) });
      return;
    }
    await Promise.all(
      receipts.map((r) =>
        this.queue
          .delete(r)
          .catch((error) => this.logger.log('warn', 'delete failed', { task: key, error: errorText(error) })),
      ),
    );
  }

  private async handBack(event: TaskEvent, receipts: readonly string[]): Promise<void> {
    await this.reporter
      .sendTaskEvent(event)
      .catch((error) => this.logger.log('error', 'handed-back event lost', { error: errorText(error) }));
    await Promise.all(
      receipts.map((r) =>
        this.queue
          .changeVisibility(r, 0)
          .catch((error) => this.logger.log('warn', 'hand-back failed', { error: errorText(error) })),
      ),
    );
  }
}
