import { beforeEach, describe, expect, it } from 'vitest';
import { freeBySlot, heldSlots } from '../../../lib/core/control/capacity.ts';
import { type CycleDeps, runScheduleCycle } from '../../../lib/core/control/cycle.ts';
import { parseCycleConfig } from '../../../lib/core/control/cycle-config.ts';
import { isServingTask, OPEN_ENDED_AT, runTaskFor } from '../../../lib/core/control/run-task.ts';
import { type Job, type JobSpecInput, JobSpecSchema } from '../../../lib/core/model/job.ts';
import { RunTaskSchema } from '../../../lib/core/protocol/tasks.ts';
import { HighsSolver } from '../../../lib/solver/highs-solver.ts';
import { FakeMilpSolver } from '../../fakes/fake-milp-solver.ts';
import { cloudOf, fakeControl, storedInstance, storedTask } from '../../fakes/fake-stores.ts';
import { fixedClock, h, job, NOW } from '../../support/builders.ts';

const config = parseCycleConfig({
  slotSeconds: 600,
  slots: 12,
  solveTimeLimitMs: 2000,
  allowedInstanceTypes: ['m7i.xlarge', 'c7i.large'],
});

const REPLICA = { vcpu: 2, memoryMiB: 6144, gpus: 0 };
const MODEL_TASK = {
  kind: 'model',
  modelId: 'detector',
  model: { uri: '/models/detector.onnx' },
  pipelineId: 'cams',
  stageId: 'detect',
} as const;

function servingJob(
  id: string,
  over: Partial<JobSpecInput> &
    Partial<Pick<Job, 'status' | 'attempts' | 'cancelRequestedAt' | 'submittedAt'>> = {},
): Job {
  const { status = 'PENDING', attempts = 0, cancelRequestedAt, submittedAt = NOW, ...spec } = over;
  return {
    id,
    status,
    attempts,
    cancelRequestedAt,
    version: 1,
    submittedAt,
    updatedAt: submittedAt,
    spec: JobSpecSchema.parse({
      name: id,
      policy: 'slo-service',
      task: MODEL_TASK,
      alternatives: [{ requirement: REPLICA, durationSeconds: 60 }],
      ...spec,
    }),
  };
}

function batchJob(id: string, vcpu: number, memoryMiB: number): Job {
  const p = job({
    id,
    vcpu,
    memoryMiB,
    duration: 1200,
    deadline: h(3),
    value: 40,
    submittedAt: NOW - 60_000,
  });
  return { ...p, status: 'PENDING', version: 1, updatedAt: p.submittedAt };
}

let f: ReturnType<typeof fakeControl>;
let deps: CycleDeps;

beforeEach(() => {
  f = fakeControl(fixedClock(NOW));
  deps = { ...f, solver: new FakeMilpSolver() };
});

const cycle = () => runScheduleCycle(config, deps, { cycleId: 'c1' });

function seedInstance(
  id: string,
  type = 'm7i.xlarge',
  over: Parameters<typeof storedInstance>[1] | object = {},
) {
  const inst = storedInstance(type, { id, now: NOW, ...over });
  f.instances.seed(inst);
  f.fleet.seed(cloudOf(inst));
  return inst;
}

describe('RunTask for serving tasks', () => {
  const alloc = { taskIndex: 0, attempt: 0, resources: REPLICA, gpuIndices: [] };

  it('builds a RunTask for a model task, with no timeout since it serves until cancelled', () => {
    const msg = RunTaskSchema.parse(runTaskFor(servingJob('r'), alloc));
    expect(msg.task).toEqual({ ...MODEL_TASK, maxBatch: 8, maxQueueDelayMs: 2, intraOpThreads: 0 });
    expect(msg.timeoutSeconds).toBeUndefined();
  });

  it('builds a RunTask for a router task, with no timeout', () => {
    const router = servingJob('router', { task: { kind: 'router', pipelineId: 'cams' } });
    const msg = RunTaskSchema.parse(runTaskFor(router, alloc));
    expect(msg.task).toEqual({ kind: 'router', pipelineId: 'cams' });
    expect(msg.timeoutSeconds).toBeUndefined();
  });

  it('still gives a command three times its longest alternative as its timeout', () => {
    const cmd = { ...batchJob('b', 1, 1024) };
    expect(runTaskFor(cmd, alloc).timeoutSeconds).toBe(3600);
    expect(isServingTask(cmd.spec.task)).toBe(false);
    expect(isServingTask(servingJob('r').spec.task)).toBe(true);
  });
});

