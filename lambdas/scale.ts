import { createAwsAdapters } from '../lib/aws/adapters.ts';
import { scalePipelines } from '../lib/core/control/pipeline-scale.ts';
import type { Clock } from '../lib/core/ports.ts';
import type { ScheduledEvent } from './shared/aws-events.ts';
import { type HandlerConfig, once, readHandlerConfig } from './shared/config.ts';
import { jsonLogger, type Logger } from './shared/log.ts';
import { pipelineDeps } from './shared/pipeline-deps.ts';
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

/**
 * The real wiring: one tick plans PLANNING pipelines, re-plans SERVING ones after sustained drift and
 * reconciles every pipeline's replica and router jobs (lib/core/control/pipeline-scale.ts). It can also
 * be invoked on demand with a scheduled-event shaped payload: a tick is idempotent.
 */
export function buildScaleHandler(
  config: HandlerConfig,
  clock: Clock = { now: () => Date.now() },
  log: Logger = jsonLogger('scale'),
) {
  const adapters = createAwsAdapters(config.adapters);
  const deps = pipelineDeps(adapters, config, clock, log);
  return createScaleHandler({
    log,
    replan: async () => {
      const summary = await scalePipelines(deps);
      return { status: 'done', detail: { ...summary } };
    },
  });
}

const live = once(() => buildScaleHandler(readHandlerConfig(process.env)));
export const handler = (event: unknown): Promise<TickResult> => live()(event);
