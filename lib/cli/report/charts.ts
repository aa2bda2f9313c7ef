import type { TaskRecord, TaskState } from '../../core/control/task-record.ts';
import type { Instance } from '../../core/model/instance.ts';
import { type FleetSnapshot, pricePerHour } from '../snapshot.ts';
import { instanceEndAt, type ReportSummary, snapshotStart, solvedCycles, taskSpan } from './summary.ts';
import {
  type Box,
  chartSvg,
  clock,
  emptyNote,
  esc,
  linear,
  niceMax,
  r1,
  timeAxis,
  valueAxis,
} from './svg.ts';

/** Chart ids: the screenshot check and the tests look charts up by these. */
export const CHART_IDS = {
  gantt: 'chart-gantt',
  fleet: 'chart-fleet',
  attainment: 'chart-attainment',
  solver: 'chart-solver',
} as const;

export const TASK_COLORS: Readonly<Record<TaskState, string>> = {
  PLACED: '#a9c4f5',
  DISPATCHED: '#7ea6ee',
  RUNNING: '#2f6fdf',
  SUCCEEDED: '#2e9d5b',
  FAILED: '#d64545',
  CANCELLED: '#9a9a9a',
  LOST: '#e08a2e',
};

const WIDTH = 1000;

/** The time window every time chart shares, so that they line up one under another. */
function window(s: FleetSnapshot): { t0: number; t1: number } {
  const t0 = snapshotStart(s);
  return { t0, t1: Math.max(s.at, t0 + 1000) };
}

const instanceLabel = (i: Instance) => `${i.type} · ${i.market === 'spot' ? 'spot' : 'on-demand'}`;

/**
 * Packs an instance's tasks into sub-lanes so that tasks running side by side do not hide each other:
 * each task takes the first lane free at its start. Returns task -> lane and the lane count.
 */
export function packLanes(
  tasks: readonly TaskRecord[],
  at: number,
): { lane: Map<TaskRecord, number>; count: number } {
  const ends: number[] = [];
  const lane = new Map<TaskRecord, number>();
  const sorted = [...tasks].sort((a, b) => a.startAt - b.startAt);
  for (const t of sorted) {
    const { start, end } = taskSpan(t, at);
    let i = ends.findIndex((e) => e <= start);
    if (i < 0) i = ends.push(end) - 1;
    else ends[i] = end;
    lane.set(t, i);
  }
  return { lane, count: Math.max(1, ends.length) };
}

const LANE_H = 12;

/**
 * Gantt of tasks per instance: one row per instance (its lifetime shaded), one bar per task record from
 * placement to its last update, coloured by the task's state; concurrent tasks stack within the row.
 */
export function ganttChart(s: FleetSnapshot): string {
  const rows = s.instances;
  if (rows.length === 0 || s.tasks.length === 0)
    return chartSvg({
      testId: CHART_IDS.gantt,
      points: 0,
      width: WIDTH,
      height: 80,
      label: 'tasks per instance over time',
      body: emptyNote(WIDTH, 80, 'no tasks ran'),
    });
  const packed = rows.map((inst) =>
    packLanes(
      s.tasks.filter((t) => t.instanceId === inst.id),
      s.at,
    ),
  );
  const heights = packed.map((p) => Math.max(22, p.count * LANE_H + 8));
  const tops = heights.map((_, i) => 10 + heights.slice(0, i).reduce((a, b) => a + b, 0));
  const box: Box = { left: 200, top: 10, width: WIDTH - 220, height: heights.reduce((a, b) => a + b, 0) };
  const { t0, t1 } = window(s);
  const x = linear(t0, t1, box.left, box.left + box.width);
  const names = new Map(s.jobs.map((j) => [j.id, j.spec.name]));
  const lanes: string[] = [];
  const bars: string[] = [];
  rows.forEach((inst, i) => {
    const y = tops[i] ?? 0;
    const h = heights[i] ?? 22;
    const a = x(inst.launchedAt);
    const b = x(instanceEndAt(inst, s.tasks, s.at));
    lanes.push(
      `<g class="lane"><text x="${box.left - 8}" y="${y + h / 2 + 4}" text-anchor="end">${esc(instanceLabel(inst))}</text><rect x="${r1(a)}" y="${y + 2}" width="${r1(Math.max(1, b - a))}" height="${h - 4}" class="life"><title>${esc(`${inst.id} ${inst.state}`)}</title></rect></g>`,
    );
    for (const [t, lane] of packed[i]?.lane ?? [])
      bars.push(taskBar(t, names.get(t.jobId) ?? t.jobId, x, y + 4 + lane * LANE_H, s.at, t0));
  });
  return chartSvg({
    testId: CHART_IDS.gantt,
    points: bars.length,
    width: WIDTH,
    height: box.top + box.height + 30,
    label: 'tasks per instance over time',
    body: `${lanes.join('')}<g class="bars">${bars.join('')}</g>${timeAxis(box, x, t0)}`,
  });
}

