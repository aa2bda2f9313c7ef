import { beforeEach, describe, expect, it } from 'vitest';
import { type CycleDeps, runScheduleCycle } from '../../../lib/core/control/cycle.ts';
import { parseCycleConfig } from '../../../lib/core/control/cycle-config.ts';
import { applyHeartbeat } from '../../../lib/core/control/ingest.ts';
import { ConflictError } from '../../../lib/core/errors.ts';
import type { Job } from '../../../lib/core/model/job.ts';
import { fits, type Resources } from '../../../lib/core/model/resources.ts';
import { HighsSolver } from '../../../lib/solver/highs-solver.ts';
import { FakeMilpSolver } from '../../fakes/fake-milp-solver.ts';
import {
  cloudOf,
  FakeInstanceChannel,
  fakeControl,
  heartbeatOf,
  storedInstance,
  storedTask,
} from '../../fakes/fake-stores.ts';
import { fixedClock, h, type JobOverrides, job, NOW } from '../../support/builders.ts';
import { recordingLogger } from '../lambdas/support.ts';

const config = parseCycleConfig({
  slotSeconds: 600,
  slots: 12,
  solveTimeLimitMs: 500,
  heartbeatTimeoutSeconds: 180,
  allowedInstanceTypes: ['m7i.xlarge', 'g5.xlarge'],
});

function storedJob(
  over: JobOverrides & Partial<Pick<Job, 'status' | 'version' | 'cancelRequestedAt'>> = {},
): Job {
  const { status = 'PENDING', version = 1, cancelRequestedAt, ...rest } = over;
  const p = job(rest);
  return { ...p, status, version, updatedAt: p.submittedAt, cancelRequestedAt };
}

let f: ReturnType<typeof fakeControl>;
let deps: CycleDeps;

beforeEach(() => {
  f = fakeControl(fixedClock(NOW));
  deps = { ...f, solver: new FakeMilpSolver() };
});

const cycle = () => runScheduleCycle(config, deps, { cycleId: 'c1' });

