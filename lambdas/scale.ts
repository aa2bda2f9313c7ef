import type { ScheduledEvent } from './shared/aws-events.ts';
import { jsonLogger, type Logger } from './shared/log.ts';
import { runTick, type TickOutcome, type TickResult } from './shared/scheduled.ts';

/** What a scale tick needs: pipeline latency and arrivals in, replica targets out. */
export interface ScaleDeps {
  readonly replan: (event: ScheduledEvent) => Promise<TickOutcome>;
  readonly log: Logger;
}

/** scale <- EventBridge rate(1 minute): validate the tick and re-plan pipelines that drifted. */
export function createScaleHandler(deps: ScaleDeps): (event: unknown) => Promise<TickResult> {
  return (event) => runTick(event, deps.replan, deps.log);
}

export const handler = createScaleHandler({
  // A skipped tick loses nothing: the next one re-plans from the same stored latency.
  replan: async () => ({ status: 'skipped', reason: 'the pipeline planner is not wired to its stores yet' }),
  log: jsonLogger('scale'),
});
