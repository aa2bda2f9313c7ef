import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoFleetStore } from '../../lib/aws/dynamo-fleet-store.ts';
import { DynamoJobStore } from '../../lib/aws/dynamo-job-store.ts';
import type { TaskRecord } from '../../lib/core/control/task-record.ts';
import { ConflictError, ValidationError } from '../../lib/core/errors.ts';
import type { Instance } from '../../lib/core/model/instance.ts';
import { type Job, JobSpecSchema } from '../../lib/core/model/job.ts';
import { resetEmulator, testAwsConfig } from '../support/emulator.ts';
import { createStateTables } from '../support/tables.ts';
import { jobSpec } from '../unit/model/builders.ts';

const job = (id: string): Job => ({
  id,
  spec: JobSpecSchema.parse(jobSpec({ name: id, gang: 2 })),
  status: 'PENDING',
  version: 0,
  submittedAt: 1,
  updatedAt: 1,
  attempts: 0,
});

const task = (jobId: string, taskIndex: number, overrides: Partial<TaskRecord> = {}): TaskRecord => ({
  jobId,
  taskIndex,
  attempt: 0,
  instanceId: 'i-1',
  state: 'PLACED',
  alternative: 0,
  resources: { vcpu: 1, memoryMiB: 512, gpus: 0 },
  gpuIndices: [],
  startAt: 10,
  expectedEndAt: 20,
  updatedAt: 10,
  ...overrides,
});

const instance = (id: string, state: Instance['state']): Instance => ({
  id,
  type: 'c7i.large',
  market: 'on-demand',
  state,
  capacity: { vcpu: 2, memoryMiB: 4096, gpus: 0 },
  launchedAt: 5,
  version: 0,
});