describe('schedule cycle: placing work', () => {
  it('commits and dispatches a pending job to an existing instance with room, on GPUs not already given', async () => {
    const inst = storedInstance('g5.12xlarge', { id: 'i-big', now: NOW });
    const busy = storedJob({ id: 'busy', status: 'RUNNING', attempts: 1, gpus: 1 });
    const pending = storedJob({ id: 'j1', gpus: 2, vcpu: 4, memoryMiB: 8192 });
    f.jobs.seed(busy, pending);
    f.instances.seed(inst);
    f.fleet.seed(cloudOf(inst));
    f.tasks.seed(
      storedTask(busy, inst, { now: NOW, resources: { vcpu: 2, memoryMiB: 4096, gpus: 1 }, gpuIndices: [0] }),
    );

    const report = await cycle();

    expect(report.status).toBe('completed');
    expect(report.counts).toMatchObject({ jobsCommitted: 1, tasksDispatched: 1, instancesLaunched: 0 });
    expect(f.jobs.jobs.get('j1')).toMatchObject({ status: 'PLACED', attempts: 1, market: 'on-demand' });
    expect(f.tasks.get({ jobId: 'j1', taskIndex: 0, attempt: 0 })).toMatchObject({
      instanceId: 'i-big',
      state: 'DISPATCHED',
      gpuIndices: [1, 2],
    });
    const [run] = f.channel.messagesFor('i-big');
    expect(run).toMatchObject({
      kind: 'RunTask',
      jobId: 'j1',
      attempt: 0,
      resources: { vcpu: 4, memoryMiB: 8192, gpus: 2 },
      gpuIndices: [1, 2],
    });
    expect(f.fleet.callsOf('launch')).toHaveLength(0);
  });

  it('launches an instance for a job that needs new capacity, records it, opens its queue and dispatches there', async () => {
    f.jobs.seed(storedJob({ id: 'j1', vcpu: 2, memoryMiB: 4096 }));

    const report = await cycle();

    const launches = f.fleet.callsOf('launch').map((c) => c.args[0]);
    expect(launches).toEqual([
      expect.objectContaining({ token: 'c1:m7i.xlarge:on-demand', instanceTypes: ['m7i.xlarge'], count: 1 }),
    ]);
    const [recorded] = [...f.instances.instances.values()];
    expect(recorded).toMatchObject({ type: 'm7i.xlarge', state: 'PENDING', readyAt: NOW + 60_000 });
    expect(f.channel.callsOf('open').map((c) => c.args[0])).toContain(recorded?.id);
    expect(recorded?.queueUrl).toBe(FakeInstanceChannel.urlOf(recorded?.id ?? ''));
    expect(f.jobs.jobs.get('j1')?.status).toBe('LAUNCHING');
    expect(f.channel.messagesFor(recorded?.id ?? '')).toEqual([
      expect.objectContaining({
        kind: 'RunTask',
        jobId: 'j1',
        resources: { vcpu: 2, memoryMiB: 4096, gpus: 0 },
      }),
    ]);
    expect(f.tasks.get({ jobId: 'j1', taskIndex: 0, attempt: 0 })?.state).toBe('DISPATCHED');
    expect(report.counts).toMatchObject({ instancesLaunched: 1, jobsCommitted: 1, tasksDispatched: 1 });
  });

  it('records on the job the market it was placed in: spot, or on-demand where spot fell back', async () => {
    f.jobs.seed(storedJob({ id: 'j1', vcpu: 2, memoryMiB: 4096, spot: true }));
    await cycle();
    expect(f.fleet.callsOf('launch').map((c) => c.args[0])).toEqual([
      expect.objectContaining({ market: 'spot', onDemandFallback: true }),
    ]);
    expect(f.jobs.jobs.get('j1')).toMatchObject({ status: 'LAUNCHING', market: 'spot' });

    const g = fakeControl(fixedClock(NOW));
    g.fleet.spotAvailable = false;
    g.jobs.seed(storedJob({ id: 'j2', vcpu: 2, memoryMiB: 4096, spot: true }));
    await runScheduleCycle(config, { ...g, solver: new FakeMilpSolver() }, { cycleId: 'c2' });
    const [launched] = [...g.instances.instances.values()];
    expect(launched).toMatchObject({ market: 'on-demand' });
    expect(g.jobs.jobs.get('j2')).toMatchObject({ status: 'LAUNCHING', market: 'on-demand' });
  });

  it('skips a job that changed between load and commit and dispatches nothing for it', async () => {
    const inst = storedInstance('m7i.xlarge', { id: 'i-1', now: NOW });
    f.jobs.seed(storedJob({ id: 'j1' }));
    f.instances.seed(inst);
    f.fleet.seed(cloudOf(inst));
    f.tasks.failNext(
      'commitPlacement',
      new ConflictError('job j1 changed since it was read; not placed', 'j1'),
    );

    const report = await cycle();

    expect(report.skipped).toContainEqual({ jobId: 'j1', reason: expect.stringContaining('changed') });
    expect(f.channel.sent).toHaveLength(0);
    expect(f.tasks.all()).toHaveLength(0);
    expect(f.jobs.jobs.get('j1')?.status).toBe('PENDING');
  });

  it('leaves a job pending with the reason when its launch finds no capacity', async () => {
    f.jobs.seed(storedJob({ id: 'j1' }));
    f.fleet.capacity.set('m7i.xlarge', 0);

    const report = await cycle();

    expect(report.skipped).toContainEqual({ jobId: 'j1', reason: expect.stringContaining('m7i.xlarge') });
    expect(report.errors).toContainEqual(expect.stringContaining('no capacity for m7i.xlarge'));
    expect(f.jobs.jobs.get('j1')?.status).toBe('PENDING');
    expect(f.instances.instances.size).toBe(0);
    expect(f.channel.sent).toHaveLength(0);
  });

  it('plans with the greedy engine when the solver cannot run', async () => {
    (deps.solver as FakeMilpSolver).failNext().failNext();
    f.jobs.seed(storedJob({ id: 'j1' }));

    const report = await cycle();

    expect(report.engine).toBe('greedy');
    expect(report.notes?.join(' ')).toContain('solver failed');
    expect(f.jobs.jobs.get('j1')?.status).toBe('LAUNCHING');
  });
});

