import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoResult, runDemo } from '../../lib/cli/demo/index.ts';
import { CHART_IDS } from '../../lib/cli/report/index.ts';
import { JOB_STATES } from '../../lib/core/model/job-state.ts';
import { checkReport } from '../../scripts/report-screenshot.ts';

/**
 * The demo end to end: a local cloud, a short seeded workload, the live view, the HTML report, and a
 * clean shutdown. One run serves every assertion of this file (a deploy is slow).
 */

const CHROMIUM = '/usr/bin/chromium';
const out = mkdtempSync(join(tmpdir(), 'tf-demo-'));
const reportDir = join(out, 'report');
const JOBS = 24;
let result: DemoResult;
const frames: string[] = [];
const progress: string[] = [];

interface Proc {
  readonly pid: number;
  readonly ppid: number;
  readonly args: string;
}

function processes(): Proc[] {
  const text = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' });
  return text.split('\n').flatMap((line) => {
    const m = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line);
    return m ? [{ pid: Number(m[1]), ppid: Number(m[2]), args: m[3] ?? '' }] : [];
  });
}

/** Processes below this test process in the process tree. */
function descendants(all: readonly Proc[]): Proc[] {
  const mine = new Set([process.pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of all)
      if (mine.has(p.ppid) && !mine.has(p.pid)) {
        mine.add(p.pid);
        grew = true;
      }
  }
  return all.filter((p) => p.pid !== process.pid && mine.has(p.pid));
}

async function eventually(probe: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 250));
  }
  return true;
}

/** Command lines of this cloud's emulator and of agents below this process still alive after a grace. */
async function leftovers(endpoint: string): Promise<string[]> {
  const port = new URL(endpoint).port;
  const find = () => {
    const all = processes();
    const emulator = new RegExp(`-p ${port}(\\s|$)`);
    const agents = descendants(all).filter((p) => p.args.includes('agent/main.ts'));
    return [...all.filter((p) => emulator.test(p.args)), ...agents];
  };
  await eventually(() => find().length === 0, 15_000);
  return find().map((p) => p.args);
}

beforeAll(async () => {
  result = await runDemo({
    duration: 40,
    seed: 5,
    jobs: JOBS,
    graceSeconds: 240,
    outDir: reportDir,
    stackName: 'tetrafleet-demo-test',
    onFrame: (f) => frames.push(f),
    onProgress: (line) => progress.push(line),
  });
}, 540_000);

afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('tetrafleet demo', () => {
  it('finishes every submitted job and reports counts that add up', () => {
    const s = result.summary;
    expect(result.interrupted).toBe(false);
    expect(result.timedOut).toBe(false);
    expect(result.submitted).toBe(JOBS);
    expect(s.jobs.total).toBe(JOBS);
    expect(s.jobs.terminal).toBe(JOBS);
    expect(JOB_STATES.reduce((sum, st) => sum + s.jobs.byState[st], 0)).toBe(JOBS);
    expect(s.jobs.byState.SUCCEEDED).toBeGreaterThan(0);
    expect(Object.values(s.jobs.byPolicy).reduce((a, b) => a + (b ?? 0), 0)).toBe(JOBS);
    // The gang job runs two tasks, so succeeded jobs need at least one more task than their count.
    expect(s.tasks.total).toBeGreaterThanOrEqual(s.jobs.byState.SUCCEEDED + 1);
    expect(s.deadline.met).toBeLessThanOrEqual(s.deadline.total);
    expect(s.deadline.total).toBe(s.jobs.byPolicy.deadline ?? 0);
    expect(s.instances.launched).toBeGreaterThan(0);
    expect(Object.values(s.instances.byType).reduce((a, b) => a + b, 0)).toBe(s.instances.launched);
    expect(s.totalCostUsd).toBeGreaterThan(0);
    expect(s.solver.solves).toBeGreaterThan(0);
    expect(s.solver.medianSolveMs).not.toBeNull();
  });

  it('writes a self-contained report whose charts carry data, and the same summary as JSON', () => {
    expect(result.reportPath).toBe(join(reportDir, 'index.html'));
    const html = readFileSync(result.reportPath, 'utf8');
    for (const id of Object.values(CHART_IDS)) {
      const points = Number(new RegExp(`data-testid="${id}" data-points="(\\d+)"`).exec(html)?.[1] ?? 0);
      expect(points, id).toBeGreaterThan(0);
    }
    expect(html).not.toMatch(/<script|<link /);
    const json = JSON.parse(readFileSync(join(reportDir, 'summary.json'), 'utf8'));
    expect(json).toEqual(result.summary);
  });

  it('shows the live view while it runs and reports its phases', () => {
    expect(frames.length).toBeGreaterThan(5);
    expect(frames.at(-1)).toContain('SUCCEEDED');
    expect(progress.some((l) => l.startsWith('local cloud: deploy'))).toBe(true);
    expect(progress).toContain(`submitted ${JOBS} jobs`);
    expect(progress.at(-1)).toBe('local cloud stopped');
  });

  it('leaves no emulator or agent process behind', async () => {
    expect(await leftovers(result.endpoint)).toEqual([]);
  });

  it.runIf(existsSync(CHROMIUM))(
    'renders every chart with data in headless chromium',
    async () => {
      const check = await checkReport(result.reportPath, join(reportDir, 'screenshot.png'), CHROMIUM);
      expect(check.charts.filter((c) => !c.ok)).toEqual([]);
      expect(check.summaryShown).toBe(true);
      expect(existsSync(join(reportDir, 'screenshot.png'))).toBe(true);
    },
    120_000,
  );
});

describe('tetrafleet demo interrupted', () => {
  it('stops submitting on abort, still writes the report, and shuts down cleanly', async () => {
    const controller = new AbortController();
    const dir = join(out, 'interrupted');
    let seen = 0;
    const run = await runDemo({
      duration: 60,
      seed: 9,
      jobs: 40,
      outDir: dir,
      stackName: 'tetrafleet-demo-abort',
      signal: controller.signal,
      // Ctrl-C after a few live frames, while submissions are still going on.
      onFrame: () => {
        if (++seen === 3) controller.abort();
      },
    });
    expect(run.interrupted).toBe(true);
    expect(run.submitted).toBeLessThan(40);
    expect(run.summary.jobs.total).toBeLessThanOrEqual(run.submitted);
    expect(existsSync(join(dir, 'index.html'))).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'))).toEqual(run.summary);
    expect(await leftovers(run.endpoint)).toEqual([]);
  }, 300_000);
});
