/**
 * What the ingest benchmark checks on the stored state: a schedule cycle run mid-drain and at the end (the
 * schedule handler itself, with the real reconcile and silence rules), and the jobs' and instances' outcome.
 */
import { buildScheduleHandler } from '../../lambdas/schedule.ts';
import type { HandlerConfig } from '../../lambdas/shared/config.ts';
import type { AwsAdapters } from '../../lib/aws/adapters.ts';
import type { CycleConfig } from '../../lib/core/control/cycle-config.ts';
import {
  REPORT_LAG_CREDIT_TIMEOUTS,
  reportLagMs,
  silence,
} from '../../lib/core/control/cycle-housekeeping.ts';
import type { Logger } from '../../lib/core/ports.ts';

const secs = (ms: number) => Math.round(ms / 100) / 10;

export interface ScheduleStep {
  readonly atFraction: number;
  readonly reportsApplied: number;
  /** Age of the newest heartbeat applied to any instance, and of the oldest such newest one. */
  readonly newestHeartbeatAgeS: number;
  readonly stalestInstanceHeartbeatAgeS: number;
  /** The report lag the cycle credits (reportLagMs), and how many instances it would retire without it. */
  readonly reportLagCreditS: number;
  readonly silentWithoutLagCredit: number;
  readonly silentWithLagCredit: number;
  readonly silenceReasons: readonly string[];
  readonly status: string;
  readonly instancesRetired: number;
  readonly requeued: number;
  readonly errors: number;
}

/**
 * Runs the schedule handler once with `now` and records, from the same snapshot the cycle reads, how
 * silent the fleet looks with and without the report-lag credit.
 */
export async function scheduleStep(
  config: HandlerConfig,
  cycle: CycleConfig,
  adapters: AwsAdapters,
  now: () => number,
  log: Logger,
  atFraction: number,
  reportsApplied: number,
): Promise<ScheduleStep> {
  const before = await adapters.fleetStore.listInstances();
  const t = now();
  const lag = reportLagMs(before, t, cycle);
  const live = before.filter((i) => i.state === 'RUNNING');
  const beats = live.map((i) => i.lastHeartbeatAt ?? 0);
  const reasons = live.flatMap((i) => silence(i, t, cycle, lag) ?? []);
  const handler = buildScheduleHandler(config, cycle, log, { now });
  const result = await handler({
    source: 'aws.events',
    'detail-type': 'Scheduled Event',
    id: `bench-${Math.round(atFraction * 100)}`,
    time: new Date(t).toISOString(),
    resources: [],
  });
  const detail = result.status === 'done' ? result.detail : {};
  const counts = (detail.counts ?? {}) as Record<string, number>;
  const errors = Array.isArray(detail.errors) ? detail.errors.length : 0;
  return {
    atFraction,
    reportsApplied,
    newestHeartbeatAgeS: secs(t - Math.max(...beats)),
    stalestInstanceHeartbeatAgeS: secs(t - Math.min(...beats)),
    reportLagCreditS: secs(lag),
    silentWithoutLagCredit: live.filter((i) => silence(i, t, cycle, 0) !== undefined).length,
    silentWithLagCredit: reasons.length,
    silenceReasons: [...new Set(reasons)].slice(0, 3),
    status: result.status,
    instancesRetired: counts.instancesRetired ?? 0,
    requeued: counts.requeued ?? 0,
    errors,
  };
}

/** Where the fleet and the jobs ended up after the drain and the last schedule step. */
export async function outcome(
  adapters: AwsAdapters,
  instanceIds: readonly string[],
  jobIds: readonly string[],
) {
  const instances = await Promise.all(instanceIds.map((id) => adapters.fleetStore.getInstance(id)));
  const jobs = await Promise.all(jobIds.map((id) => adapters.jobs.get(id)));
  const byStatus: Record<string, number> = {};
  for (const j of jobs) byStatus[j?.status ?? 'missing'] = (byStatus[j?.status ?? 'missing'] ?? 0) + 1;
  const lost = instances.filter((i) => i?.state !== 'RUNNING').length;
  const tasks = await Promise.all(jobIds.map((id) => adapters.fleetStore.tasksOfJob(id)));
  // A requeued attempt leaves its task LOST; a later commit adds a task of attempt 1.
  const requeued = tasks.filter((ts) => ts.some((t) => t.state === 'LOST' || t.attempt > 0)).length;
  const succeeded = byStatus.SUCCEEDED ?? 0;
  return {
    jobsSucceeded: succeeded,
    jobsByStatus: byStatus,
    // Every job's task got a succeeded event in the backlog.
    everySucceededEventJobSucceeded: succeeded === jobIds.length,
    instancesNotRunning: lost,
    jobsRequeued: requeued,
    liveFleetRetired: lost > 0 || requeued > 0,
  };
}

export function creditCapS(cycle: CycleConfig): number {
  return REPORT_LAG_CREDIT_TIMEOUTS * cycle.heartbeatTimeoutSeconds;
}
