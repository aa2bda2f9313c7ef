import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CliEnvironmentError, CliUsageError, EXIT } from '../../../lib/cli/errors.ts';
import {
  attainmentChart,
  fleetChart,
  fleetSteps,
  ganttChart,
  packLanes,
  solverChart,
} from '../../../lib/cli/report/charts.ts';
import { renderReport, writeReport } from '../../../lib/cli/report/index.ts';
import { instanceEndAt, summarize } from '../../../lib/cli/report/summary.ts';
import { clock, niceMax, ticks } from '../../../lib/cli/report/svg.ts';
import { exitCodeOf } from '../../../lib/cli/run.ts';
import { fixture, instance, job, s, task } from './report-fixture.ts';

const count = (html: string, re: RegExp) => html.match(re)?.length ?? 0;
const pointsOf = (svg: string) => Number(/data-points="(\d+)"/.exec(svg)?.[1]);

describe('report charts', () => {
  it('draws one Gantt bar per task record, in one row per instance', () => {
    const svg = ganttChart(fixture());
    expect(count(svg, /<rect class="task"/g)).toBe(5);
    expect(pointsOf(svg)).toBe(5);
    expect(count(svg, /<g class="lane">/g)).toBe(3);
    expect(svg).toContain('g5.xlarge · spot');
    expect(svg).toContain('data-state="LOST"');
  });

  it('stacks tasks that overlap on an instance into separate lanes', () => {
    const a = task('a', 'i-1', { startAt: s(0), updatedAt: s(10) });
    const b = task('b', 'i-1', { startAt: s(5), updatedAt: s(15) });
    const c = task('c', 'i-1', { startAt: s(12), updatedAt: s(20) });
    const { lane, count: lanes } = packLanes([a, b, c], s(30));
    expect(lanes).toBe(2);
    expect([lane.get(a), lane.get(b), lane.get(c)]).toEqual([0, 1, 0]);
  });

  it('steps the fleet size and cost at every launch and termination', () => {
    const steps = fleetSteps(fixture());
    expect(steps.map((st) => st.count)).toEqual([1, 2, 3, 2]);
    expect(steps.map((st) => st.at)).toEqual([s(0), s(10), s(30), s(50)]);
    expect(steps[2]?.costPerHour).toBeCloseTo(0.08925 * 2 + 0.4024, 6);
    expect(pointsOf(fleetChart(fixture()))).toBe(4);
  });

  it('draws one solver bar per cycle that ran the planner, coloured by engine', () => {
    const svg = solverChart(fixture());
    expect(pointsOf(svg)).toBe(2);
    expect(count(svg, /<rect class="cycle milp"/g)).toBe(1);
    expect(count(svg, /<rect class="cycle greedy"/g)).toBe(1);
  });

  it('draws deadline attainment per policy with met and missed parts', () => {
    const snap = fixture();
    snap.jobs.push(job('e', { spec: { policy: 'fifo' } }));
    const svg = attainmentChart(summarize(snap, 't'));
    expect(pointsOf(svg)).toBe(3);
    expect(svg).toContain('data-policy="deadline"');
    expect(svg).toContain('1/2 met (50%)');
    expect(svg).toContain('data-policy="all"');
  });

  it('shows a note and zero data points when nothing ran', () => {
    const empty = { at: s(10), jobs: [], instances: [], tasks: [], cycles: [] };
    for (const svg of [
      ganttChart(empty),
      fleetChart(empty),
      solverChart(empty),
      attainmentChart(summarize(empty, 't')),
    ]) {
      expect(pointsOf(svg)).toBe(0);
      expect(svg).toContain('class="empty"');
    }
  });
});

