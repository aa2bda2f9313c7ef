import type { ScheduledEvent } from './shared/aws-events.ts';
import { jsonLogger, type Logger } from './shared/log.ts';
import { runTick, type TickOutcome, type TickResult } from './shared/scheduled.ts';

/** What a schedule cycle needs: lease, load state, plan, commit and act, behind one call. */
export interface ScheduleDeps {
  readonly cycle: (event: ScheduledEvent) => Promise<TickOutcome>;
  readonly log: Logger;
}

/** schedule <- EventBridge rate(1 minute): validate the tick and run one cycle. */
export function createScheduleHandler(deps: ScheduleDeps): (event: unknown) => Promise<TickResult> {
  return (event) => runTick(event, deps.cycle, deps.log);
}

export const handler = createScheduleHandler({
  // A skipped tick loses nothing: the next one plans from the same stored state.
  cycle: async () => ({ status: 'skipped', reason: 'the schedule cycle is not wired to its stores yet' }),
  log: jsonLogger('schedule'),
});