describe('schedule cycle: with the HiGHS solver', () => {
  it('commits and dispatches every job the plan starts now, within each instance capacity', async () => {
    deps = { ...deps, solver: new HighsSolver(), elapsedMs: () => performance.now() };
    const a = storedInstance('g5.xlarge', { id: 'i-gpu', now: NOW });
    const b = storedInstance('m7i.xlarge', { id: 'i-cpu', now: NOW });
    f.instances.seed(a, b);
    f.fleet.seed(cloudOf(a), cloudOf(b));
    for (let n = 0; n < 6; n++)
      f.jobs.seed(storedJob({ id: `j${n}`, vcpu: 1, memoryMiB: 2048, gpus: n % 3 === 0 ? 1 : 0 }));

    const report = await runScheduleCycle({ ...config, solveTimeLimitMs: 5000 }, deps, { cycleId: 'c1' });

    expect(report.counts?.jobsCommitted).toBeGreaterThan(0);
    expect(report.counts?.tasksDispatched).toBe(f.tasks.all().length);
    const held = new Map<string, Resources>();
    for (const t of f.tasks.all()) {
      const h0 = held.get(t.instanceId) ?? { vcpu: 0, memoryMiB: 0, gpus: 0 };
      held.set(t.instanceId, {
        vcpu: h0.vcpu + t.resources.vcpu,
        memoryMiB: h0.memoryMiB + t.resources.memoryMiB,
        gpus: h0.gpus + t.resources.gpus,
      });
    }
    for (const [id, r] of held) expect(fits(r, f.instances.instances.get(id)?.capacity ?? r)).toBe(true);
    const dispatched = f.channel.sent.filter((m) => m.message.kind === 'RunTask');
    expect(dispatched).toHaveLength(f.tasks.all().length);
  });
});

describe('schedule cycle: the lease', () => {
  it('skips the cycle and writes nothing when another owner holds the lease', async () => {
    f.leases.hold('schedule', 'other-cycle', NOW + 60_000);
    f.jobs.seed(storedJob({ id: 'j1' }));

    const report = await cycle();

    expect(report).toMatchObject({ status: 'skipped', reason: 'lease held' });
    for (const fake of [f.jobs, f.tasks, f.instances, f.fleet, f.channel]) expect(fake.calls).toEqual([]);
    expect(f.leases.leases.get('schedule')?.owner).toBe('other-cycle');
    expect(f.jobs.jobs.get('j1')?.status).toBe('PENDING');
  });

  it('writes nothing when another cycle took the lease while this one was planning', async () => {
    f.jobs.seed(storedJob({ id: 'j1' }));
    deps = {
      ...deps,
      solver: new FakeMilpSolver(() => {
        f.leases.hold('schedule', 'other-cycle', NOW + 60_000);
        return { status: 'no-solution', values: new Float64Array(), objective: 0, solveMs: 1 };
      }),
    };

    const report = await cycle();

    expect(report).toMatchObject({ status: 'skipped', reason: 'lease lost before acting' });
    expect(report.decision?.commits).toHaveLength(1);
    expect(f.fleet.callsOf('launch')).toHaveLength(0);
    expect(f.tasks.callsOf('commitPlacement')).toHaveLength(0);
    expect(f.jobs.jobs.get('j1')?.status).toBe('PENDING');
    expect(f.leases.leases.get('schedule')?.owner).toBe('other-cycle');
  });

  it('releases the lease when reading the state fails', async () => {
    f.fleet.failNext('list');

    await expect(cycle()).rejects.toThrow('list throttled');

    expect(f.leases.callsOf('release')).toHaveLength(1);
    expect(f.leases.leases.get('schedule')?.until).toBe(0);
  });
});

