import { beforeEach, describe, expect, it } from 'vitest';
import { parseCycleConfig } from '../../../lib/core/control/cycle-config.ts';
import { silence } from '../../../lib/core/control/cycle-housekeeping.ts';
import { MAX_CLOCK_SKEW_MS } from '../../../lib/core/control/heartbeat-order.ts';
import {
  applyHeartbeat,
  applyInstanceGone,
  applyTaskEvent,
  type IngestDeps,
} from '../../../lib/core/control/ingest.ts';
import type { Job } from '../../../lib/core/model/job.ts';
import type { Heartbeat } from '../../../lib/core/protocol/heartbeat.ts';
import { type TaskEvent, TaskEventSchema } from '../../../lib/core/protocol/tasks.ts';
import { fakeControl, heartbeatOf, storedInstance, storedTask } from '../../fakes/fake-stores.ts';
import { fixedClock, job, NOW } from '../../support/builders.ts';
import { recordingLogger } from '../lambdas/support.ts';

let f: ReturnType<typeof fakeControl>;
let log: ReturnType<typeof recordingLogger>;
let deps: IngestDeps;

beforeEach(() => {
  f = fakeControl(fixedClock(NOW));
  log = recordingLogger();
  deps = { ...f, log };
});

function storedJob(over: Partial<Job> & { id: string }): Job {
  const p = job({ id: over.id });
  return { ...p, status: 'RUNNING', version: 1, updatedAt: p.submittedAt, attempts: 1, ...over };
}

function event(o: Partial<TaskEvent> & { jobId: string }): TaskEvent {
  return TaskEventSchema.parse({
    version: 1,
    kind: 'TaskEvent',
    event: 'started',
    taskIndex: 0,
    attempt: 0,
    instanceId: 'i-1',
    at: NOW,
    ...o,
  });
}

/** A job in `status` with one task of its current attempt on i-1 in `taskState`. */
function seedRun(
  status: Job['status'],
  taskState: 'DISPATCHED' | 'RUNNING' | 'LOST',
  over: Partial<Job> = {},
) {
  const inst = storedInstance('m7i.xlarge', { id: 'i-1', now: NOW });
  const j = storedJob({ id: 'j1', status, ...over });
  f.instances.seed(inst);
  f.jobs.seed(j);
  f.tasks.seed(storedTask(j, inst, { now: NOW, state: taskState }));
  return j;
}

describe('ingest: work that must not run is stopped', () => {
  it('tells the instance to stop a task that starts after its job was cancelled, and frees the instance', async () => {
    seedRun('CANCELLED', 'DISPATCHED');

    expect(await applyTaskEvent(event({ jobId: 'j1' }), deps)).toBe('stale');

    expect(f.channel.messagesFor('i-1')).toEqual([
      expect.objectContaining({ kind: 'CancelTask', jobId: 'j1', taskIndex: 0, attempt: 0 }),
    ]);
    expect(f.tasks.get({ jobId: 'j1', taskIndex: 0, attempt: 0 })?.state).toBe('CANCELLED');
    expect(f.jobs.jobs.get('j1')?.status).toBe('CANCELLED');
    expect(await f.tasks.activeTasks()).toEqual([]);
  });

  it('tells the instance to stop a start reported by an older attempt, leaving the current one alone', async () => {
    seedRun('RUNNING', 'RUNNING', { attempts: 2 });

    expect(await applyTaskEvent(event({ jobId: 'j1', attempt: 0 }), deps)).toBe('stale');

    expect(f.channel.messagesFor('i-1')).toEqual([
      expect.objectContaining({ kind: 'CancelTask', jobId: 'j1', attempt: 0 }),
    ]);
    expect(f.jobs.jobs.get('j1')?.status).toBe('RUNNING');
  });

  it('tells the instance to stop a run that was requeued while its RunTask was on the way', async () => {
    seedRun('PENDING', 'LOST');

    expect(await applyTaskEvent(event({ jobId: 'j1' }), deps)).toBe('stale');

    expect(f.channel.messagesFor('i-1')).toEqual([
      expect.objectContaining({ kind: 'CancelTask', attempt: 0 }),
    ]);
    expect(f.jobs.jobs.get('j1')?.status).toBe('PENDING');
  });

  it('starts a task of a live job as before, sending nothing to the instance', async () => {
    seedRun('PLACED', 'DISPATCHED');

    expect(await applyTaskEvent(event({ jobId: 'j1' }), deps)).toBe('applied');

    expect(f.jobs.jobs.get('j1')?.status).toBe('RUNNING');
    expect(f.channel.sent).toEqual([]);
  });
});

describe('ingest: a cancelled job is not run again', () => {
  it('ends a job whose cancel was requested CANCELLED when its instance is lost, not PENDING', async () => {
    seedRun('RUNNING', 'RUNNING', { cancelRequestedAt: NOW - 1000 });

    await applyInstanceGone('i-1', deps);

    expect(f.jobs.jobs.get('j1')).toMatchObject({ status: 'CANCELLED', error: { code: 'CANCELLED' } });
    expect(f.tasks.get({ jobId: 'j1', taskIndex: 0, attempt: 0 })?.state).toBe('LOST');
  });

  it('cancels a pending job that still carries an earlier cancel request', async () => {
    f.jobs.seed(storedJob({ id: 'j1', status: 'PENDING', cancelRequestedAt: NOW - 1000 }));

    const cancelled = await f.jobs.requestCancel('j1', NOW);

    expect(cancelled.status).toBe('CANCELLED');
  });
});

