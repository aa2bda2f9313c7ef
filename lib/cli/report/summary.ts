import type { TaskRecord } from '../../core/control/task-record.ts';
import { isActiveTask } from '../../core/control/task-record.ts';
import type { Instance } from '../../core/model/instance.ts';
import type { Job, PolicyName } from '../../core/model/job.ts';
import { isTerminal, type JobStatus } from '../../core/model/job-state.ts';
import type { CycleRecord } from '../../core/ports.ts';
import { deadlineAttainment, type FleetSnapshot, jobsByState, pricePerHour } from '../snapshot.ts';

/** The numbers the report shows and `summary.json` holds. */
export interface ReportSummary {
  readonly title: string;
  /** Snapshot time, ISO 8601. */
  readonly generatedAt: string;
  /** From the first submission or launch to the snapshot, seconds. */
  readonly spanSeconds: number;
  readonly jobs: {
    readonly total: number;
    readonly terminal: number;
    readonly byState: Record<JobStatus, number>;
    readonly byPolicy: Partial<Record<PolicyName, number>>;
  };
  readonly deadline: {
    /** Finished jobs with a deadline. */
    readonly total: number;
    readonly met: number;
    /** 0..100, one decimal; null when no finished job had a deadline. */
    readonly attainmentPct: number | null;
    readonly byPolicy: Partial<
      Record<PolicyName, { total: number; met: number; attainmentPct: number | null }>
    >;
  };
  readonly instances: {
    readonly launched: number;
    readonly byType: Record<string, number>;
    readonly byMarket: Record<string, number>;
    /** Still not TERMINATED at the snapshot. */
    readonly live: number;
  };
  readonly tasks: { readonly total: number; readonly byState: Record<string, number> };
  /** Catalog price x time each instance was up, per second, in USD. */
  readonly totalCostUsd: number;
  readonly solver: {
    readonly cycles: number;
    /** Cycles that ran the planner (solveMs recorded). */
    readonly solves: number;
    readonly medianSolveMs: number | null;
    readonly p95SolveMs: number | null;
    readonly maxSolveMs: number | null;
    readonly byEngine: Record<string, number>;
  };
}

/**
 * When an instance stopped costing money. The instance record has no termination time, so for a
 * TERMINATED instance this is the latest sign of life: its last heartbeat, its last busy time, or the
 * last update of a task on it. Live instances run until the snapshot.
 */
export function instanceEndAt(instance: Instance, tasks: readonly TaskRecord[], at: number): number {
  if (instance.state !== 'TERMINATED') return at;
  let end = Math.max(
    instance.launchedAt,
    instance.readyAt ?? 0,
    instance.lastHeartbeatAt ?? 0,
    instance.lastBusyAt ?? 0,
  );
  for (const t of tasks) if (t.instanceId === instance.id) end = Math.max(end, t.updatedAt);
  return Math.min(end, Math.max(at, instance.launchedAt));
}

/** The span a task held its instance: placement until its last update, or until now while active. */
export function taskSpan(task: TaskRecord, at: number): { start: number; end: number } {
  const end = isActiveTask(task) ? at : task.updatedAt;
  return { start: task.startAt, end: Math.max(task.startAt, end) };
}

/** The earliest thing in the snapshot: where time axes start. */
export function snapshotStart(s: FleetSnapshot): number {
  const times = [
    ...s.jobs.map((j) => j.submittedAt),
    ...s.instances.map((i) => i.launchedAt),
    ...s.tasks.map((t) => t.startAt),
  ];
  return times.length > 0 ? Math.min(...times, s.at) : s.at;
}

export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? null;
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;
const pct = (ratio: number | undefined) => (ratio === undefined ? null : round(ratio * 100, 1));

function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) {
    const k = key(item);
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

/** Cycles that ran the planner, oldest first. */
export function solvedCycles(cycles: readonly CycleRecord[]): (CycleRecord & { solveMs: number })[] {
  return cycles
    .filter((c): c is CycleRecord & { solveMs: number } => typeof c.solveMs === 'number')
    .sort((a, b) => a.at - b.at);
}

export function totalCost(s: FleetSnapshot): number {
  let usd = 0;
  for (const i of s.instances) {
    const hours = (instanceEndAt(i, s.tasks, s.at) - i.launchedAt) / 3_600_000;
    usd += Math.max(0, hours) * pricePerHour(i);
  }
  return usd;
}

function jobSummary(jobs: readonly Job[]): ReportSummary['jobs'] {
  return {
    total: jobs.length,
    terminal: jobs.filter((j) => isTerminal(j.status)).length,
    byState: jobsByState(jobs),
    byPolicy: countBy(jobs, (j) => j.spec.policy),
  };
}

function deadlineSummary(jobs: readonly Job[]): ReportSummary['deadline'] {
  const a = deadlineAttainment(jobs);
  const byPolicy: ReportSummary['deadline']['byPolicy'] = {};
  for (const [policy, v] of Object.entries(a.byPolicy) as [PolicyName, (typeof a.byPolicy)[PolicyName]][]) {
    if (v) byPolicy[policy] = { total: v.total, met: v.met, attainmentPct: pct(v.ratio) };
  }
  return { total: a.total, met: a.met, attainmentPct: pct(a.ratio), byPolicy };
}

function solverSummary(cycles: readonly CycleRecord[]): ReportSummary['solver'] {
  const solved = solvedCycles(cycles);
  const ms = solved.map((c) => c.solveMs);
  const r = (v: number | null) => (v === null ? null : round(v, 1));
  return {
    cycles: cycles.length,
    solves: solved.length,
    medianSolveMs: r(percentile(ms, 50)),
    p95SolveMs: r(percentile(ms, 95)),
    maxSolveMs: r(ms.length > 0 ? Math.max(...ms) : null),
    byEngine: countBy(solved, (c) => c.engine ?? 'unknown'),
  };
}

export function summarize(s: FleetSnapshot, title: string): ReportSummary {
  return {
    title,
    generatedAt: new Date(s.at).toISOString(),
    spanSeconds: round((s.at - snapshotStart(s)) / 1000, 1),
    jobs: jobSummary(s.jobs),
    deadline: deadlineSummary(s.jobs),
    instances: {
      launched: s.instances.length,
      byType: countBy(s.instances, (i) => i.type),
      byMarket: countBy(s.instances, (i) => i.market),
      live: s.instances.filter((i) => i.state !== 'TERMINATED').length,
    },
    tasks: { total: s.tasks.length, byState: countBy(s.tasks, (t) => t.state) },
    totalCostUsd: round(totalCost(s), 4),
    solver: solverSummary(s.cycles),
  };
}