describe('schedule cycle: lost instances', () => {
  function silentInstanceWith(attempts: number) {
    const inst = storedInstance('m7i.xlarge', { id: 'i-silent', now: NOW, lastHeartbeatAt: NOW - 600_000 });
    const running = storedJob({ id: 'j1', status: 'RUNNING', attempts });
    f.jobs.seed(running);
    f.instances.seed(inst);
    f.fleet.seed(cloudOf(inst));
    f.tasks.seed(storedTask(running, inst, { now: NOW }));
  }

  it('terminates an instance that missed heartbeats and sends its job back to pending with attempts counted', async () => {
    silentInstanceWith(1);

    const report = await cycle();

    expect(f.fleet.callsOf('terminate').map((c) => c.args[0])).toContainEqual(['i-silent']);
    expect(f.instances.instances.get('i-silent')?.state).toBe('TERMINATED');
    expect(f.tasks.get({ jobId: 'j1', taskIndex: 0, attempt: 0 })?.state).toBe('LOST');
    expect(f.jobs.jobs.get('j1')).toMatchObject({ status: 'PENDING', attempts: 1 });
    expect(report.counts).toMatchObject({ instancesRetired: 1, requeued: 1 });
  });

  it('keeps a fleet whose heartbeats reach ingest late, and logs how late', async () => {
    // Three agents' heartbeats, sent 300 s before the cycle, were applied 150 s late (a reports backlog).
    const ids = ['i-a', 'i-b', 'i-c'];
    for (const id of ids) {
      const inst = storedInstance('m7i.xlarge', { id, now: NOW, lastHeartbeatAt: NOW - 400_000 });
      f.instances.seed(inst);
      f.fleet.seed(cloudOf(inst));
      const running = storedJob({ id: `j-${id}`, status: 'RUNNING', attempts: 1 });
      f.jobs.seed(running);
      f.tasks.seed(storedTask(running, inst, { now: NOW }));
      const ingest = { ...f, clock: fixedClock(NOW - 150_000) };
      expect(await applyHeartbeat(heartbeatOf(id, NOW - 300_000), ingest)).toBe('applied');
    }
    const log = recordingLogger();

    const report = await runScheduleCycle(config, { ...deps, log }, { cycleId: 'c1' });

    expect(report.counts).toMatchObject({ instancesRetired: 0, requeued: 0 });
    for (const id of ids) expect(f.instances.instances.get(id)?.state).toBe('RUNNING');
    expect(f.jobs.jobs.get('j-i-a')?.status).toBe('RUNNING');
    const done = log.lines.find((l) => l.message === 'schedule cycle done');
    expect(done?.fields).toMatchObject({ reportLagMs: 150_000 });
  });

  it('fails the job with a reason when a lost instance used its last attempt', async () => {
    silentInstanceWith(3);

    await cycle();

    const failed = f.jobs.jobs.get('j1');
    expect(failed?.status).toBe('FAILED');
    expect(failed?.error?.code).toBe('ATTEMPTS_EXHAUSTED');
    expect(failed?.error?.message).toContain('no heartbeat for 600s');
  });

  it('retires a booting instance that never reported within boot plus timeout', async () => {
    const inst = storedInstance('m7i.xlarge', {
      id: 'i-boot',
      now: NOW,
      state: 'PENDING',
      launchedAt: NOW - 600_000,
      readyAt: NOW - 540_000,
      lastHeartbeatAt: undefined,
    });
    f.instances.seed(inst);
    f.fleet.seed(cloudOf(inst, 'pending'));

    await cycle();

    expect(f.fleet.callsOf('terminate').map((c) => c.args[0])).toContainEqual(['i-boot']);
    expect(f.instances.instances.get('i-boot')?.state).toBe('TERMINATED');
  });

  it('marks an instance the cloud no longer lists as terminated and requeues its tasks', async () => {
    const inst = storedInstance('m7i.xlarge', { id: 'i-gone', now: NOW });
    const running = storedJob({ id: 'j1', status: 'RUNNING', attempts: 1 });
    f.jobs.seed(running);
    f.instances.seed(inst);
    f.tasks.seed(storedTask(running, inst, { now: NOW }));

    await cycle();

    expect(f.instances.instances.get('i-gone')?.state).toBe('TERMINATED');
    expect(f.fleet.callsOf('terminate').flatMap((c) => c.args[0] as string[])).not.toContain('i-gone');
    expect(f.tasks.get({ jobId: 'j1', taskIndex: 0, attempt: 0 })?.state).toBe('LOST');
    expect(f.jobs.jobs.get('j1')?.status).toBe('PENDING');
    expect(f.channel.callsOf('close').map((c) => c.args[0])).toContain(FakeInstanceChannel.urlOf('i-gone'));
  });

  it('adopts an instance of the fleet that the store lacks, with a queue, so it is used or retired', async () => {
    f.fleet.seed({
      id: 'i-orphan',
      type: 'm7i.xlarge',
      market: 'on-demand',
      launchedAt: NOW - 300_000,
      state: 'running',
      tags: {},
    });

    const report = await cycle();

    expect(f.instances.instances.get('i-orphan')).toMatchObject({
      state: 'PENDING',
      type: 'm7i.xlarge',
      capacity: { vcpu: 4, memoryMiB: 16_384, gpus: 0 },
      queueUrl: FakeInstanceChannel.urlOf('i-orphan'),
    });
    expect(report.counts?.adopted).toBe(1);
  });
});

