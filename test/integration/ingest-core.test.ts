import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoFleetStore } from '../../lib/aws/dynamo-fleet-store.ts';
import { DynamoJobStore } from '../../lib/aws/dynamo-job-store.ts';
import {
  applyHeartbeat,
  applyInstanceGone,
  applyRebalanceRecommendation,
  applySpotWarning,
  applyTaskEvent,
  type IngestDeps,
  REBALANCE_SERVE_SECONDS,
} from '../../lib/core/control/ingest.ts';
import type { TaskRecord } from '../../lib/core/control/task-record.ts';
import type { Instance } from '../../lib/core/model/instance.ts';
import { type Job, JobSpecSchema } from '../../lib/core/model/job.ts';
import type { InstanceChannel } from '../../lib/core/ports.ts';
import type { HeartbeatInput } from '../../lib/core/protocol/heartbeat.ts';
import { type TaskEventInput, TaskEventSchema } from '../../lib/core/protocol/tasks.ts';
import { heartbeatOf } from '../fakes/fake-seeds.ts';
import { resetEmulator, testAwsConfig } from '../support/emulator.ts';
import { createStateTables } from '../support/tables.ts';
import { jobSpec } from '../unit/model/builders.ts';

/** Records what the control loop sends to instances and what it terminates. */
class RecordingChannel implements InstanceChannel {
  readonly sent: { queueUrl: string; kind: string; jobId?: string }[] = [];
  readonly drains: Parameters<InstanceChannel['send']>[1][] = [];
  readonly cancels: Parameters<InstanceChannel['send']>[1][] = [];
  readonly closed: string[] = [];
  async open(instanceId: string) {
    return `q/${instanceId}`;
  }
  async send(queueUrl: string, message: Parameters<InstanceChannel['send']>[1]) {
    this.sent.push({ queueUrl, kind: message.kind, jobId: 'jobId' in message ? message.jobId : undefined });
    if (message.kind === 'Drain') this.drains.push(message);
    if (message.kind === 'CancelTask') this.cancels.push(message);
  }
  async close(queueUrl: string) {
    this.closed.push(queueUrl);
  }
}

