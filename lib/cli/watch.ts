import type { TaskRecord } from '../core/control/task-record.ts';
import { isActiveTask } from '../core/control/task-record.ts';
import type { Instance } from '../core/model/instance.ts';
import type { Job } from '../core/model/job.ts';
import { JOB_STATES, type JobStatus } from '../core/model/job-state.ts';
import type { CycleRecord } from '../core/ports.ts';
import {
  ago,
  bar,
  type Colour,
  clockTime,
  formatDollars,
  formatDuration,
  formatPercent,
  formatTable,
  padEnd,
  paint,
  truncate,
} from './format.ts';
import {
  type FleetSnapshot,
  fleetCostPerHour,
  jobsByState,
  liveInstances,
  pricePerHour,
  utilisationOf,
} from './snapshot.ts';

/**
 * The live terminal view (`tetrafleet watch`, the demo): one frame rendered from one snapshot. Pure, so
 * a fixed snapshot gives a fixed frame; the caller clears the screen and prints it.
 */
export interface WatchFrameOptions {
  /** Terminal columns; every line is cut to fit. */
  readonly width: number;
  /** ANSI colours. */
  readonly color: boolean;
  /** Rows of running jobs to show. @default 8 */
  readonly activeRows?: number;
  /** Rows of recent events to show. @default 8 */
  readonly eventRows?: number;
}

export const STATE_COLOURS: Readonly<Record<JobStatus, Colour>> = {
  PENDING: 'yellow',
  PLACED: 'cyan',
  LAUNCHING: 'magenta',
  RUNNING: 'blue',
  SUCCEEDED: 'green',
  FAILED: 'red',
  CANCELLED: 'grey',
  EXPIRED: 'red',
};

export function renderWatchFrame(snapshot: FleetSnapshot, opts: WatchFrameOptions): string {
  const width = Math.max(40, opts.width);
  const sections = [
    headerLines(snapshot, opts.color),
    jobStateLines(snapshot.jobs, width, opts.color),
    activeJobLines(snapshot, width, opts.activeRows ?? 8, opts.color),
    fleetLines(snapshot, opts.color),
    solverLines(snapshot.cycles, snapshot.at, opts.color),
    eventLines(snapshot, opts.eventRows ?? 8, opts.color),
  ];
  return sections
    .filter((s) => s.length > 0)
    .map((s) => s.map((line) => truncate(line, width)).join('\n'))
    .join('\n\n');
}

function headerLines(s: FleetSnapshot, color: boolean): string[] {
  const live = liveInstances(s.instances);
  return [
    `${paint('tetrafleet', 'bold', color)}  ${clockTime(s.at)} UTC  ${s.jobs.length} jobs  ` +
      `${live.length} ${live.length === 1 ? 'instance' : 'instances'}  ${formatDollars(fleetCostPerHour(s.instances))}/h`,
  ];
}

function section(title: string, color: boolean): string {
  return paint(title, 'bold', color);
}

/** One row per job state with a bar scaled to the share of all jobs. */
function jobStateLines(jobs: readonly Job[], width: number, color: boolean): string[] {
  const counts = jobsByState(jobs);
  const total = Math.max(1, jobs.length);
  const barWidth = Math.max(10, Math.min(40, width - 24));
  return [
    section('JOBS', color),
    ...JOB_STATES.map((state) => {
      const n = counts[state];
      const label = padEnd(paint(state, STATE_COLOURS[state], color), 10);
      return `  ${label} ${String(n).padStart(4)}  ${paint(bar(n / total, barWidth), STATE_COLOURS[state], color)}`;
    }),
  ];
}

/**
 * Jobs holding resources, each with a bar for how far its current tasks are between their start and
 * their expected end (capped below 100% until the job reports it finished).
 */
function activeJobLines(s: FleetSnapshot, width: number, rows: number, color: boolean): string[] {
  const active = s.jobs.filter(
    (j) => j.status === 'RUNNING' || j.status === 'PLACED' || j.status === 'LAUNCHING',
  );
  if (active.length === 0) return [];
  const byJob = groupTasks(s.tasks);
  const barWidth = Math.max(10, Math.min(30, width - 60));
  const shown = [...active].sort((a, b) => a.submittedAt - b.submittedAt).slice(0, rows);
  const lines = shown.map((job) => {
    const tasks = currentAttempt(byJob.get(job.id) ?? []);
    const p = progressOf(tasks, s.at);
    const where = [...new Set(tasks.map((t) => typeOf(s.instances, t.instanceId)))].join(',') || '-';
    const name = padEnd(job.spec.name.slice(0, 24), 24);
    const state = padEnd(paint(job.status, STATE_COLOURS[job.status], color), 9);
    return `  ${name} ${state} ${bar(p, barWidth)} ${formatPercent(p).padStart(4)}  ${where}`;
  });
  const more = active.length - shown.length;
  return [section('ACTIVE', color), ...lines, ...(more > 0 ? [`  … and ${more} more`] : [])];
}

function groupTasks(tasks: readonly TaskRecord[]): Map<string, TaskRecord[]> {
  const out = new Map<string, TaskRecord[]>();
  for (const t of tasks) {
    const list = out.get(t.jobId) ?? [];
    list.push(t);
    out.set(t.jobId, list);
  }
  return out;
}

