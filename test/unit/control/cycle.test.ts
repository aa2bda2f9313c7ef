import { beforeEach, describe, expect, it } from 'vitest';
import { type CycleDeps, runScheduleCycle } from '../../../lib/core/control/cycle.ts';
import { ConflictError } from '../../../lib/core/errors.ts';
import { fits, type Resources } from '../../../lib/core/model/resources.ts';
import { HighsSolver } from '../../../lib/solver/highs-solver.ts';
import { FakeMilpSolver } from '../../fakes/fake-milp-solver.ts';
import {
  cloudOf,
  FakeInstanceChannel,
  fakeControl,
  storedInstance,
  storedTask,
} from '../../fakes/fake-stores.ts';
import { fixedClock, NOW } from '../../support/builders.ts';
import { config, storedJob } from './cycle-support.ts';

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