function taskBar(
  t: TaskRecord,
  name: string,
  x: (v: number) => number,
  y: number,
  at: number,
  t0: number,
): string {
  const h = LANE_H - 2;
  const { start, end } = taskSpan(t, at);
  const a = x(start);
  const w = Math.max(2, x(end) - a);
  const tip = `${name} task ${t.taskIndex} attempt ${t.attempt}: ${t.state}, ${clock((start - t0) / 1000)}-${clock((end - t0) / 1000)}`;
  return `<rect class="task" data-job="${esc(t.jobId)}" data-state="${t.state}" x="${r1(a)}" y="${r1(y)}" width="${r1(w)}" height="${h}" rx="2" fill="${TASK_COLORS[t.state]}"><title>${esc(tip)}</title></rect>`;
}

interface Step {
  readonly at: number;
  readonly count: number;
  readonly costPerHour: number;
}

/** Fleet size and $/h after every launch and termination, starting from an empty fleet. */
export function fleetSteps(s: FleetSnapshot): Step[] {
  const events: { at: number; delta: number; price: number }[] = [];
  for (const i of s.instances) {
    const price = pricePerHour(i);
    events.push({ at: i.launchedAt, delta: 1, price });
    if (i.state === 'TERMINATED')
      events.push({ at: instanceEndAt(i, s.tasks, s.at), delta: -1, price: -price });
  }
  events.sort((a, b) => a.at - b.at || a.delta - b.delta);
  const steps: Step[] = [];
  let count = 0;
  let cost = 0;
  for (const e of events) {
    count += e.delta;
    cost += e.price;
    const last = steps[steps.length - 1];
    const step = { at: e.at, count, costPerHour: Math.max(0, cost) };
    if (last && last.at === e.at) steps[steps.length - 1] = step;
    else steps.push(step);
  }
  return steps;
}

function stepPath(
  steps: readonly Step[],
  x: (v: number) => number,
  y: (v: number) => number,
  key: 'count' | 'costPerHour',
  t0: number,
  t1: number,
): string {
  let d = `M${r1(x(t0))},${r1(y(0))}`;
  for (const st of steps) d += ` H${r1(x(st.at))} V${r1(y(st[key]))}`;
  return `${d} H${r1(x(t1))}`;
}

/** Fleet size (left axis) and cost per hour (right axis) over time, as step lines. */
export function fleetChart(s: FleetSnapshot): string {
  const steps = fleetSteps(s);
  const height = 240;
  const box: Box = { left: 60, top: 20, width: WIDTH - 130, height: height - 60 };
  if (steps.length === 0)
    return chartSvg({
      testId: CHART_IDS.fleet,
      points: 0,
      width: WIDTH,
      height,
      label: 'fleet size and cost over time',
      body: emptyNote(WIDTH, height, 'no instance was launched'),
    });
  const { t0, t1 } = window(s);
  const x = linear(t0, t1, box.left, box.left + box.width);
  const yCount = linear(0, niceMax(Math.max(...steps.map((st) => st.count))), box.top + box.height, box.top);
  const yCost = linear(
    0,
    niceMax(Math.max(...steps.map((st) => st.costPerHour))),
    box.top + box.height,
    box.top,
  );
  const body = [
    valueAxis(box, yCount, (v) => String(v)),
    valueAxis(box, yCost, (v) => `$${v.toFixed(2)}`, 'right'),
    timeAxis(box, x, t0),
    `<path class="series count" d="${stepPath(steps, x, yCount, 'count', t0, t1)}"/>`,
    `<path class="series cost" d="${stepPath(steps, x, yCost, 'costPerHour', t0, t1)}"/>`,
    ...steps.map(
      (st) =>
        `<circle class="step" cx="${r1(x(st.at))}" cy="${r1(yCount(st.count))}" r="2.5"><title>${esc(`${clock((st.at - t0) / 1000)}: ${st.count} instances, $${st.costPerHour.toFixed(3)}/h`)}</title></circle>`,
    ),
    legend([
      ['count', 'instances (left axis)'],
      ['cost', '$ per hour (right axis)'],
    ]),
  ];
  return chartSvg({
    testId: CHART_IDS.fleet,
    points: steps.length,
    width: WIDTH,
    height,
    label: 'fleet size and cost over time',
    body: body.join(''),
  });
}

