import { describe, expect, it } from 'vitest';
import { buildWorkload, everyJobDone, seededRandom } from '../../../lib/cli/demo/index.ts';
import { JobSpecSchema } from '../../../lib/core/model/job.ts';
import { fixture, job, s } from './report-fixture.ts';

describe('demo workload', () => {
  it('builds the same jobs at the same offsets from the same seed', () => {
    const a = buildWorkload({ seed: 3, durationSeconds: 120 });
    const b = buildWorkload({ seed: 3, durationSeconds: 120 });
    const c = buildWorkload({ seed: 4, durationSeconds: 120 });
    expect(a).toEqual(b);
    expect(c.map((j) => j.atMs)).not.toEqual(a.map((j) => j.atMs));
  });

  it('mixes GPU-or-CPU deadline jobs, CPU deadline jobs, FIFO jobs and one gang of two', () => {
    const jobs = buildWorkload({ seed: 7, durationSeconds: 150 });
    expect(jobs).toHaveLength(60);
    const kinds = new Map<string, number>();
    for (const j of jobs) kinds.set(j.kind, (kinds.get(j.kind) ?? 0) + 1);
    expect(kinds.get('gang')).toBe(1);
    expect(kinds.get('gpu-or-cpu')).toBeGreaterThanOrEqual(15);
    expect(kinds.get('cpu-deadline')).toBeGreaterThanOrEqual(10);
    expect(kinds.get('fifo')).toBeGreaterThanOrEqual(10);
    const gang = jobs.find((j) => j.kind === 'gang');
    expect(gang?.spec.gang).toBe(2);
    for (const j of jobs.filter((x) => x.kind === 'gpu-or-cpu')) {
      expect(j.spec.alternatives.map((a) => a.requirement.gpus ?? 0)).toEqual([1, 0]);
    }
    for (const j of jobs.filter((x) => x.kind === 'fifo')) expect(j.spec.policy).toBe('fifo');
  });

  it('gives only specs that pass validation, with tasks of 2 to 20 seconds', () => {
    for (const j of buildWorkload({ seed: 11, durationSeconds: 60, node: '/usr/bin/node' })) {
      const spec = JobSpecSchema.parse(j.spec);
      expect(spec.task.kind).toBe('command');
      if (spec.task.kind !== 'command') continue;
      expect(spec.task.command).toBe('/usr/bin/node');
      const [cpu, gpu] = spec.task.args.slice(2).map(Number);
      for (const secs of [cpu, gpu]) {
        expect(secs).toBeGreaterThanOrEqual(2);
        expect(secs).toBeLessThanOrEqual(20);
      }
    }
  });

  it('submits in order within the first 60% of the duration', () => {
    const jobs = buildWorkload({ seed: 5, durationSeconds: 100, jobs: 25 });
    expect(jobs).toHaveLength(25);
    const times = jobs.map((j) => j.atMs);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(Math.max(...times)).toBeLessThanOrEqual(60_000);
    expect(Math.min(...times)).toBeGreaterThanOrEqual(0);
  });

  it('draws numbers in [0, 1) that depend on the seed', () => {
    const r = seededRandom(1);
    const xs = Array.from({ length: 1000 }, () => r());
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(new Set(xs).size).toBeGreaterThan(990);
    expect(seededRandom(2)()).not.toBe(seededRandom(1)());
  });
});

describe('demo completion', () => {
  it('is done only when every submitted job is admitted and terminal', () => {
    const snap = fixture();
    expect(everyJobDone(snap, new Set(['a', 'b', 'c']))).toBe(true);
    expect(everyJobDone(snap, new Set(['a', 'd']))).toBe(false);
    expect(everyJobDone(snap, new Set(['a', 'not-admitted-yet']))).toBe(false);
    snap.jobs.push(job('e', { status: 'EXPIRED', finishedAt: undefined, updatedAt: s(99) }));
    expect(everyJobDone(snap, new Set(['e']))).toBe(true);
  });
});
