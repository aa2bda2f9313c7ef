import { mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { CliEnvironmentError, CliUsageError } from '../errors.ts';
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
  await makeDirectory(out);
  const path = join(out, 'index.html');
  try {
    await writeFile(path, html);
    await writeFile(join(out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  } catch (error) {
    throw new CliEnvironmentError(`cannot write the report in ${out}: ${codeOf(error)}`, { cause: error });
  }
  return { path, summary };
}

/**
 * Creates `dir` one level at a time below its nearest existing ancestor. Node's recursive mkdir retries a
 * level it cannot create under a pseudo filesystem such as /proc (ENOENT forever), and reports an existing
 * file as a bare EEXIST; here each is one clear error.
 */
async function makeDirectory(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let at = dir; ; at = dirname(at)) {
    const kind = await kindOf(at);
    if (kind === 'directory') break;
    if (kind === 'other')
      throw new CliUsageError(`${at} exists and is not a directory: choose another report directory (--out)`);
    missing.unshift(at);
    if (dirname(at) === at) break;
  }
  for (const level of missing)
    await mkdir(level).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return;
      throw new CliEnvironmentError(`cannot create the report directory ${level}: ${codeOf(error)}`, {
        cause: error,
      });
    });
}

async function kindOf(path: string): Promise<'directory' | 'other' | 'missing'> {
  try {
    return (await stat(path)).isDirectory() ? 'directory' : 'other';
  } catch (error) {
    // ENOTDIR: a file above it; the walk up reaches that file and says so.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing';
    throw new CliEnvironmentError(`cannot use ${path} for the report: ${codeOf(error)}`, { cause: error });
  }
}

function codeOf(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? String(error);
}
