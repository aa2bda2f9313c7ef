import type { FieldIssue } from '../../lib/core/errors.ts';
import { toFieldIssues } from '../../lib/core/model/validate.ts';
import { describeIssues } from '../../lib/core/protocol/envelope.ts';
import { type ScheduledEvent, ScheduledEventSchema } from './aws-events.ts';
import { describeError, type Logger } from './log.ts';

export type TickResult =
  | { status: 'done'; detail: Record<string, unknown> }
  | { status: 'skipped'; reason: string }
  | { status: 'invalid'; issues: readonly FieldIssue[] }
  | { status: 'failed'; reason: string };

/** What a tick's work may return: anything but `invalid`, which only validation decides. */
export type TickOutcome = Exclude<TickResult, { status: 'invalid' }>;

/**
 * Run one tick of a scheduled handler. A tick that is not an EventBridge scheduled event is refused
 * with its field issues; a failing tick is logged and reported, not thrown, because the next tick a
 * minute later is the retry (the rule's targets set no retries).
 */
export async function runTick(
  event: unknown,
  tick: (event: ScheduledEvent) => Promise<TickOutcome>,
  log: Logger,
): Promise<TickResult> {
  const parsed = ScheduledEventSchema.safeParse(event);
  if (!parsed.success) {
    const issues = toFieldIssues(parsed.error);
    log.error('rejected an event that is not a scheduled tick', { reason: describeIssues(issues), issues });
    return { status: 'invalid', issues };
  }
  try {
    const result = await tick(parsed.data);
    log.info('tick finished', { time: parsed.data.time, ...result });
    return result;
  } catch (error) {
    const reason = describeError(error);
    log.error('tick failed', { time: parsed.data.time, reason });
    return { status: 'failed', reason };
  }
}