describe('report summary', () => {
  it('counts jobs, attainment, instances, cost and solve time', () => {
    const sum = summarize(fixture(), 'demo');
    expect(sum.jobs.total).toBe(4);
    expect(sum.jobs.terminal).toBe(3);
    expect(sum.jobs.byState.SUCCEEDED).toBe(3);
    expect(sum.jobs.byState.RUNNING).toBe(1);
    expect(sum.deadline).toMatchObject({ total: 2, met: 1, attainmentPct: 50 });
    expect(sum.instances).toMatchObject({ launched: 3, live: 2, byType: { 'c7i.large': 2, 'g5.xlarge': 1 } });
    expect(sum.totalCostUsd).toBeCloseTo((50 * 0.08925 + 90 * 0.08925 + 70 * 0.4024) / 3600, 4);
    expect(sum.solver).toMatchObject({ cycles: 3, solves: 2, medianSolveMs: 20, maxSolveMs: 30 });
    expect(sum.spanSeconds).toBe(100);
  });

  it('ends a terminated instance at its last heartbeat or task update, a live one at the snapshot', () => {
    const snap = fixture();
    const [dead, live] = snap.instances;
    expect(instanceEndAt(dead ?? instance('x'), snap.tasks, snap.at)).toBe(s(50));
    expect(instanceEndAt(live ?? instance('x'), snap.tasks, snap.at)).toBe(s(100));
    const late = task('z', 'i-9', { updatedAt: s(70) });
    expect(
      instanceEndAt(instance('i-9', { state: 'TERMINATED', lastHeartbeatAt: s(60) }), [late], s(100)),
    ).toBe(s(70));
  });
});

describe('report page', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tf-report-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('renders a self-contained page with the four charts and the summary', () => {
    const { html } = renderReport(fixture(), { title: 'demo <run>' });
    for (const id of ['chart-gantt', 'chart-fleet', 'chart-attainment', 'chart-solver', 'summary'])
      expect(html).toContain(`data-testid="${id}"`);
    expect(html).toContain('<title>demo &lt;run&gt;</title>');
    expect(html).not.toMatch(/<script|<link|src="http/);
    expect(count(html, /<tr>/g)).toBeGreaterThanOrEqual(4 + 1);
  });

  it('writes index.html and summary.json with the same numbers', async () => {
    const { path, summary } = await writeReport(fixture(), join(dir, 'out'), { title: 'demo' });
    expect(path).toBe(join(dir, 'out', 'index.html'));
    expect(readFileSync(path, 'utf8')).toContain('50%');
    expect(JSON.parse(readFileSync(join(dir, 'out', 'summary.json'), 'utf8'))).toEqual(summary);
  });

  it('creates missing levels of the directory', async () => {
    const { path } = await writeReport(fixture(), join(dir, 'deep', 'er'));
    expect(path).toBe(join(dir, 'deep', 'er', 'index.html'));
  });

  it('fails with exit 2 when the directory is an existing file, or lies under one', async () => {
    const file = join(dir, 'taken.html');
    writeFileSync(file, 'x');
    for (const target of [file, join(file, 'sub')]) {
      const error = await writeReport(fixture(), target).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CliUsageError);
      expect((error as Error).message).toBe(
        `${file} exists and is not a directory: choose another report directory (--out)`,
      );
      expect(exitCodeOf(error)).toBe(EXIT.usage);
    }
  });

  it.runIf(existsSync('/proc/self'))(
    'fails with exit 4 where the filesystem refuses a directory',
    async () => {
      for (const target of ['/proc/nope', '/proc/nope/deeper']) {
        const error = await writeReport(fixture(), target).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(CliEnvironmentError);
        expect((error as Error).message).toMatch(
          /^cannot create the report directory \/proc\/nope: E[A-Z]+$/,
        );
        expect(exitCodeOf(error)).toBe(EXIT.environment);
      }
    },
  );
});

describe('svg helpers', () => {
  it('picks round ticks and axis bounds', () => {
    expect(ticks(0, 10, 5)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceMax(7)).toBe(8);
    expect(niceMax(0)).toBe(1);
    expect(niceMax(346)).toBe(400);
    expect(clock(125)).toBe('2:05');
    expect(clock(3725)).toBe('1:02:05');
  });
});
