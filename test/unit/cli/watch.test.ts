import { describe, expect, it } from 'vitest';
import { watchData } from '../../../lib/cli/commands/watch.ts';
import { visibleLength } from '../../../lib/cli/format.ts';
import type { FleetSnapshot } from '../../../lib/cli/snapshot.ts';
import { fleetRows, progressOf, recentEvents, renderWatchFrame } from '../../../lib/cli/watch.ts';
import type { TaskRecord } from '../../../lib/core/control/task-record.ts';
import type { Instance } from '../../../lib/core/model/instance.ts';
import type { Job } from '../../../lib/core/model/job.ts';
import { JobSpecSchema } from '../../../lib/core/model/job.ts';

const T0 = Date.UTC(2026, 10, 25, 12, 0, 0);
const s = (seconds: number) => T0 + seconds * 1000;

function job(id: string, status: Job['status'], overrides: Partial<Job> = {}): Job {
  return {
    id,
    spec: JobSpecSchema.parse({
      name: id.replace('job-', ''),
      task: { kind: 'command', command: '/bin/true' },
      alternatives: [{ requirement: { vcpu: 1, memoryMiB: 1024 }, durationSeconds: 100 }],
      utility: { deadlineSeconds: 600, value: 10 },
    }),
    status,
    version: 1,
    submittedAt: s(0),
    updatedAt: s(10),
    attempts: 0,
    ...overrides,
  };
}

function instance(id: string, type: string, overrides: Partial<Instance> = {}): Instance {
  return {
    id,
    type,
    market: 'on-demand',
    state: 'RUNNING',
    capacity: { vcpu: 2, memoryMiB: 4096, gpus: type.startsWith('g5') ? 1 : 0 },
    launchedAt: s(5),
    version: 1,
    ...overrides,
  };
}

function task(jobId: string, instanceId: string, overrides: Partial<TaskRecord> = {}): TaskRecord {
  return {
    jobId,
    taskIndex: 0,
    attempt: 0,
    instanceId,
    state: 'RUNNING',
    alternative: 0,
    resources: { vcpu: 1, memoryMiB: 1024, gpus: 0 },
    gpuIndices: [],
    startAt: s(20),
    expectedEndAt: s(120),
    updatedAt: s(20),
    ...overrides,
  };
}

/** A small fleet at T0 + 70 s: one job running half way, one done, one waiting. */
const snapshot: FleetSnapshot = {
  at: s(70),
  jobs: [
    job('job-train', 'RUNNING', { updatedAt: s(21), startedAt: s(21) }),
    job('job-etl', 'SUCCEEDED', { updatedAt: s(60), startedAt: s(22), finishedAt: s(60) }),
    job('job-wait', 'PENDING', { updatedAt: s(30), submittedAt: s(30) }),
  ],
  instances: [
    instance('i-cpu', 'c7i.large'),
    instance('i-gpu', 'g5.xlarge', { market: 'spot', launchedAt: s(8) }),
    instance('i-old', 'c7i.xlarge', { state: 'TERMINATED', launchedAt: s(1) }),
  ],
  tasks: [
    task('job-train', 'i-cpu'),
    task('job-etl', 'i-gpu', { state: 'SUCCEEDED', startAt: s(22), updatedAt: s(60), exitCode: 0 }),
  ],
  cycles: [
    { cycleId: 'c2', at: s(68), engine: 'highs', solveMs: 42, gap: 0.0125, unplaced: 1, explanations: {} },
    { cycleId: 'c1', at: s(66), engine: 'highs', solveMs: 40, explanations: {} },
  ],
};