describe('DynamoFleetStore against the emulator', () => {
  const client = new DynamoDBClient(testAwsConfig());
  let fleet: DynamoFleetStore;
  let jobs: DynamoJobStore;

  beforeAll(async () => {
    await resetEmulator();
    const tables = await createStateTables(client, `fleetstore-${process.pid}`);
    fleet = new DynamoFleetStore(client, tables);
    jobs = new DynamoJobStore(client, tables);
  });
  afterAll(() => client.destroy());

  it('commits a gang placement and the job state in one transaction', async () => {
    await jobs.create(job('g-1'));
    const placed = await fleet.commitPlacement(job('g-1'), 'PLACED', [task('g-1', 0), task('g-1', 1)], 11, {
      market: 'spot',
    });
    expect(placed).toMatchObject({ status: 'PLACED', version: 1, attempts: 1, market: 'spot' });
    expect(await jobs.get('g-1')).toMatchObject({ status: 'PLACED', version: 1, market: 'spot' });
    expect((await fleet.tasksOfJob('g-1')).map((t) => t.taskIndex)).toEqual([0, 1]);
  });

  it('fails when the job moved since it was read, writing no task', async () => {
    await jobs.create(job('g-2'));
    await jobs.transition('g-2', { from: 'PENDING', to: 'CANCELLED', expectedVersion: 0, now: 2 });
    await expect(
      fleet.commitPlacement(job('g-2'), 'PLACED', [task('g-2', 0), task('g-2', 1)], 11),
    ).rejects.toBeInstanceOf(ConflictError);
    expect(await fleet.tasksOfJob('g-2')).toEqual([]);
  });

  // The emulator applies transactions without isolation (a failed one restores a copy of the whole table),
  // so the race is exercised as two commits from the same read, one after the other.
  it('places a job once when two cycles commit it from the same read', async () => {
    await jobs.create(job('g-3'));
    await fleet.commitPlacement(job('g-3'), 'PLACED', [task('g-3', 0, { instanceId: 'i-a' })], 11);
    await expect(
      fleet.commitPlacement(job('g-3'), 'PLACED', [task('g-3', 0, { instanceId: 'i-b' })], 11),
    ).rejects.toBeInstanceOf(ConflictError);
    const tasks = await fleet.tasksOfJob('g-3');
    expect(tasks.map((t) => t.instanceId)).toEqual(['i-a']);
  });

  it('moves a task only from the states named, so a repeated event is a no-op', async () => {
    const key = { jobId: 'g-1', taskIndex: 0, attempt: 0 };
    expect(await fleet.moveTask(key, ['PLACED', 'DISPATCHED'], 'RUNNING', 12)).toBe(true);
    expect(await fleet.moveTask(key, ['PLACED', 'DISPATCHED'], 'RUNNING', 13)).toBe(false);
    expect(await fleet.moveTask(key, ['RUNNING'], 'SUCCEEDED', 14, { exitCode: 0 })).toBe(true);
    const stored = (await fleet.tasksOfJob('g-1')).find((t) => t.taskIndex === 0);
    expect(stored).toMatchObject({ state: 'SUCCEEDED', exitCode: 0, updatedAt: 14 });
    const active = await fleet.activeTasks();
    expect(active.some((t) => t.jobId === 'g-1' && t.taskIndex === 0)).toBe(false);
    expect(active.some((t) => t.jobId === 'g-1' && t.taskIndex === 1)).toBe(true);
  });

  it('lists instances by state and updates them under a version check', async () => {
    await fleet.putInstance(instance('i-run', 'RUNNING'));
    await fleet.putInstance(instance('i-pend', 'PENDING'));
    await fleet.putInstance(instance('i-pend', 'RUNNING'));
    expect((await fleet.getInstance('i-pend'))?.state).toBe('PENDING');
    const live = await fleet.listInstances();
    expect(live.map((i) => i.id).sort()).toEqual(['i-pend', 'i-run']);
    const updated = await fleet.updateInstance('i-pend', 0, { state: 'RUNNING', lastHeartbeatAt: 99 });
    expect(updated).toMatchObject({ state: 'RUNNING', version: 1, lastHeartbeatAt: 99 });
    await expect(fleet.updateInstance('i-pend', 0, { state: 'DRAINING' })).rejects.toBeInstanceOf(
      ConflictError,
    );
    expect((await fleet.listInstances(['RUNNING'])).map((i) => i.id).sort()).toEqual(['i-pend', 'i-run']);
  });

  it('keeps the heartbeat mark with the instance, written in the same conditional update', async () => {
    await fleet.putInstance(instance('i-mark', 'PENDING'));
    const marked = await fleet.updateInstance('i-mark', 0, {
      state: 'RUNNING',
      lastHeartbeatAt: 120,
      heartbeatBootId: 'boot-a',
      heartbeatSeq: 8,
    });
    expect(marked).toMatchObject({ heartbeatBootId: 'boot-a', heartbeatSeq: 8, version: 1 });
    expect(await fleet.getInstance('i-mark')).toMatchObject({ heartbeatBootId: 'boot-a', heartbeatSeq: 8 });
  });

  it('stores an instance with its heartbeat run and seq and reads it back unchanged', async () => {
    const marked: Instance = {
      ...instance('i-marked', 'RUNNING'),
      heartbeatBootId: 'boot-z',
      heartbeatSeq: 41,
    };
    await fleet.putInstance(marked);
    expect(await fleet.getInstance('i-marked')).toEqual(marked);
    expect((await fleet.listInstances(['RUNNING'])).find((i) => i.id === 'i-marked')).toEqual(marked);
  });

  it.each([
    ['an empty boot id', { heartbeatBootId: '' }, 'heartbeatBootId'],
    ['a boot id over 128 characters', { heartbeatBootId: 'b'.repeat(129) }, 'heartbeatBootId'],
    ['a negative seq', { heartbeatSeq: -1 }, 'heartbeatSeq'],
    ['a fractional seq', { heartbeatSeq: 2.5 }, 'heartbeatSeq'],
  ])('fails when an update carries %s, writing nothing', async (what, marks, path) => {
    const id = `i-bad-${what.replaceAll(' ', '-')}`;
    await fleet.putInstance(instance(id, 'PENDING'));
    const error = await fleet.updateInstance(id, 0, { state: 'RUNNING', ...marks }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((i) => i.path)).toEqual([path]);
    expect(await fleet.getInstance(id)).toEqual(instance(id, 'PENDING'));
  });
});
