/** The schedule cycle: lost instances and housekeeping (retiring, expiring, cancelling, re-sending). */
import { beforeEach, describe, expect, it } from 'vitest';
import { type CycleDeps, runScheduleCycle } from '../../../lib/core/control/cycle.ts';
import { applyHeartbeat } from '../../../lib/core/control/ingest.ts';
import { FakeMilpSolver } from '../../fakes/fake-milp-solver.ts';
import {
  cloudOf,
  FakeInstanceChannel,
  fakeControl,
  heartbeatOf,
  storedInstance,
  storedTask,
} from '../../fakes/fake-stores.ts';
import { fixedClock, h, NOW } from '../../support/builders.ts';
import { recordingLogger } from '../lambdas/support.ts';
import { config, storedJob } from './cycle-support.ts';

let f: ReturnType<typeof fakeControl>;
let deps: CycleDeps;

beforeEach(() => {
  f = fakeControl(fixedClock(NOW));
  deps = { ...f, solver: new FakeMilpSolver() };
});

const cycle = () => runScheduleCycle(config, deps, { cycleId: 'c1' });

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