describe('schedule cycle: housekeeping', () => {
  it('expires a pending job past its hard deadline', async () => {
    f.jobs.seed(storedJob({ id: 'late', deadline: h(2), submittedAt: NOW - h(3) * 1000 }));

    const report = await cycle();

    expect(f.jobs.jobs.get('late')).toMatchObject({ status: 'EXPIRED', error: { code: 'EXPIRED' } });
    expect(f.fleet.callsOf('launch')).toHaveLength(0);
    expect(report.counts?.expired).toBe(1);
  });

  it('sends a CancelTask to the instance of a running job whose cancel was requested', async () => {
    const inst = storedInstance('m7i.xlarge', { id: 'i-1', now: NOW });
    const running = storedJob({ id: 'j1', status: 'RUNNING', attempts: 1, cancelRequestedAt: NOW - 1000 });
    f.jobs.seed(running);
    f.instances.seed(inst);
    f.fleet.seed(cloudOf(inst));
    f.tasks.seed(storedTask(running, inst, { now: NOW }));

    await cycle();

    expect(f.channel.messagesFor('i-1')).toEqual([
      expect.objectContaining({ kind: 'CancelTask', jobId: 'j1', taskIndex: 0, attempt: 0 }),
    ]);
    expect(f.tasks.get({ jobId: 'j1', taskIndex: 0, attempt: 0 })?.state).toBe('CANCELLED');
    expect(f.jobs.jobs.get('j1')?.status).toBe('CANCELLED');
  });

  it('stops the task of a LAUNCHING job cancelled while its instance boots, then ends the job', async () => {
    const inst = storedInstance('m7i.xlarge', {
      id: 'i-new',
      now: NOW,
      state: 'PENDING',
      launchedAt: NOW - 10_000,
      readyAt: NOW + 50_000,
      lastHeartbeatAt: undefined,
    });
    const launching = storedJob({ id: 'j1', status: 'LAUNCHING', attempts: 1 });
    f.jobs.seed(launching);
    f.instances.seed(inst);
    f.fleet.seed(cloudOf(inst, 'pending'));
    f.tasks.seed(storedTask(launching, inst, { now: NOW, state: 'DISPATCHED' }));

    const asked = await f.jobs.requestCancel('j1', NOW);
    expect(asked).toMatchObject({ status: 'LAUNCHING', cancelRequestedAt: NOW });
    await cycle();

    expect(f.channel.messagesFor('i-new')).toEqual([
      expect.objectContaining({ kind: 'CancelTask', jobId: 'j1', taskIndex: 0, attempt: 0 }),
    ]);
    expect(f.tasks.get({ jobId: 'j1', taskIndex: 0, attempt: 0 })?.state).toBe('CANCELLED');
    expect(f.jobs.jobs.get('j1')?.status).toBe('CANCELLED');
  });

  it('re-sends the RunTask of a task an earlier cycle committed but never dispatched', async () => {
    const inst = storedInstance('m7i.xlarge', { id: 'i-1', now: NOW });
    const placed = storedJob({ id: 'j1', status: 'PLACED', attempts: 1 });
    f.jobs.seed(placed);
    f.instances.seed(inst);
    f.fleet.seed(cloudOf(inst));
    f.tasks.seed(storedTask(placed, inst, { now: NOW, state: 'PLACED' }));

    await cycle();

    expect(f.channel.messagesFor('i-1')).toEqual([expect.objectContaining({ kind: 'RunTask', jobId: 'j1' })]);
    expect(f.tasks.get({ jobId: 'j1', taskIndex: 0, attempt: 0 })?.state).toBe('DISPATCHED');
  });

  it('terminates an idle instance the plan retires and closes its queue', async () => {
    const inst = storedInstance('m7i.xlarge', { id: 'i-idle', now: NOW, lastBusyAt: NOW - h(1) * 1000 });
    f.instances.seed(inst);
    f.fleet.seed(cloudOf(inst));

    const report = await cycle();

    expect(f.fleet.callsOf('terminate').map((c) => c.args[0])).toContainEqual(['i-idle']);
    expect(f.instances.instances.get('i-idle')?.state).toBe('TERMINATED');
    expect(f.channel.closed.has(FakeInstanceChannel.urlOf('i-idle'))).toBe(true);
    expect(report.counts?.instancesTerminated).toBe(1);
  });

  it('keeps an instance that holds an active task even when the plan would retire it', async () => {
    const inst = storedInstance('m7i.xlarge', { id: 'i-1', now: NOW, lastBusyAt: NOW - h(1) * 1000 });
    const running = storedJob({ id: 'j1', status: 'RUNNING', attempts: 1 });
    f.jobs.seed(running);
    f.instances.seed(inst);
    f.fleet.seed(cloudOf(inst));
    f.tasks.seed(storedTask(running, inst, { now: NOW }));

    await cycle();

    expect(f.instances.instances.get('i-1')?.state).toBe('RUNNING');
    expect(f.fleet.callsOf('terminate')).toHaveLength(0);
  });
});
