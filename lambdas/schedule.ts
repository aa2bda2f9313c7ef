import { createAwsAdapters } from '../lib/aws/adapters.ts';
import { runScheduleCycle } from '../lib/core/control/cycle.ts';
import { type CycleConfigInput, parseCycleConfig } from '../lib/core/control/cycle-config.ts';
import type { PlanWarmState } from '../lib/core/placement/types.ts';
import type { Clock } from '../lib/core/ports.ts';
import { HighsSolver } from '../lib/solver/highs-solver.ts';
import type { ScheduledEvent } from './shared/aws-events.ts';
import { type HandlerConfig, once, readHandlerConfig } from './shared/config.ts';
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

/**
 * The real wiring. The solver's WASM module and the previous cycle's solution live for as long as the
 * Lambda instance does, so a warm instance re-plans from where it left off.
 */
export function buildScheduleHandler(
  config: HandlerConfig,
  cycle: CycleConfigInput = {},
  log: Logger = jsonLogger('schedule'),
  clock: Clock = { now: () => Date.now() },
) {
  const adapters = createAwsAdapters(config.adapters);
  const cycleConfig = parseCycleConfig({
    maxInstances: config.maxFleetSize,
    budgetPerHour: config.budgetPerHour,
    allowedInstanceTypes: config.instanceTypes.length > 0 ? [...config.instanceTypes] : undefined,
    ...cycle,
  });
  const solver = new HighsSolver();
  let warm: PlanWarmState | undefined;
  return createScheduleHandler({
    log,
    cycle: async (event) => {
      const report = await runScheduleCycle(
        cycleConfig,
        {
          jobs: adapters.jobs,
          tasks: adapters.fleetStore,
          instances: adapters.fleetStore,
          channel: adapters.channel,
          fleet: adapters.fleet,
          leases: adapters.jobs,
          solver,
          clock,
          log,
          elapsedMs: () => performance.now(),
        },
        { cycleId: `cycle-${event.id}`, warm },
      );
      if (report.status === 'skipped') return { status: 'skipped', reason: report.reason ?? 'skipped' };
      warm = report.warm ?? warm;
      await adapters.jobs.record({
        cycleId: report.cycleId,
        at: clock.now(),
        engine: report.engine,
        solveMs: report.solveMs,
        gap: report.gap,
        objective: report.objective,
        counts: report.counts ? { ...report.counts } : undefined,
        unplaced: report.unplaced,
        explanations: report.explanations ?? {},
      });
      return {
        status: 'done',
        detail: {
          counts: report.counts,
          skipped: report.skipped?.length ?? 0,
          unplaced: report.unplaced,
          engine: report.engine,
          solveMs: report.solveMs,
          gap: report.gap,
          errors: report.errors,
        },
      };
    },
  });
}

const live = once(() => buildScheduleHandler(readHandlerConfig(process.env)));
export const handler = (event: unknown): Promise<TickResult> => live()(event);
