import { describe, expect, it } from 'vitest';
import {
  deadlineAttainment,
  fleetCostPerHour,
  jobsByState,
  type SnapshotSource,
  takeSnapshot,
  utilisationOf,
} from '../../../lib/cli/snapshot.ts';
import type { TaskRecord } from '../../../lib/core/control/task-record.ts';
import { INSTANCE_STATES, type Instance } from '../../../lib/core/model/instance.ts';
import type { Job } from '../../../lib/core/model/job.ts';
import { cycle, fixture, instance, job, s, task } from './report-fixture.ts';

/** A source over fixed data that pages jobs two at a time and records its calls. */
function fakeSource(jobs: Job[], instances: Instance[], tasks: TaskRecord[]) {
  const calls = { listJobs: 0, tasksOfJob: [] as string[], states: [] as readonly string[] };
  const source: SnapshotSource = {
    client: {
      async listJobs({ cursor }) {
        calls.listJobs += 1;
        const start = Number(cursor ?? 0);
        const next = start + 2;
        return { jobs: jobs.slice(start, next), cursor: next < jobs.length ? String(next) : undefined };
      },
    },
    adapters: {
      jobs: { recent: async (limit) => [cycle(s(30)), cycle(s(10))].slice(0, limit) },
      fleetStore: {
        async listInstances(states) {
          calls.states = states ?? [];
          return instances.filter((i) => states?.includes(i.state));
        },
        async tasksOfJob(jobId) {
          calls.tasksOfJob.push(jobId);
          return tasks.filter((t) => t.jobId === jobId);
        },
      },
    },
  };
  return { source, calls };
}

describe('takeSnapshot', () => {
  const jobs = [
    job('a'),
    job('b', { status: 'RUNNING', finishedAt: undefined }),
    job('c', { submittedAt: s(-5) }),
  ];
  const instances = [instance('i-2', { launchedAt: s(9) }), instance('i-1', { state: 'TERMINATED' })];
  const tasks = [
    task('a', 'i-1'),
    task('b', 'i-2', { state: 'RUNNING' }),
    task('c', 'i-1', { startAt: s(1) }),
  ];

  it('reads every page of jobs, instances in every state, tasks of every job and recent cycles', async () => {
    const { source, calls } = fakeSource(jobs, instances, tasks);
    const snap = await takeSnapshot(source, { now: () => s(50) });
    expect(snap.at).toBe(s(50));
    expect(calls.listJobs).toBe(2);
    expect(calls.states).toEqual(INSTANCE_STATES);
    expect(snap.jobs.map((j) => j.id)).toEqual(['c', 'a', 'b']);
    expect(snap.instances.map((i) => i.id)).toEqual(['i-1', 'i-2']);
    expect(snap.tasks).toHaveLength(3);
    expect(snap.cycles.map((c) => c.at)).toEqual([s(30), s(10)]);
  });

  it('reuses the tasks of jobs that were already finished in the previous snapshot', async () => {
    const { source, calls } = fakeSource(jobs, instances, tasks);
    const first = await takeSnapshot(source);
    calls.tasksOfJob.length = 0;
    const second = await takeSnapshot(source, { previous: first });
    expect(calls.tasksOfJob).toEqual(['b']);
    expect(second.tasks).toHaveLength(3);
  });

  it('reuses the tasks of a job pending at the same version, and reads it again once it moved', async () => {
    const lost = task('p', 'i-1', { state: 'LOST' });
    const pending = job('p', { status: 'PENDING', finishedAt: undefined, version: 5, attempts: 2 });
    const current = [...jobs, pending];
    const { source, calls } = fakeSource(current, instances, [...tasks, lost]);
    const first = await takeSnapshot(source);
    calls.tasksOfJob.length = 0;
    const second = await takeSnapshot(source, { previous: first });
    expect(calls.tasksOfJob).toEqual(['b']);
    expect(second.tasks.filter((t) => t.jobId === 'p')).toEqual([lost]);
    // Placed again: a new version, so its tasks are read.
    current[current.length - 1] = { ...pending, status: 'PLACED', version: 6 };
    calls.tasksOfJob.length = 0;
    await takeSnapshot(source, { previous: second });
    expect(calls.tasksOfJob.sort()).toEqual(['b', 'p']);
    // Pending again at a newer version (requeued meanwhile): read, not reused.
    const third = await takeSnapshot(source);
    current[current.length - 1] = { ...pending, version: 7 };
    calls.tasksOfJob.length = 0;
    await takeSnapshot(source, { previous: third });
    expect(calls.tasksOfJob.sort()).toEqual(['b', 'p']);
  });
});

describe('snapshot helpers', () => {
  it('prices the live fleet by market and leaves terminated instances out', () => {
    expect(fleetCostPerHour(fixture().instances)).toBeCloseTo(0.08925 + 0.4024, 6);
  });

  it('measures utilisation from active tasks only, busiest dimension first', () => {
    const snap = fixture();
    const [, i2, i3] = snap.instances;
    expect(utilisationOf(i3 ?? instance('x'), snap.tasks)).toEqual({
      vcpu: 0.25,
      memory: 0.125,
      gpus: 1,
      max: 1,
    });
    expect(utilisationOf(i2 ?? instance('x'), snap.tasks).max).toBe(0);
  });

  it('counts a deadline met only when the job succeeded within deadlineSeconds of submission', () => {
    const jobsList = [
      ...fixture().jobs,
      job('late-fail', { status: 'FAILED', finishedAt: s(5) }),
      job('fifo-deadline', { spec: { policy: 'fifo' }, finishedAt: s(10) }),
    ];
    const a = deadlineAttainment(jobsList);
    expect(a).toMatchObject({ total: 4, met: 2, ratio: 0.5 });
    expect(a.byPolicy.deadline).toMatchObject({ total: 3, met: 1 });
    expect(a.byPolicy.fifo).toMatchObject({ total: 1, met: 1, ratio: 1 });
    expect(deadlineAttainment([]).ratio).toBeUndefined();
  });

  it('counts jobs in every state, zero included', () => {
    const counts = jobsByState(fixture().jobs);
    expect(counts).toMatchObject({ SUCCEEDED: 3, RUNNING: 1, PENDING: 0, EXPIRED: 0 });
    expect(Object.keys(counts)).toHaveLength(8);
  });
});