describe('ingest against the emulator', () => {
  const client = new DynamoDBClient(testAwsConfig());
  let deps: IngestDeps;
  let channel: RecordingChannel;
  const terminated: string[] = [];
  let now = 1_000;

  beforeAll(async () => {
    await resetEmulator();
    const tables = await createStateTables(client, `ingest-${process.pid}`);
    const fleetStore = new DynamoFleetStore(client, tables);
    channel = new RecordingChannel();
    deps = {
      jobs: new DynamoJobStore(client, tables),
      tasks: fleetStore,
      instances: fleetStore,
      channel,
      clock: { now: () => now },
      fleet: { terminate: async (ids) => void terminated.push(...ids) },
    };
  });
  afterAll(() => client.destroy());

  async function placedJob(
    id: string,
    opts: {
      gang?: number;
      instanceId?: string;
      maxAttempts?: number;
      task?: NonNullable<Parameters<typeof jobSpec>[0]>['task'];
    } = {},
  ) {
    const job: Job = {
      id,
      spec: JobSpecSchema.parse(
        jobSpec({
          name: id,
          gang: opts.gang ?? 1,
          maxAttempts: opts.maxAttempts ?? 3,
          ...(opts.task ? { task: opts.task } : {}),
        }),
      ),
      status: 'PENDING',
      version: 0,
      submittedAt: 1,
      updatedAt: 1,
      attempts: 0,
    };
    await deps.jobs.create(job);
    const tasks: TaskRecord[] = Array.from({ length: opts.gang ?? 1 }, (_, taskIndex) => ({
      jobId: id,
      taskIndex,
      attempt: 0,
      instanceId: opts.instanceId ?? 'i-0aaa00000000000a1',
      state: 'DISPATCHED',
      alternative: 0,
      resources: { vcpu: 1, memoryMiB: 512, gpus: 0 },
      gpuIndices: [],
      startAt: 1,
      expectedEndAt: 100,
      updatedAt: 1,
    }));
    await deps.tasks.commitPlacement(job, 'PLACED', tasks, 2);
  }

  async function instance(id: string, state: Instance['state']) {
    await deps.instances.putInstance({
      id,
      type: 'c7i.large',
      market: 'spot',
      state,
      capacity: { vcpu: 2, memoryMiB: 4096, gpus: 0 },
      launchedAt: 1,
      queueUrl: `q/${id}`,
      version: 0,
    });
  }

  const event = (jobId: string, e: Partial<TaskEventInput>) =>
    TaskEventSchema.parse({
      version: 1,
      kind: 'TaskEvent',
      event: 'started',
      jobId,
      taskIndex: 0,
      attempt: 0,
      instanceId: 'i-0aaa00000000000a1',
      at: ++now,
      ...e,
    });

  it('runs a job to SUCCEEDED, and a repeated report changes nothing', async () => {
    await placedJob('ok-1');
    expect(await applyTaskEvent(event('ok-1', { event: 'started' }), deps)).toBe('applied');
    expect((await deps.jobs.get('ok-1'))?.status).toBe('RUNNING');
    const done = event('ok-1', { event: 'succeeded', exitCode: 0, durationMs: 5 });
    expect(await applyTaskEvent(done, deps)).toBe('applied');
    expect(await applyTaskEvent(done, deps)).toBe('duplicate');
    const job = await deps.jobs.get('ok-1');
    expect(job).toMatchObject({ status: 'SUCCEEDED', version: 3 });
  });

  it('finishes a gang only when every member succeeded', async () => {
    await placedJob('gang-1', { gang: 2 });
    await applyTaskEvent(event('gang-1', { event: 'succeeded', taskIndex: 0, exitCode: 0 }), deps);
    expect((await deps.jobs.get('gang-1'))?.status).toBe('PLACED');
    await applyTaskEvent(event('gang-1', { event: 'succeeded', taskIndex: 1, exitCode: 0 }), deps);
    expect((await deps.jobs.get('gang-1'))?.status).toBe('SUCCEEDED');
  });

  it('fails a job with its exit code and output tail, and stops the rest of its gang', async () => {
    await instance('i-0aaa00000000000a1', 'RUNNING');
    await placedJob('bad-1', { gang: 2 });
    const failed = event('bad-1', {
      event: 'failed',
      taskIndex: 1,
      exitCode: 3,
      reason: 'exit',
      output: { stdout: '', stderr: 'boom', truncated: false },
    });
    expect(await applyTaskEvent(failed, deps)).toBe('applied');
    const job = await deps.jobs.get('bad-1');
    expect(job).toMatchObject({ status: 'FAILED', error: { exitCode: 3, outputTail: 'boom' } });
    expect(channel.sent).toContainEqual({ queueUrl: expect.any(String), kind: 'CancelTask', jobId: 'bad-1' });
    const tasks = await deps.tasks.tasksOfJob('bad-1');
    expect(tasks.map((t) => t.state).sort()).toEqual(['CANCELLED', 'FAILED']);
  });

  it('ignores a report about an older attempt', async () => {
    await placedJob('old-1');
    expect(await applyTaskEvent(event('old-1', { event: 'succeeded', attempt: 5 }), deps)).toBe('stale');
    expect((await deps.jobs.get('old-1'))?.status).toBe('PLACED');
  });

  it('requeues a handed-back task while attempts remain, and fails it after the last', async () => {
    await placedJob('hb-1', { maxAttempts: 1 });
    await placedJob('hb-2', { maxAttempts: 3 });
    await applyTaskEvent(event('hb-1', { event: 'handed-back', reason: 'drain' }), deps);
    await applyTaskEvent(event('hb-2', { event: 'handed-back', reason: 'drain' }), deps);
    expect(await deps.jobs.get('hb-1')).toMatchObject({
      status: 'FAILED',
      error: { code: 'ATTEMPTS_EXHAUSTED' },
    });
    expect(await deps.jobs.get('hb-2')).toMatchObject({ status: 'PENDING', attempts: 1 });
  });

  it('marks an instance RUNNING on its first heartbeat and ignores an older one', async () => {
    await instance('i-0bbb00000000000b1', 'PENDING');
    const hb = (at: number, state: HeartbeatInput['state'] = 'RUNNING') =>
      heartbeatOf('i-0bbb00000000000b1', at, state);
    const appliedAt = now;
    expect(await applyHeartbeat(hb(500), deps)).toBe('applied');
    now += 10;
    expect(await applyHeartbeat(hb(400), deps)).toBe('duplicate');
    // When it was applied is kept beside when it was sent: the schedule credits the difference.
    expect(await deps.instances.getInstance('i-0bbb00000000000b1')).toMatchObject({
      state: 'RUNNING',
      lastHeartbeatAt: 500,
      heartbeatAppliedAt: appliedAt,
    });
    expect(await applyHeartbeat(hb(600, 'DRAINED'), deps)).toBe('applied');
    expect((await deps.instances.getInstance('i-0bbb00000000000b1'))?.state).toBe('TERMINATING');
    expect(terminated).toContain('i-0bbb00000000000b1');
  });

  it('drains a spot instance on its interruption warning and requeues its work', async () => {
    await instance('i-0ccc00000000000c1', 'RUNNING');
    await placedJob('spot-1', { instanceId: 'i-0ccc00000000000c1' });
    expect(await applySpotWarning('i-0ccc00000000000c1', deps)).toBe('applied');
    expect(await applySpotWarning('i-0ccc00000000000c1', deps)).toBe('duplicate');
    expect((await deps.instances.getInstance('i-0ccc00000000000c1'))?.state).toBe('DRAINING');
    expect(channel.sent).toContainEqual({
      queueUrl: 'q/i-0ccc00000000000c1',
      kind: 'Drain',
      jobId: undefined,
    });
    expect(await deps.jobs.get('spot-1')).toMatchObject({ status: 'PENDING', attempts: 1 });
  });

  it('leaves serving tasks running through a spot drain while requeueing them, and cancels the rest', async () => {
    await instance('i-0eee00000000000e1', 'RUNNING');
    const on = { instanceId: 'i-0eee00000000000e1' };
    await placedJob('serve-1', { ...on, task: { kind: 'router', pipelineId: 'vision' } });
    await placedJob('batch-1', on);
    expect(await applySpotWarning('i-0eee00000000000e1', deps)).toBe('applied');
    const sent = channel.sent.filter((m) => m.queueUrl === 'q/i-0eee00000000000e1');
    expect(sent).toEqual([
      { queueUrl: 'q/i-0eee00000000000e1', kind: 'Drain', jobId: undefined },
      { queueUrl: 'q/i-0eee00000000000e1', kind: 'CancelTask', jobId: 'batch-1' },
    ]);
    expect(channel.drains.at(-1)).toMatchObject({ serveThroughGrace: true, graceSeconds: 90 });
    for (const id of ['serve-1', 'batch-1'])
      expect(await deps.jobs.get(id)).toMatchObject({ status: 'PENDING', attempts: 1 });
    // The server's hand-back when the grace ends is about a run already requeued: nothing moves.
    const handedBack = event('serve-1', { event: 'handed-back', reason: 'drain', instanceId: on.instanceId });
    expect(await applyTaskEvent(handedBack, deps)).toBe('duplicate');
    expect(await deps.jobs.get('serve-1')).toMatchObject({ status: 'PENDING', attempts: 1 });
  });

  it('cordons an instance on a rebalance recommendation, moving only its serving tasks, and drains it on the warning', async () => {
    const id = 'i-0fff00000000000f1';
    await instance(id, 'RUNNING');
    const on = { instanceId: id };
    await placedJob('serve-2', { ...on, task: { kind: 'router', pipelineId: 'vision' } });
    await placedJob('batch-2', on);
    now = 50_000;
    expect(await applyRebalanceRecommendation(id, deps)).toBe('applied');
    expect(await applyRebalanceRecommendation(id, deps)).toBe('duplicate');
    expect(await deps.instances.getInstance(id)).toMatchObject({
      state: 'DRAINING',
      rebalanceRecommendedAt: 50_000,
    });
    // No Drain: the agent keeps polling. The server is requeued and stopped only after it has served on.
    expect(channel.sent.filter((m) => m.queueUrl === `q/${id}`)).toEqual([
      { queueUrl: `q/${id}`, kind: 'CancelTask', jobId: 'serve-2' },
    ]);
    expect(channel.cancels.at(-1)).toMatchObject({ jobId: 'serve-2', afterSeconds: REBALANCE_SERVE_SECONDS });
    expect(await deps.jobs.get('serve-2')).toMatchObject({ status: 'PENDING', attempts: 1 });
    // The batch task runs on.
    expect((await deps.jobs.get('batch-2'))?.status).toBe('PLACED');
    expect((await deps.tasks.activeTasks()).filter((t) => t.instanceId === id).map((t) => t.jobId)).toEqual([
      'batch-2',
    ]);

    // The interruption warning that follows drains it and requeues the batch task, once.
    expect(await applySpotWarning(id, deps)).toBe('applied');
    expect(await applySpotWarning(id, deps)).toBe('duplicate');
    expect(channel.sent.filter((m) => m.queueUrl === `q/${id}`).slice(1)).toEqual([
      { queueUrl: `q/${id}`, kind: 'Drain', jobId: undefined },
      { queueUrl: `q/${id}`, kind: 'CancelTask', jobId: 'batch-2' },
    ]);
    expect(channel.drains.at(-1)).toMatchObject({ reason: 'spot-interruption', graceSeconds: 90 });
    expect(await deps.jobs.get('batch-2')).toMatchObject({ status: 'PENDING', attempts: 1 });
    expect((await deps.instances.getInstance(id))?.interruptionWarnedAt).toBe(50_000);
  });

  it("ignores a rebalance recommendation for an instance that is not the fleet's or already draining", async () => {
    expect(await applyRebalanceRecommendation('i-0aaa0000000000099', deps)).toBe('unknown');
    await instance('i-0aaa00000000000a9', 'DRAINING');
    expect(await applyRebalanceRecommendation('i-0aaa00000000000a9', deps)).toBe('duplicate');
    expect(channel.sent.filter((m) => m.queueUrl === 'q/i-0aaa00000000000a9')).toEqual([]);
  });

  it('requeues the work of a terminated instance once', async () => {
    await instance('i-0ddd00000000000d1', 'RUNNING');
    await placedJob('gone-1', { instanceId: 'i-0ddd00000000000d1' });
    expect(await applyInstanceGone('i-0ddd00000000000d1', deps)).toBe('applied');
    expect(await applyInstanceGone('i-0ddd00000000000d1', deps)).toBe('duplicate');
    expect(await deps.jobs.get('gone-1')).toMatchObject({ status: 'PENDING', attempts: 1 });
    expect(channel.closed).toContain('q/i-0ddd00000000000d1');
  });
});
