import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildScheduleHandler } from '../../lambdas/schedule.ts';
import { createAwsAdapters } from '../../lib/aws/adapters.ts';
import type { TaskRecord } from '../../lib/core/control/task-record.ts';
import { findInstanceType } from '../../lib/core/model/catalog.ts';
import type { JobSpecInput } from '../../lib/core/model/job.ts';
import { scheduledEvent } from '../../lib/local/event-pump.ts';
import { LocalCloud } from '../../lib/local/local-cloud.ts';
import { SubmissionRejectedError, type TetrafleetClient } from '../../lib/sdk/index.ts';
import { eventually } from '../support/eventually.ts';

/**
 * The whole loop on the emulator: SDK -> admit -> schedule (placement MILP) -> EC2 launch -> real agent
 * processes -> ingest -> terminal state. One local cloud serves every scenario of this file.
 */

const out = mkdtempSync(join(tmpdir(), 'tf-e2e-out-'));
let cloud: LocalCloud;
let client: TetrafleetClient;
let adapters: ReturnType<typeof createAwsAdapters>;

/** A task that does real work (a CPU loop) and writes its result where the test can read it. */
function work(name: string, loops = 2e6, extra = ''): JobSpecInput['task'] {
  const script = `let s=0;for(let i=0;i<${loops};i++)s+=i%7;${extra}require('fs').writeFileSync(${JSON.stringify(join(out, name))},String(s)+' '+(process.env.CUDA_VISIBLE_DEVICES??''))`;
  return { kind: 'command', command: process.execPath, args: ['-e', script] };
}

const cpuOnly = (name: string): JobSpecInput => ({
  name,
  task: work(name),
  alternatives: [{ requirement: { vcpu: 1, memoryMiB: 1024 }, durationSeconds: 20 }],
  utility: { deadlineSeconds: 900, value: 10 },
});

const gpuPreferred = (name: string): JobSpecInput => ({
  name,
  task: work(name),
  alternatives: [
    { name: 'gpu', requirement: { vcpu: 2, memoryMiB: 4096, gpus: 1 }, durationSeconds: 30 },
    { name: 'cpu', requirement: { vcpu: 2, memoryMiB: 4096 }, durationSeconds: 900 },
  ],
  utility: { deadlineSeconds: 240, value: 40 },
});

beforeAll(async () => {
  cloud = await LocalCloud.start({
    stackName: 'tetrafleet-e2e',
    instanceTypes: ['c7i.large', 'c7i.xlarge', 'g5.xlarge'],
    maxFleetSize: 8,
    budgetPerHour: 30,
    slotSeconds: 30,
    cycle: {
      heartbeatTimeoutSeconds: 30,
      idleTimeoutSeconds: 6,
      launchGraceSeconds: 30,
      solveTimeLimitMs: 1500,
    },
  });
  client = cloud.client();
  adapters = createAwsAdapters(cloud.config.adapters);
}, 600_000);

afterAll(async () => {
  client?.close();
  adapters?.destroy();
  await cloud?.stop();
  rmSync(out, { recursive: true, force: true });
});

/** Every task record ever written, across jobs, for invariant checks. */
async function allTasks(jobIds: readonly string[]): Promise<TaskRecord[]> {
  const lists = await Promise.all(jobIds.map((id) => adapters.fleetStore.tasksOfJob(id)));
  return lists.flat();
}

