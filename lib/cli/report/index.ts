import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { FleetSnapshot } from '../snapshot.ts';
import { renderReport } from './html.ts';
import type { ReportSummary } from './summary.ts';

export { CHART_IDS } from './charts.ts';
export { renderReport } from './html.ts';
export type { ReportSummary } from './summary.ts';
export { summarize } from './summary.ts';

export interface ReportOptions {
  /** @default 'tetrafleet report' */
  readonly title?: string;
}

/**
 * Writes `index.html` (self-contained: inline CSS and SVG, no script) and `summary.json` into `dir`,
 * creating it. Returns the absolute path of the HTML file and the summary numbers.
 */
export async function writeReport(
  snapshot: FleetSnapshot,
  dir: string,
  options: ReportOptions = {},
): Promise<{ path: string; summary: ReportSummary }> {
  const { html, summary } = renderReport(snapshot, { title: options.title ?? 'tetrafleet report' });
  const out = resolve(dir);
  await mkdir(out, { recursive: true });
  const path = join(out, 'index.html');
  await writeFile(path, html);
  await writeFile(join(out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  return { path, summary };
}