/** The tasks of the job's latest attempt (a retry replaces earlier records). */
export function currentAttempt(tasks: readonly TaskRecord[]): TaskRecord[] {
  const latest = Math.max(-1, ...tasks.map((t) => t.attempt));
  return tasks.filter((t) => t.attempt === latest);
}

/** 0..0.99 for active tasks by elapsed over expected time; 0 before they start. */
export function progressOf(tasks: readonly TaskRecord[], now: number): number {
  const active = tasks.filter(isActiveTask);
  if (active.length === 0) return 0;
  const fractions = active.map((t) => {
    if (t.state !== 'RUNNING' || now <= t.startAt) return 0;
    const span = Math.max(1, t.expectedEndAt - t.startAt);
    return Math.min(0.99, (now - t.startAt) / span);
  });
  return Math.min(...fractions);
}

function typeOf(instances: readonly Instance[], id: string): string {
  return instances.find((i) => i.id === id)?.type ?? id;
}

interface TypeRow {
  readonly type: string;
  readonly market: string;
  readonly count: number;
  readonly running: number;
  readonly util: number;
  readonly cost: number;
}

/** Live instances grouped by type and market: how many, mean utilisation, and what they cost per hour. */
export function fleetRows(instances: readonly Instance[], tasks: readonly TaskRecord[]): TypeRow[] {
  const groups = new Map<string, Instance[]>();
  for (const i of liveInstances(instances)) {
    const key = `${i.type}|${i.market}`;
    groups.set(key, [...(groups.get(key) ?? []), i]);
  }
  return [...groups.entries()]
    .map(([key, list]) => {
      const [type = '', market = ''] = key.split('|');
      const util = list.reduce((sum, i) => sum + utilisationOf(i, tasks).max, 0) / list.length;
      return {
        type,
        market,
        count: list.length,
        running: list.filter((i) => i.state === 'RUNNING').length,
        util,
        cost: list.reduce((sum, i) => sum + pricePerHour(i), 0),
      };
    })
    .sort((a, b) => a.type.localeCompare(b.type) || a.market.localeCompare(b.market));
}

function fleetLines(s: FleetSnapshot, color: boolean): string[] {
  const rows = fleetRows(s.instances, s.tasks);
  if (rows.length === 0) return [section('FLEET', color), '  no live instances'];
  const table = formatTable<TypeRow>(
    [
      { header: 'TYPE', value: (r) => r.type },
      { header: 'MARKET', value: (r) => r.market },
      { header: 'COUNT', value: (r) => String(r.count), right: true },
      { header: 'RUNNING', value: (r) => String(r.running), right: true },
      { header: 'UTIL', value: (r) => `${bar(r.util, 10)} ${formatPercent(r.util).padStart(4)}` },
      { header: '$/H', value: (r) => formatDollars(r.cost), right: true },
    ],
    rows,
  );
  return [section('FLEET', color), ...table.split('\n').map((l) => `  ${l}`)];
}

function solverLines(cycles: readonly CycleRecord[], now: number, color: boolean): string[] {
  const last = cycles[0];
  if (!last) return [section('SOLVER', color), '  no schedule cycle yet'];
  const parts = [
    `last cycle ${ago(last.at, now)}`,
    last.engine ? `engine ${last.engine}` : undefined,
    last.solveMs !== undefined ? `solve ${formatDuration(last.solveMs)}` : undefined,
    last.gap !== undefined ? `gap ${(last.gap * 100).toFixed(2)}%` : undefined,
    last.unplaced !== undefined ? `${last.unplaced} unplaced` : undefined,
  ].filter((p): p is string => p !== undefined);
  return [section('SOLVER', color), `  ${parts.join('  ')}`];
}

export interface WatchEvent {
  readonly at: number;
  readonly text: string;
  readonly colour: Colour;
}

/**
 * Recent events, newest first: each job's latest state change (its `updatedAt`) and each instance's
 * launch. The store keeps current state only, so older changes of the same job are not shown.
 */
export function recentEvents(s: FleetSnapshot, limit: number): WatchEvent[] {
  const jobEvents = s.jobs.map((j) => ({
    at: j.updatedAt,
    text: `${j.spec.name} ${j.status.toLowerCase()}`,
    colour: STATE_COLOURS[j.status],
  }));
  const launches = s.instances.map((i) => ({
    at: i.launchedAt,
    text: `launched ${i.type} (${i.market}) ${i.id}`,
    colour: 'cyan' as Colour,
  }));
  return [...jobEvents, ...launches]
    .filter((e) => e.at <= s.at)
    .sort((a, b) => b.at - a.at || a.text.localeCompare(b.text))
    .slice(0, limit);
}

function eventLines(s: FleetSnapshot, rows: number, color: boolean): string[] {
  const events = recentEvents(s, rows);
  if (events.length === 0) return [];
  return [
    section('EVENTS', color),
    ...events.map((e) => `  ${clockTime(e.at)}  ${paint(e.text, e.colour, color)}`),
  ];
}
