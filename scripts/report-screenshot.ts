/**
 * Opens a tetrafleet HTML report in headless Chromium, saves a full-page screenshot next to it and checks
 * that every chart rendered with its data: each chart element exists, has a non-zero data-points count and
 * non-empty SVG content with a visible size. Prints JSON; exits 1 when a check fails, 4 when there is no
 * browser or no report.
 *
 *   npm run report:screenshot [-- path/to/index.html] [--out shot.png] [--chromium /usr/bin/chromium]
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { CHART_IDS } from '../lib/cli/report/index.ts';

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export interface ChartCheck {
  readonly id: string;
  readonly found: boolean;
  readonly points: number;
  /** Drawn shapes inside the SVG (rect, path, circle, line, text). */
  readonly shapes: number;
  readonly width: number;
  readonly height: number;
  readonly ok: boolean;
}

export interface ScreenshotResult {
  readonly report: string;
  readonly screenshot: string;
  readonly charts: ChartCheck[];
  readonly summaryShown: boolean;
  readonly ok: boolean;
}

/** Renders `reportPath`, writes the PNG to `screenshotPath`, and returns what each chart showed. */
export async function checkReport(
  reportPath: string,
  screenshotPath: string,
  executablePath = '/usr/bin/chromium',
): Promise<ScreenshotResult> {
  const browser = await chromium.launch({ executablePath, args: CHROMIUM_FLAGS, headless: true });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.goto(pathToFileURL(reportPath).href, { waitUntil: 'load' });
    const charts: ChartCheck[] = [];
    for (const id of Object.values(CHART_IDS)) {
      const el = page.locator(`svg[data-testid="${id}"]`);
      if ((await el.count()) === 0) {
        charts.push({ id, found: false, points: 0, shapes: 0, width: 0, height: 0, ok: false });
        continue;
      }
      const points = Number((await el.getAttribute('data-points')) ?? '0');
      const shapes = await el.locator('rect, path, circle, line').count();
      const box = (await el.boundingBox()) ?? { width: 0, height: 0 };
      const ok = points > 0 && shapes > 0 && box.width > 0 && box.height > 0;
      charts.push({
        id,
        found: true,
        points,
        shapes,
        width: Math.round(box.width),
        height: Math.round(box.height),
        ok,
      });
    }
    const summaryShown = (await page.locator('[data-testid="summary"]').count()) === 1;
    await page.screenshot({ path: screenshotPath, fullPage: true });
    return {
      report: reportPath,
      screenshot: screenshotPath,
      charts,
      summaryShown,
      ok: summaryShown && charts.every((c) => c.ok),
    };
  } finally {
    await browser.close();
  }
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { out: { type: 'string' }, chromium: { type: 'string', default: '/usr/bin/chromium' } },
  });
  const report = resolve(positionals[0] ?? 'tetrafleet-report/index.html');
  const executable = values.chromium ?? '/usr/bin/chromium';
  if (!existsSync(report)) {
    process.stderr.write(
      `no report at ${report}: run \`npm start\` (or \`tetrafleet report\`) first, or pass its path\n`,
    );
    return 4;
  }
  if (!existsSync(executable)) {
    process.stderr.write(
      `no chromium at ${executable}: install it with \`apt-get install -y chromium\`, or pass --chromium PATH\n`,
    );
    return 4;
  }
  const shot = resolve(values.out ?? join(dirname(report), 'screenshot.png'));
  const result = await checkReport(report, shot, executable);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  if (!result.ok)
    process.stderr.write(
      `charts without data: ${
        result.charts
          .filter((c) => !c.ok)
          .map((c) => c.id)
          .join(', ') || 'none'
      }${result.summaryShown ? '' : '; summary block missing'}\n`,
    );
  return result.ok ? 0 : 1;
}

// Run as a script, not when a test imports checkReport.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(
        `report screenshot failed: ${error instanceof Error ? error.message : String(error)}\n`,
      );
      process.exit(1);
    },
  );
}
