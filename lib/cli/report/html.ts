import type { Job } from '../../core/model/job.ts';
import { JOB_STATES } from '../../core/model/job-state.ts';
import { type FleetSnapshot, metDeadline } from '../snapshot.ts';
import { attainmentChart, fleetChart, ganttChart, solverChart, TASK_COLORS } from './charts.ts';
import { type ReportSummary, snapshotStart, summarize } from './summary.ts';
import { clock, esc } from './svg.ts';

const CSS = `
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px auto; max-width: 1040px; color: #1d2330; background: #fafbfc; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 28px 0 8px; }
.sub { color: #5b6475; margin: 0 0 16px; } .note { color: #5b6475; font-size: 12px; margin: 4px 0 0; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 10px; }
.tile { background: #fff; border: 1px solid #e1e5ec; border-radius: 8px; padding: 10px 12px; }
.tile .v { font-size: 22px; font-weight: 600; } .tile .k { color: #5b6475; font-size: 12px; }
section.chart { background: #fff; border: 1px solid #e1e5ec; border-radius: 8px; padding: 12px; overflow-x: auto; }
svg { font-size: 11px; display: block; max-width: 100%; height: auto; }
svg text { fill: #3b4352; } svg .empty { fill: #8a93a3; font-size: 14px; }
.axis line { stroke: #9aa3b2; stroke-width: 1; } .axis .grid { stroke: #eceff4; }
.life { fill: #eef2f8; stroke: #dfe5ee; }
.series { fill: none; stroke-width: 2; } .series.count { stroke: #2f6fdf; } .series.cost { stroke: #d9822b; stroke-dasharray: 5 3; }
circle.step { fill: #2f6fdf; }
rect.met { fill: #2e9d5b; } rect.missed { fill: #e5a1a1; }
rect.cycle.milp { fill: #6b5bd2; } rect.cycle.greedy { fill: #d9822b; }
table { border-collapse: collapse; width: 100%; background: #fff; font-size: 12px; }
th, td { border-bottom: 1px solid #eceff4; padding: 4px 8px; text-align: left; } th { color: #5b6475; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.key { display: inline-flex; align-items: center; gap: 4px; margin-right: 12px; font-size: 12px; }
.key i { width: 12px; height: 12px; border-radius: 2px; display: inline-block; }
`;

function tile(value: string, label: string): string {
  return `<div class="tile"><div class="v">${esc(value)}</div><div class="k">${esc(label)}</div></div>`;
}

function table(
  head: readonly string[],
  rows: readonly (readonly (string | number)[])[],
  testId: string,
): string {
  const th = head.map((h) => `<th>${esc(h)}</th>`).join('');
  const body = rows
    .map(
      (r) =>
        `<tr>${r.map((c) => `<td${typeof c === 'number' ? ' class="num"' : ''}>${esc(c)}</td>`).join('')}</tr>`,
    )
    .join('');
  return `<table data-testid="${testId}"><thead><tr>${th}</tr></thead><tbody>${body}</tbody></table>`;
}

const usd = (x: number) => `$${x.toFixed(x < 1 ? 4 : 2)}`;

function summaryBlock(s: ReportSummary): string {
  const pct = s.deadline.attainmentPct === null ? 'n/a' : `${s.deadline.attainmentPct}%`;
  const ms = s.solver.medianSolveMs === null ? 'n/a' : `${s.solver.medianSolveMs} ms`;
  const tiles = [
    tile(`${s.jobs.terminal}/${s.jobs.total}`, 'jobs finished'),
    tile(String(s.jobs.byState.SUCCEEDED), 'succeeded'),
    tile(pct, `deadline attainment (${s.deadline.met}/${s.deadline.total})`),
    tile(String(s.instances.launched), 'instances launched'),
    tile(usd(s.totalCostUsd), 'total cost at catalog prices'),
    tile(ms, `median solve time (${s.solver.solves} solves)`),
  ].join('');
  const states = JOB_STATES.filter((st) => s.jobs.byState[st] > 0).map(
    (st) => [st, s.jobs.byState[st]] as const,
  );
  const types = Object.entries(s.instances.byType).sort(([a], [b]) => a.localeCompare(b));
  return `<section data-testid="summary"><div class="tiles">${tiles}</div>
<h2>Jobs by state at the end of the run</h2>${table(['state', 'jobs'], states, 'summary-states')}
<h2>Instances launched by type</h2>${table(['type', 'instances'], types, 'summary-types')}</section>`;
}

function jobRows(snapshot: FleetSnapshot): (string | number)[][] {
  const t0 = snapshotStart(snapshot);
  const secs = (a?: number, b?: number) =>
    a !== undefined && b !== undefined ? ((b - a) / 1000).toFixed(1) : '';
  return snapshot.jobs.map((j: Job) => {
    const met = metDeadline(j);
    return [
      j.spec.name,
      j.spec.policy,
      j.spec.gang > 1 ? `gang ${j.spec.gang}` : '',
      j.status,
      clock((j.submittedAt - t0) / 1000),
      secs(j.submittedAt, j.startedAt),
      secs(j.startedAt, j.finishedAt),
      j.spec.utility ? `${j.spec.utility.deadlineSeconds}s` : '',
      met === undefined ? '' : met ? 'met' : 'missed',
    ];
  });
}

function chartSection(title: string, note: string, svg: string): string {
  return `<h2>${esc(title)}</h2><section class="chart">${svg}<p class="note">${note}</p></section>`;
}

/** The whole report page: summary, four charts and a jobs table; inline CSS and SVG only. */
export function renderReport(
  snapshot: FleetSnapshot,
  options: { title: string },
): { html: string; summary: ReportSummary } {
  const summary = summarize(snapshot, options.title);
  const keys = Object.entries(TASK_COLORS)
    .map(
      ([state, color]) =>
        `<span class="key"><i style="background:${color}"></i>${state.toLowerCase()}</span>`,
    )
    .join('');
  const charts = [
    chartSection(
      'Tasks per instance over time',
      `${keys}<br>Bars run from placement to the task's last update. Rows are instances, shaded while up. Instance records carry no termination time, so a terminated instance ends at its last heartbeat or task update.`,
      ganttChart(snapshot),
    ),
    chartSection(
      'Fleet size and cost over time',
      'Step lines from each launch and termination (termination derived as above); cost at catalog on-demand or spot prices.',
      fleetChart(snapshot),
    ),
    chartSection(
      'Deadline attainment',
      'Finished jobs with a deadline; met means SUCCEEDED within deadlineSeconds of submission.',
      attainmentChart(summary),
    ),
    chartSection(
      'Solver time per schedule cycle',
      `<span class="key"><i style="background:#6b5bd2"></i>milp</span><span class="key"><i style="background:#d9822b"></i>greedy</span> Cycles that ran the planner, from the recent cycle records.`,
      solverChart(snapshot),
    ),
  ];
  const jobs = table(
    ['job', 'policy', 'gang', 'state', 'submitted', 'wait s', 'run s', 'deadline', 'outcome'],
    jobRows(snapshot),
    'jobs-table',
  );
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(options.title)}</title><style>${CSS}</style></head>
<body><h1>${esc(options.title)}</h1>
<p class="sub">Snapshot at ${esc(summary.generatedAt)}, covering ${clock(summary.spanSeconds)} (m:ss) from the first submission or launch.</p>
${summaryBlock(summary)}
${charts.join('\n')}
<h2>Jobs</h2>${jobs}
</body></html>
`;
  return { html, summary };
}
