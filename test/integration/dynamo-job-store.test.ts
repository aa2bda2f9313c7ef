import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoJobStore } from '../../lib/aws/dynamo-job-store.ts';
import { ConflictError, InvalidTransitionError } from '../../lib/core/errors.ts';
import { type Job, JobSpecSchema } from '../../lib/core/model/job.ts';
import { resetEmulator, testAwsConfig } from '../support/emulator.ts';
import { createStateTables } from '../support/tables.ts';
import { jobSpec } from '../unit/model/builders.ts';

const T0 = 1_700_000_000_000;

function newJob(id: string, submittedAt = T0): Job {
  return {
    id,
    spec: JobSpecSchema.parse(jobSpec({ name: id })),
    status: 'PENDING',
    version: 0,
    submittedAt,
    updatedAt: submittedAt,
    attempts: 0,
  };
}

describe('DynamoJobStore against the emulator', () => {
  const client = new DynamoDBClient(testAwsConfig());
  let store: DynamoJobStore;

  beforeAll(async () => {
    await resetEmulator();
    const tables = await createStateTables(client, `jobstore-${process.pid}`);
    store = new DynamoJobStore(client, tables);
  });
  afterAll(() => client.destroy());

  it('creates a job once and returns the stored one on a resend with the same id', async () => {
    const first = await store.create(newJob('job-a'));
    const again = await store.create({ ...newJob('job-a'), submittedAt: T0 + 5 });
    expect(first.created).toBe(true);
    expect(again.created).toBe(false);
    expect(again.job.submittedAt).toBe(T0);
  });

  it('creates one job for two submissions with the same idempotency key', async () => {
    const first = await store.create(newJob('job-b1'), 'key-b');
    const second = await store.create(newJob('job-b2'), 'key-b');
    expect(first.created).toBe(true);
    expect(second).toMatchObject({ created: false, job: { id: 'job-b1' } });
    expect(await store.get('job-b2')).toBeUndefined();
  });

  it('returns the job under its own id on a resend that names a key another job owns', async () => {
    await store.create(newJob('job-k1'), 'key-k1');
    await store.create(newJob('job-k2'), 'key-k2');
    const resend = await store.create(newJob('job-k2'), 'key-k1');
    expect(resend).toMatchObject({ created: false, job: { id: 'job-k2' } });
  });

  it('cancels a PENDING job at once but only asks for a LAUNCHING one, whose task is on its way', async () => {
    await store.create(newJob('job-cp'));
    expect(await store.requestCancel('job-cp', T0 + 1)).toMatchObject({ status: 'CANCELLED' });
    await store.create(newJob('job-cl'));
    await store.transition('job-cl', { from: 'PENDING', to: 'LAUNCHING', expectedVersion: 0, now: T0 });
    const asked = await store.requestCancel('job-cl', T0 + 2);
    expect(asked).toMatchObject({ status: 'LAUNCHING', cancelRequestedAt: T0 + 2 });
    expect(await store.requestCancel('job-cl', T0 + 3)).toMatchObject({ cancelRequestedAt: T0 + 2 });
  });

  it('moves a job through the state machine with version checks', async () => {
    await store.create(newJob('job-c'));
    const placed = await store.transition('job-c', {
      from: 'PENDING',
      to: 'PLACED',
      expectedVersion: 0,
      now: T0 + 1,
    });
    expect(placed).toMatchObject({ status: 'PLACED', version: 1, updatedAt: T0 + 1 });
    const done = await store.transition('job-c', {
      from: 'PLACED',
      to: 'FAILED',
      expectedVersion: 1,
      now: T0 + 2,
      patch: { error: { code: 'EXIT', message: 'exited with 3', exitCode: 3 }, finishedAt: T0 + 2 },
    });
    expect(done).toMatchObject({ status: 'FAILED', version: 2, error: { exitCode: 3 }, finishedAt: T0 + 2 });
  });

  // Two writers that read the same version: the second write must lose. (They run one after the other
  // because the emulator does not isolate concurrent conditional writes; DynamoDB does.)
  it('fails when a second writer acts on the version the first one already moved', async () => {
    await store.create(newJob('job-d'));
    await store.transition('job-d', { from: 'PENDING', to: 'PLACED', expectedVersion: 0, now: T0 });
    await expect(
      store.transition('job-d', { from: 'PENDING', to: 'CANCELLED', expectedVersion: 0, now: T0 }),
    ).rejects.toBeInstanceOf(ConflictError);
    expect(await store.get('job-d')).toMatchObject({ status: 'PLACED', version: 1 });
  });

  it('fails when the state machine forbids the transition, writing nothing', async () => {
    await store.create(newJob('job-e'));
    await expect(
      store.transition('job-e', { from: 'PENDING', to: 'SUCCEEDED', expectedVersion: 0, now: T0 }),
    ).rejects.toBeInstanceOf(InvalidTransitionError);
    expect(await store.get('job-e')).toMatchObject({ status: 'PENDING', version: 0 });
  });

  it('lists jobs by status through the index, oldest first', async () => {
    await store.create(newJob('job-f2', T0 + 20));
    await store.create(newJob('job-f1', T0 + 10));
    const pending = await store.list({ status: 'PENDING' });
    const ids = pending.jobs.map((j) => j.id);
    expect(ids.indexOf('job-f1')).toBeLessThan(ids.indexOf('job-f2'));
    expect(pending.jobs.every((j) => j.status === 'PENDING')).toBe(true);
  });

  it('grants a lease to one owner at a time until it expires or is released', async () => {
    expect(await store.acquire('schedule', 'a', 10_000, T0)).toBe(true);
    expect(await store.acquire('schedule', 'b', 10_000, T0 + 1)).toBe(false);
    expect(await store.acquire('schedule', 'a', 10_000, T0 + 2)).toBe(true);
    expect(await store.acquire('schedule', 'b', 10_000, T0 + 20_000)).toBe(true);
    await store.release('schedule', 'b');
    expect(await store.acquire('schedule', 'c', 10_000, T0 + 20_001)).toBe(true);
  });

  it('keeps recent schedule cycles, newest first, dropping numbers DynamoDB cannot store', async () => {
    await store.record({
      cycleId: 'c1',
      at: T0,
      engine: 'milp',
      gap: 0.01,
      explanations: { a: 'placed now' },
    });
    await store.record({
      cycleId: 'c2',
      at: T0 + 1,
      engine: 'greedy',
      gap: Number.POSITIVE_INFINITY,
      explanations: {},
    });
    const recent = await store.recent(5);
    expect(recent.map((c) => c.cycleId)).toEqual(['c2', 'c1']);
    expect(recent[0]?.gap).toBeUndefined();
    expect(recent[1]?.explanations).toEqual({ a: 'placed now' });
  });
});