function legend(items: readonly [string, string][]): string {
  return `<g class="legend">${items
    .map(
      ([cls, text], i) =>
        `<line class="series ${cls}" x1="${70 + i * 220}" x2="${95 + i * 220}" y1="10" y2="10"/><text x="${100 + i * 220}" y="14">${esc(text)}</text>`,
    )
    .join('')}</g>`;
}

/** Deadline attainment: one bar per policy (and all together), met in green, missed in red. */
export function attainmentChart(summary: ReportSummary): string {
  const rows = Object.entries(summary.deadline.byPolicy).flatMap(([policy, v]) =>
    v && v.total > 0 ? [{ label: policy, ...v }] : [],
  );
  if (rows.length > 1)
    rows.push({
      label: 'all',
      total: summary.deadline.total,
      met: summary.deadline.met,
      attainmentPct: summary.deadline.attainmentPct,
    });
  const rowH = 34;
  const height = Math.max(80, rows.length * rowH + 30);
  if (rows.length === 0)
    return chartSvg({
      testId: CHART_IDS.attainment,
      points: 0,
      width: WIDTH,
      height,
      label: 'deadline attainment',
      body: emptyNote(WIDTH, height, 'no finished job had a deadline'),
    });
  const left = 120;
  const barW = WIDTH - left - 240;
  const body = rows.map((row, i) => {
    const y = 10 + i * rowH;
    const metW = row.total > 0 ? (row.met / row.total) * barW : 0;
    const pct = row.attainmentPct === null ? 'n/a' : `${row.attainmentPct}%`;
    return `<g class="attain" data-policy="${esc(row.label)}"><text x="${left - 8}" y="${y + 18}" text-anchor="end">${esc(row.label)}</text><rect class="met" x="${left}" y="${y + 4}" width="${r1(metW)}" height="${rowH - 12}"><title>${row.met} met</title></rect><rect class="missed" x="${r1(left + metW)}" y="${y + 4}" width="${r1(barW - metW)}" height="${rowH - 12}"><title>${row.total - row.met} missed</title></rect><text x="${left + barW + 10}" y="${y + 18}">${esc(`${row.met}/${row.total} met (${pct})`)}</text></g>`;
  });
  return chartSvg({
    testId: CHART_IDS.attainment,
    points: rows.length,
    width: WIDTH,
    height,
    label: 'deadline attainment',
    body: body.join(''),
  });
}

/** The planner's time per schedule cycle, one bar per cycle that solved, coloured by engine. */
export function solverChart(s: FleetSnapshot): string {
  const cycles = solvedCycles(s.cycles);
  const height = 220;
  const box: Box = { left: 60, top: 20, width: WIDTH - 90, height: height - 60 };
  if (cycles.length === 0)
    return chartSvg({
      testId: CHART_IDS.solver,
      points: 0,
      width: WIDTH,
      height,
      label: 'solver time per cycle',
      body: emptyNote(WIDTH, height, 'no schedule cycle ran the planner'),
    });
  const { t0, t1 } = window(s);
  const x = linear(t0, t1, box.left, box.left + box.width);
  const y = linear(0, niceMax(Math.max(...cycles.map((c) => c.solveMs))), box.top + box.height, box.top);
  const barW = Math.max(1.5, Math.min(8, (box.width / cycles.length) * 0.7));
  const bars = cycles.map((c) => {
    const top = y(c.solveMs);
    const gap = c.gap === undefined ? '' : `, gap ${(c.gap * 100).toFixed(2)}%`;
    const tip = `${clock((c.at - t0) / 1000)} ${c.engine ?? 'unknown'}: ${c.solveMs.toFixed(1)} ms${gap}`;
    return `<rect class="cycle ${c.engine === 'greedy' ? 'greedy' : 'milp'}" x="${r1(x(c.at) - barW / 2)}" y="${r1(top)}" width="${r1(barW)}" height="${r1(Math.max(1, box.top + box.height - top))}"><title>${esc(tip)}</title></rect>`;
  });
  return chartSvg({
    testId: CHART_IDS.solver,
    points: cycles.length,
    width: WIDTH,
    height,
    label: 'solver time per cycle',
    body: `${valueAxis(box, y, (v) => `${v} ms`)}${timeAxis(box, x, t0)}<g class="bars">${bars.join('')}</g>`,
  });
}