describe('the control loop end to end', () => {
  it('runs 30 mixed jobs to SUCCEEDED on launched instances of several types, never over-committing one', async () => {
    const specs: JobSpecInput[] = [
      ...Array.from({ length: 22 }, (_, i) => cpuOnly(`cpu-${i}`)),
      ...Array.from({ length: 7 }, (_, i) => gpuPreferred(`gpu-${i}`)),
      { ...cpuOnly('gang-0'), gang: 2 },
    ];
    const ids = [];
    for (const spec of specs) ids.push((await client.submitJob(spec)).jobId);
    const jobs = await Promise.all(ids.map((id) => client.waitForJob(id, { timeoutMs: 420_000 })));
    expect(jobs.map((j) => j.status)).toEqual(ids.map(() => 'SUCCEEDED'));
    // Every task really ran: its output file is there (the gang wrote one file from each member).
    expect(readdirSync(out).filter((f) => f.startsWith('cpu-') || f.startsWith('gpu-'))).toHaveLength(29);
    expect(readFileSync(join(out, 'gpu-0'), 'utf8')).toMatch(/ 0$/);

    const tasks = await allTasks(ids);
    const instances = await adapters.fleetStore.listInstances([
      'PENDING',
      'RUNNING',
      'DRAINING',
      'TERMINATING',
      'TERMINATED',
    ]);
    const types = new Set(
      instances.filter((i) => tasks.some((t) => t.instanceId === i.id)).map((i) => i.type),
    );
    expect(types.size).toBeGreaterThan(1);
    expect(types.has('g5.xlarge')).toBe(true);
    // No over-commit: sweep each instance's task intervals [startAt, end] and check every dimension.
    for (const instance of instances) {
      const capacity = findInstanceType(instance.type);
      const mine = tasks.filter((t) => t.instanceId === instance.id);
      const points = mine.flatMap((t) => [
        { at: t.startAt, sign: 1, t },
        { at: t.updatedAt, sign: -1, t },
      ]);
      points.sort((a, b) => a.at - b.at || a.sign - b.sign);
      let vcpu = 0;
      let gpus = 0;
      let memoryMiB = 0;
      for (const p of points) {
        vcpu += p.sign * p.t.resources.vcpu;
        gpus += p.sign * p.t.resources.gpus;
        memoryMiB += p.sign * p.t.resources.memoryMiB;
        expect(vcpu, `${instance.id} vcpu`).toBeLessThanOrEqual(capacity?.vcpu ?? 0);
        expect(gpus, `${instance.id} gpus`).toBeLessThanOrEqual(capacity?.gpus ?? 0);
        expect(memoryMiB, `${instance.id} memory`).toBeLessThanOrEqual(capacity?.memoryMiB ?? 0);
      }
    }
    // With the work done, idle instances are retired.
    await eventually(
      async () => (await adapters.fleet.list()).length === 0,
      180_000,
      'idle instances to be terminated',
    );
  });

  it('fails a job whose command fails, with its exit code and output tail', async () => {
    const { jobId } = await client.submitJob({
      ...cpuOnly('fails'),
      task: {
        kind: 'command',
        command: process.execPath,
        args: ['-e', 'console.error("disk full"); process.exit(3)'],
      },
    });
    const job = await client.waitForJob(jobId, { timeoutMs: 300_000 });
    expect(job.status).toBe('FAILED');
    expect(job.error?.exitCode).toBe(3);
    expect(job.error?.outputTail).toContain('disk full');
  });

  it('stops a running task when its job is cancelled', async () => {
    const { jobId } = await client.submitJob({
      ...cpuOnly('long'),
      task: { kind: 'command', command: process.execPath, args: ['-e', 'setTimeout(() => {}, 600000)'] },
    });
    await eventually(
      async () => (await client.getJob(jobId))?.status === 'RUNNING',
      300_000,
      'the job to run',
    );
    await client.cancelJob(jobId);
    const job = await client.waitForJob(jobId, { timeoutMs: 120_000 });
    expect(job.status).toBe('CANCELLED');
    const [task] = await adapters.fleetStore.tasksOfJob(jobId);
    expect(task?.state).toBe('CANCELLED');
  });

  it('creates one job for two submissions with the same idempotency key', async () => {
    const first = await client.submitJob(cpuOnly('idem'), { idempotencyKey: 'e2e-idem' });
    const second = await client.submitJob(cpuOnly('idem'), { idempotencyKey: 'e2e-idem' });
    // The job id is derived from the key, so the retry names the same job.
    expect(second.jobId).toBe(first.jobId);
    await client.waitForJob(first.jobId, { timeoutMs: 300_000 });
    const all = (await client.listJobs({ limit: 1000 })).jobs.filter((j) => j.spec.name === 'idem');
    expect(all.map((j) => j.id)).toEqual([first.jobId]);
  });

  it('refuses an invalid submission with a field-level reason the submitter can read', async () => {
    const sqs = new SQSClient(cloud.config.adapters.aws);
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: cloud.config.queues.submissions,
        MessageBody: JSON.stringify({
          version: 1,
          kind: 'SubmitJob',
          jobId: 'e2e-invalid',
          spec: { ...cpuOnly('x'), gang: 0 },
        }),
      }),
    );
    sqs.destroy();
    const error = await eventually(
      async () =>
        client.getJob('e2e-invalid').then(
          () => undefined,
          (e: unknown) => e as Error,
        ),
      120_000,
      'the rejection',
    );
    expect(error).toBeInstanceOf(SubmissionRejectedError);
    expect((error as SubmissionRejectedError).issues.map((i) => i.path)).toContain('spec.gang');
  });

  it('places each job once when two schedule invocations start at the same moment', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await client.submitJob(cpuOnly(`twice-${i}`))).jobId);
    await eventually(
      async () => (await Promise.all(ids.map((id) => client.getJob(id)))).every(Boolean),
      120_000,
      'the jobs to be admitted',
    );
    // Two more schedule Lambdas, as if EventBridge and a nudge fired together (the pump's timer runs too).
    const a = buildScheduleHandler(cloud.config, { slotSeconds: 30 });
    const b = buildScheduleHandler(cloud.config, { slotSeconds: 30 });
    const results = await Promise.all([a(scheduledEvent('twice-a')), b(scheduledEvent('twice-b'))]);
    expect(results.every((r) => r.status === 'done' || r.status === 'skipped')).toBe(true);
    const jobs = await Promise.all(ids.map((id) => client.waitForJob(id, { timeoutMs: 300_000 })));
    expect(jobs.map((j) => [j.status, j.attempts])).toEqual(ids.map(() => ['SUCCEEDED', 1]));
    const tasks = await allTasks(ids);
    expect(tasks).toHaveLength(ids.length);
  });

  it('retries a task elsewhere after its agent is killed mid-task, and finishes it', async () => {
    const { jobId } = await client.submitJob({
      ...cpuOnly('crash'),
      task: work('crash', 2e6, 'const t=Date.now();while(Date.now()-t<8000){};'),
    });
    await eventually(
      async () => (await client.getJob(jobId))?.status === 'RUNNING',
      300_000,
      'the job to run',
    );
    const [task] = await adapters.fleetStore.tasksOfJob(jobId);
    expect(cloud.agents.signal(task?.instanceId ?? '', 'SIGKILL')).toBe(true);
    const job = await client.waitForJob(jobId, { timeoutMs: 300_000 });
    expect(job.status).toBe('SUCCEEDED');
    expect(job.attempts).toBe(2);
    const tasks = await adapters.fleetStore.tasksOfJob(jobId);
    expect(tasks.find((t) => t.attempt === 0)?.state).toBe('LOST');
    expect(tasks.find((t) => t.attempt === 1)?.instanceId).not.toBe(task?.instanceId);
  });
});
