import { beforeEach, describe, expect, it } from 'vitest';
import { applyInstanceGone, applyTaskEvent, type IngestDeps } from '../../../lib/core/control/ingest.ts';
import { TransientError } from '../../../lib/core/errors.ts';
import type { Job } from '../../../lib/core/model/job.ts';
import { type TaskEvent, TaskEventSchema } from '../../../lib/core/protocol/tasks.ts';
import { FakeInstanceChannel, fakeControl, storedInstance, storedTask } from '../../fakes/fake-stores.ts';
import { fixedClock, job, NOW } from '../../support/builders.ts';

/**
 * A report whose application fails part-way (a throttled write after the task moved) is redelivered by SQS;
 * the redelivery must finish what the first delivery started, not take the moved task for a duplicate.
 */
let f: ReturnType<typeof fakeControl>;
let deps: IngestDeps;

beforeEach(() => {
  f = fakeControl(fixedClock(NOW));
  deps = { ...f };
});

function seedRunning(over: Partial<Job> = {}) {
  const inst = storedInstance('m7i.xlarge', { id: 'i-1', now: NOW });
  const p = job({ id: 'j1' });
  const j: Job = { ...p, status: 'RUNNING', version: 1, updatedAt: p.submittedAt, attempts: 1, ...over };
  f.instances.seed(inst);
  f.jobs.seed(j);
  f.tasks.seed(storedTask(j, inst, { now: NOW, state: 'RUNNING' }));
}

function event(o: Partial<TaskEvent>): TaskEvent {
  return TaskEventSchema.parse({
    version: 1,
    kind: 'TaskEvent',
    event: 'succeeded',
    jobId: 'j1',
    taskIndex: 0,
    attempt: 0,
    instanceId: 'i-1',
    at: NOW,
    ...o,
  });
}

/** Applies `e` with `fail` armed for its first delivery, then redelivers it as SQS would. */
async function deliverTwice(e: TaskEvent, fail: () => void) {
  fail();
  await expect(applyTaskEvent(e, deps)).rejects.toBeInstanceOf(TransientError);
  return applyTaskEvent(e, deps);
}

describe('ingest: a report redelivered after failing part-way', () => {
  it('finishes the job when the job write of a success failed', async () => {
    seedRunning();
    const outcome = await deliverTwice(event({ exitCode: 0 }), () => f.jobs.failNext('transition'));
    expect(outcome).toBe('applied');
    expect(f.jobs.jobs.get('j1')?.status).toBe('SUCCEEDED');
  });

  it('finishes the job when the instance write of a success failed', async () => {
    seedRunning();
    await deliverTwice(event({ exitCode: 0 }), () => f.instances.failNext('updateInstance'));
    expect(f.jobs.jobs.get('j1')?.status).toBe('SUCCEEDED');
    expect(f.instances.instances.get('i-1')?.lastBusyAt).toBe(NOW);
  });

  it('fails the job when the job write of a failure failed', async () => {
    seedRunning({ spec: { ...job({ id: 'j1' }).spec, maxAttempts: 1 } });
    await deliverTwice(event({ event: 'failed', exitCode: 3, reason: 'exit' }), () =>
      f.jobs.failNext('transition'),
    );
    expect(f.jobs.jobs.get('j1')).toMatchObject({ status: 'FAILED', error: { code: 'EXIT' } });
  });

  it('requeues the job when the job write of a hand-back failed', async () => {
    seedRunning();
    await deliverTwice(event({ event: 'handed-back', reason: 'drain' }), () => f.jobs.failNext('transition'));
    expect(f.jobs.jobs.get('j1')?.status).toBe('PENDING');
  });

  it('requeues the work of a terminated instance when the requeue failed after the instance was marked', async () => {
    seedRunning();
    f.tasks.failNext('activeTasks');
    await expect(applyInstanceGone('i-1', deps)).rejects.toBeInstanceOf(TransientError);
    expect(f.instances.instances.get('i-1')?.state).toBe('TERMINATED');

    expect(await applyInstanceGone('i-1', deps)).toBe('applied');
    expect(f.jobs.jobs.get('j1')?.status).toBe('PENDING');
    expect(f.channel.closed.has(FakeInstanceChannel.urlOf('i-1'))).toBe(true);
    expect(await applyInstanceGone('i-1', deps)).toBe('duplicate');
  });

  it('still takes a plain redelivery of an applied success for a duplicate', async () => {
    seedRunning();
    expect(await applyTaskEvent(event({ exitCode: 0 }), deps)).toBe('applied');
    const writes = f.jobs.callsOf('transition').length;
    expect(await applyTaskEvent(event({ exitCode: 0 }), deps)).toBe('duplicate');
    expect(f.jobs.callsOf('transition')).toHaveLength(writes);
    expect(f.jobs.jobs.get('j1')?.status).toBe('SUCCEEDED');
  });
});