describe('renderWatchFrame', () => {
  const frame = renderWatchFrame(snapshot, { width: 100, color: false });
  const lines = frame.split('\n');

  it('opens with the time, job count, live instances and fleet cost', () => {
    // c7i.large on-demand + g5.xlarge spot, at catalog prices; the terminated one costs nothing.
    expect(lines[0]).toMatch(/^tetrafleet {2}12:01:10 UTC {2}3 jobs {2}2 instances {2}\$\d+\.\d+\/h$/);
  });

  it('shows every job state with its count', () => {
    const row = (state: string) => lines.find((l) => l.trimStart().startsWith(state)) ?? '';
    expect(row('RUNNING')).toMatch(/^ {2}RUNNING +1 {2}█+░+$/);
    expect(row('SUCCEEDED')).toMatch(/ 1 {2}█/);
    expect(row('PENDING')).toMatch(/ 1 {2}█/);
    expect(row('FAILED')).toMatch(/ 0 {2}░+$/);
  });

  it('draws a progress bar for a running job from its task start to its expected end', () => {
    const active = lines.find((l) => l.includes('train') && l.includes('%')) ?? '';
    // 50 s of an expected 100 s.
    expect(active).toContain('50%');
    expect(active).toContain('c7i.large');
  });

  it('groups the live fleet by type and market with utilisation and $/h', () => {
    const table = lines.slice(lines.indexOf('FLEET') + 1, lines.indexOf('FLEET') + 4);
    expect(table[0]).toMatch(/TYPE\s+MARKET\s+COUNT\s+RUNNING\s+UTIL\s+\$\/H/);
    expect(table[1]).toMatch(/c7i\.large\s+on-demand\s+1\s+1\s+█+░+\s+50%\s+\$/);
    expect(table[2]).toMatch(/g5\.xlarge\s+spot\s+1\s+1\s+░+\s+0%\s+\$/);
    expect(frame).not.toContain('c7i.xlarge  ');
  });

  it('reports the last solve time and gap', () => {
    expect(frame).toContain('last cycle 2s ago  engine highs  solve 42 ms  gap 1.25%  1 unplaced');
  });

  it('lists recent events newest first', () => {
    const events = lines.slice(lines.indexOf('EVENTS') + 1);
    expect(events[0]).toBe('  12:01:00  etl succeeded');
    expect(events[1]).toBe('  12:00:30  wait pending');
    expect(events.some((e) => e.includes('launched g5.xlarge (spot) i-gpu'))).toBe(true);
  });

  it('keeps every line within the width, with or without colour', () => {
    for (const color of [false, true]) {
      const narrow = renderWatchFrame(snapshot, { width: 50, color });
      for (const line of narrow.split('\n')) expect(visibleLength(line)).toBeLessThanOrEqual(50);
    }
    expect(renderWatchFrame(snapshot, { width: 80, color: true })).toContain('\u001b[');
    expect(frame).not.toContain('\u001b[');
  });

  it('says so when there is no fleet and no cycle yet', () => {
    const empty = renderWatchFrame(
      { at: T0, jobs: [], instances: [], tasks: [], cycles: [] },
      { width: 80, color: false },
    );
    expect(empty).toContain('no live instances');
    expect(empty).toContain('no schedule cycle yet');
  });
});

describe('watch helpers', () => {
  it('gives no progress before a task starts and caps it below 100% until it reports', () => {
    expect(progressOf([task('j', 'i', { state: 'PLACED' })], s(70))).toBe(0);
    expect(progressOf([task('j', 'i')], s(500))).toBe(0.99);
    expect(progressOf([], s(70))).toBe(0);
  });

  it('counts utilisation over active tasks only', () => {
    const rows = fleetRows(snapshot.instances, snapshot.tasks);
    expect(rows.map((r) => [r.type, r.util])).toEqual([
      ['c7i.large', 0.5],
      ['g5.xlarge', 0],
    ]);
  });

  it('leaves out events after the snapshot time', () => {
    const later = { ...snapshot, at: s(25) };
    expect(recentEvents(later, 10).every((e) => e.at <= s(25))).toBe(true);
  });

  it('summarises the frame as JSON for scripts', () => {
    const data = watchData(snapshot);
    expect(data.jobs).toMatchObject({ total: 3, active: 2 });
    expect(data.jobs.byState.RUNNING).toBe(1);
    expect(data.fleet.live).toBe(2);
    expect(data.lastCycle).toMatchObject({ solveMs: 42, gap: 0.0125 });
    expect(data.events[0]).toEqual({ at: s(60), text: 'etl succeeded' });
  });
});
