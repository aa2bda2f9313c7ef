import { type ReportSummary, writeReport } from '../report/index.ts';
import { takeSnapshot } from '../snapshot.ts';
import type { CliSource } from '../source.ts';
import type { CommandOutput } from './output.ts';

export interface ReportCommandOptions {
  /** @default 'tetrafleet-report' */
  readonly out?: string;
  readonly title?: string;
}

/** Reads the whole fleet's history once and writes the HTML report and summary.json. */
export async function reportCommand(
  source: CliSource,
  opts: ReportCommandOptions = {},
): Promise<CommandOutput<{ path: string; summary: ReportSummary }>> {
  const snapshot = await takeSnapshot(source);
  const { path, summary } = await writeReport(snapshot, opts.out ?? 'tetrafleet-report', {
    title: opts.title ?? `tetrafleet report (${source.stackName})`,
  });
  return { data: { path, summary }, text: `report written to ${path}\n${summaryText(summary)}` };
}

/** The summary as a few lines for the terminal (the demo and `report` print it). */
export function summaryText(s: ReportSummary): string {
  const states = Object.entries(s.jobs.byState)
    .filter(([, n]) => n > 0)
    .map(([state, n]) => `${n} ${state.toLowerCase()}`)
    .join(', ');
  const types = Object.entries(s.instances.byType)
    .map(([type, n]) => `${n} x ${type}`)
    .join(', ');
  const pct = (x: number | null) => (x === null ? '-' : `${x}%`);
  const ms = (x: number | null) => (x === null ? '-' : `${Math.round(x)} ms`);
  return [
    `  jobs        ${s.jobs.total} (${states || 'none'})`,
    `  deadlines   ${s.deadline.met} of ${s.deadline.total} met (${pct(s.deadline.attainmentPct)})`,
    `  instances   ${s.instances.launched} launched${types ? ` (${types})` : ''}`,
    `  cost        $${s.totalCostUsd.toFixed(4)}`,
    `  solver      ${s.solver.solves} solves, median ${ms(s.solver.medianSolveMs)}, p95 ${ms(s.solver.p95SolveMs)}`,
  ].join('\n');
}