describe('capacity held by a serving task', () => {
  const grid = { now: NOW, slotSeconds: 600, slots: 12 };
  const inst = storedInstance('m7i.xlarge', { id: 'i-1', now: NOW });

  it('holds its capacity in every slot of the window, however long it has run', () => {
    const task = storedTask({ id: 'r', attempts: 1 }, inst, {
      now: NOW,
      startAt: NOW - 30 * 24 * 3600_000,
      expectedEndAt: OPEN_ENDED_AT,
      resources: REPLICA,
    });
    expect(heldSlots(task, grid)).toEqual([0, 12]);
    expect(freeBySlot(inst.capacity, [task], grid).every((r) => r.vcpu === 2)).toBe(true);
  });
});

describe('schedule cycle: serving jobs', () => {
  it('commits a replica to an instance with room and dispatches a RunTask without timeout, expected never to end', async () => {
    seedInstance('i-1');
    f.jobs.seed(servingJob('r-0'));

    const report = await cycle();

    expect(report.counts).toMatchObject({ jobsCommitted: 1, tasksDispatched: 1 });
    expect(report.skipped).toEqual([]);
    const [msg] = f.channel.messagesFor('i-1');
    expect(msg).toMatchObject({
      kind: 'RunTask',
      jobId: 'r-0',
      task: { kind: 'model', modelId: 'detector' },
    });
    expect(msg && 'timeoutSeconds' in msg ? msg.timeoutSeconds : undefined).toBeUndefined();
    expect(f.tasks.get({ jobId: 'r-0', taskIndex: 0, attempt: 0 })).toMatchObject({
      state: 'DISPATCHED',
      startAt: NOW,
      expectedEndAt: OPEN_ENDED_AT,
    });
  });

  it('launches an instance for a router when none is running and dispatches to it', async () => {
    f.jobs.seed(servingJob('router', { task: { kind: 'router', pipelineId: 'cams' } }));

    const report = await cycle();

    expect(report.counts).toMatchObject({ instancesLaunched: 1, jobsCommitted: 1, tasksDispatched: 1 });
    const [launched] = f.instances.instances.values();
    expect(f.channel.messagesFor(launched!.id)).toEqual([
      expect.objectContaining({
        kind: 'RunTask',
        jobId: 'router',
        task: { kind: 'router', pipelineId: 'cams' },
      }),
    ]);
    expect(f.jobs.jobs.get('router')?.status).toBe('LAUNCHING');
  });

  it('gives the only free capacity to a replica over a deadline job submitted earlier', async () => {
    deps = { ...f, solver: new HighsSolver() };
    // An m7i.xlarge (4 vCPU, 16 GiB) already runs a 2-vCPU task: room for one more of either job.
    const inst = seedInstance('i-1');
    const other = servingJob('other', { status: 'RUNNING', attempts: 1 });
    f.jobs.seed(other, batchJob('batch', 2, 6144), servingJob('r-0'));
    f.tasks.seed(storedTask(other, inst, { now: NOW, resources: REPLICA, expectedEndAt: OPEN_ENDED_AT }));
    const strict = parseCycleConfig({ ...config, allowedInstanceTypes: ['m7i.xlarge'], maxInstances: 1 });

    const report = await runScheduleCycle(strict, deps, { cycleId: 'c1' });

    expect(report.counts?.jobsCommitted).toBe(1);
    expect(f.jobs.jobs.get('r-0')?.status).toBe('PLACED');
    expect(f.jobs.jobs.get('batch')?.status).toBe('PENDING');
    expect(f.fleet.callsOf('launch')).toHaveLength(0);
  });

  it('plans no batch work into capacity a running replica holds, even long after its nominal duration', async () => {
    deps = { ...f, solver: new HighsSolver() };
    const inst = seedInstance('i-1');
    const running = servingJob('r-0', { status: 'RUNNING', attempts: 1, submittedAt: NOW - h(48) * 1000 });
    f.jobs.seed(running, batchJob('batch', 4, 8192));
    f.tasks.seed(
      storedTask(running, inst, {
        now: NOW,
        startAt: NOW - h(48) * 1000,
        resources: REPLICA,
        expectedEndAt: OPEN_ENDED_AT,
      }),
    );
    const noLaunch = parseCycleConfig({ ...config, maxInstances: 1 });

    const report = await runScheduleCycle(noLaunch, deps, { cycleId: 'c1' });

    // The batch job needs the whole instance, which the replica never frees within the window.
    expect(report.counts?.jobsCommitted).toBe(0);
    expect(report.explanations?.batch).toMatch(/^not placed/);
  });

  it('never expires a pending replica, whatever utility it carries', async () => {
    f.jobs.seed(
      servingJob('r-old', {
        submittedAt: NOW - h(5) * 1000,
        utility: { deadlineSeconds: h(1), value: 1 },
      }),
    );

    const report = await cycle();

    expect(report.counts?.expired).toBe(0);
    expect(f.jobs.jobs.get('r-old')?.status).not.toBe('EXPIRED');
  });

  it('never terminates an idle-looking instance that runs only a serving task', async () => {
    const inst = seedInstance('i-1', 'm7i.xlarge', { lastBusyAt: NOW - h(6) * 1000 });
    const running = servingJob('r-0', { status: 'RUNNING', attempts: 1 });
    f.jobs.seed(running);
    f.tasks.seed(storedTask(running, inst, { now: NOW, resources: REPLICA, expectedEndAt: OPEN_ENDED_AT }));
    const eager = parseCycleConfig({ ...config, idleTimeoutSeconds: 0 });

    const report = await runScheduleCycle(eager, deps, { cycleId: 'c1' });

    expect(report.decision?.terminations).toEqual([]);
    expect(f.fleet.callsOf('terminate')).toHaveLength(0);
    expect(f.instances.instances.get('i-1')?.state).toBe('RUNNING');
  });

  it('sends a CancelTask to the instance of a replica whose cancel was requested', async () => {
    const inst = seedInstance('i-1');
    const running = servingJob('r-0', { status: 'RUNNING', attempts: 1, cancelRequestedAt: NOW - 1000 });
    f.jobs.seed(running);
    f.tasks.seed(storedTask(running, inst, { now: NOW, resources: REPLICA, expectedEndAt: OPEN_ENDED_AT }));

    const report = await cycle();

    expect(f.channel.messagesFor('i-1')).toEqual([
      expect.objectContaining({ kind: 'CancelTask', jobId: 'r-0', taskIndex: 0, attempt: 0 }),
    ]);
    expect(f.tasks.get({ jobId: 'r-0', taskIndex: 0, attempt: 0 })?.state).toBe('CANCELLED');
    expect(f.jobs.jobs.get('r-0')?.status).toBe('CANCELLED');
    expect(report.counts?.cancelled).toBe(1);
  });

  it('re-sends the RunTask of a replica an earlier cycle committed but never dispatched', async () => {
    const inst = seedInstance('i-1');
    const placed = servingJob('r-0', { status: 'PLACED', attempts: 1 });
    f.jobs.seed(placed);
    f.tasks.seed(
      storedTask(placed, inst, {
        now: NOW,
        state: 'PLACED',
        resources: REPLICA,
        expectedEndAt: OPEN_ENDED_AT,
      }),
    );

    const report = await cycle();

    expect(f.channel.messagesFor('i-1')).toEqual([
      expect.objectContaining({
        kind: 'RunTask',
        jobId: 'r-0',
        task: expect.objectContaining({ kind: 'model' }),
      }),
    ]);
    expect(report.counts?.redispatched).toBe(1);
  });
});