describe('ingest: reports are checked against the task records', () => {
  it('ignores a task event from an instance the task is not placed on, and logs it', async () => {
    seedRun('RUNNING', 'RUNNING');
    f.instances.seed(storedInstance('m7i.xlarge', { id: 'i-2', now: NOW }));

    const outcome = await applyTaskEvent(
      event({ jobId: 'j1', event: 'succeeded', exitCode: 0, instanceId: 'i-2' }),
      deps,
    );

    expect(outcome).toBe('foreign');
    expect(f.tasks.get({ jobId: 'j1', taskIndex: 0, attempt: 0 })?.state).toBe('RUNNING');
    expect(f.jobs.jobs.get('j1')?.status).toBe('RUNNING');
    expect(log.lines).toContainEqual(
      expect.objectContaining({
        message: 'ignored a task event from an instance the task is not placed on',
        fields: expect.objectContaining({ reportedBy: 'i-2', placedOn: 'i-1' }),
      }),
    );
  });

  it('stops a copy that starts on an instance the task is not placed on, and only there', async () => {
    seedRun('RUNNING', 'RUNNING');
    f.instances.seed(storedInstance('m7i.xlarge', { id: 'i-2', now: NOW }));

    expect(await applyTaskEvent(event({ jobId: 'j1', instanceId: 'i-2' }), deps)).toBe('foreign');

    expect(f.channel.messagesFor('i-2')).toEqual([
      expect.objectContaining({ kind: 'CancelTask', jobId: 'j1' }),
    ]);
    expect(f.channel.messagesFor('i-1')).toEqual([]);
    expect(f.tasks.get({ jobId: 'j1', taskIndex: 0, attempt: 0 })?.state).toBe('RUNNING');
  });
});

describe('ingest: heartbeats are ordered by run and sequence number', () => {
  const hb = (o: Partial<Heartbeat> & { seq: number; at: number }): Heartbeat => ({
    ...heartbeatOf('i-1', o.at),
    bootId: 'boot-a',
    ...o,
  });
  const seedInstance = () =>
    f.instances.seed(storedInstance('m7i.xlarge', { id: 'i-1', now: NOW, lastHeartbeatAt: undefined }));
  const stored = () => f.instances.instances.get('i-1');

  it('keeps applying honest heartbeats after one sent with a clock a day ahead', async () => {
    seedInstance();
    expect(await applyHeartbeat(hb({ seq: 1, at: NOW + 86_400_000 }), deps)).toBe('applied');
    expect(stored()?.lastHeartbeatAt).toBe(NOW + MAX_CLOCK_SKEW_MS);

    expect(await applyHeartbeat(hb({ seq: 2, at: NOW + 1000 }), deps)).toBe('applied');

    expect(stored()).toMatchObject({ lastHeartbeatAt: NOW + 1000, heartbeatSeq: 2 });
  });

  it('counts an instance silent once a heartbeat from a clock far ahead is older than the timeout plus the skew', async () => {
    seedInstance();
    await applyHeartbeat(hb({ seq: 1, at: NOW + 86_400_000 }), deps);
    const config = parseCycleConfig({ heartbeatTimeoutSeconds: 180 });
    const inst = stored();
    if (!inst) throw new Error('no instance');

    expect(silence(inst, NOW + 180_000 + MAX_CLOCK_SKEW_MS + 1, config)).toMatch(/no heartbeat/);
  });

  it('applies a DRAINED heartbeat sent in the same millisecond as the one before it', async () => {
    seedInstance();
    await applyHeartbeat(hb({ seq: 7, at: NOW }), deps);

    expect(await applyHeartbeat(hb({ seq: 8, at: NOW, state: 'DRAINED' }), deps)).toBe('applied');

    expect(stored()?.state).toBe('TERMINATING');
    expect(f.fleet.callsOf('terminate').map((c) => c.args[0])).toEqual([['i-1']]);
  });

  it('applies the heartbeats of a restarted agent whose clock is a little behind the old one', async () => {
    seedInstance();
    await applyHeartbeat(hb({ seq: 40, at: NOW }), deps);

    expect(await applyHeartbeat(hb({ bootId: 'boot-b', seq: 0, at: NOW - 5000 }), deps)).toBe('applied');
    expect(await applyHeartbeat(hb({ bootId: 'boot-b', seq: 1, at: NOW - 4000 }), deps)).toBe('applied');

    expect(stored()).toMatchObject({
      heartbeatBootId: 'boot-b',
      heartbeatSeq: 1,
      lastHeartbeatAt: NOW - 4000,
    });
  });

  it('ignores an earlier or repeated heartbeat of the same run, whatever its clock says', async () => {
    seedInstance();
    await applyHeartbeat(hb({ seq: 5, at: NOW }), deps);

    expect(await applyHeartbeat(hb({ seq: 5, at: NOW }), deps)).toBe('duplicate');
    expect(await applyHeartbeat(hb({ seq: 4, at: NOW + 60_000 }), deps)).toBe('duplicate');
    expect(stored()).toMatchObject({ heartbeatSeq: 5, lastHeartbeatAt: NOW });
  });

  it('ignores a straggler of another run sent well before the last heartbeat applied', async () => {
    seedInstance();
    await applyHeartbeat(hb({ bootId: 'boot-b', seq: 3, at: NOW }), deps);

    const old = hb({ bootId: 'boot-a', seq: 90, at: NOW - MAX_CLOCK_SKEW_MS - 60_000, state: 'DRAINED' });
    expect(await applyHeartbeat(old, deps)).toBe('stale');

    expect(stored()).toMatchObject({ state: 'RUNNING', heartbeatBootId: 'boot-b' });
    expect(f.fleet.callsOf('terminate')).toEqual([]);
  });
});
