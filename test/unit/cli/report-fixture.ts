import type { FleetSnapshot } from '../../../lib/cli/snapshot.ts';
import type { TaskRecord } from '../../../lib/core/control/task-record.ts';
import type { Instance } from '../../../lib/core/model/instance.ts';
import type { Job, JobSpec } from '../../../lib/core/model/job.ts';
import type { CycleRecord } from '../../../lib/core/ports.ts';

/** Builders with overrides for report tests; times are seconds after T0 unless said otherwise. */
export const T0 = 1_700_000_000_000;
export const s = (seconds: number) => T0 + seconds * 1000;

export function spec(overrides: Partial<JobSpec> = {}): JobSpec {
  return {
    name: 'job',
    owner: 'team',
    policy: 'deadline',
    priority: 1,
    task: { kind: 'command', command: 'node', args: [], env: {} },
    gang: 1,
    alternatives: [{ requirement: { vcpu: 1, memoryMiB: 512, gpus: 0, spot: false }, durationSeconds: 10 }],
    utility: { deadlineSeconds: 60, value: 10, decay: { shape: 'step' } },
    maxAttempts: 3,
    labels: {},
    ...overrides,
  };
}

export function job(
  id: string,
  overrides: Omit<Partial<Job>, 'spec'> & { spec?: Partial<JobSpec> } = {},
): Job {
  const { spec: specOverrides, ...rest } = overrides;
  return {
    id,
    spec: spec({ name: id, ...specOverrides }),
    status: 'SUCCEEDED',
    version: 3,
    submittedAt: s(0),
    updatedAt: s(20),
    attempts: 1,
    startedAt: s(5),
    finishedAt: s(20),
    ...rest,
  };
}

export function instance(id: string, overrides: Partial<Instance> = {}): Instance {
  return {
    id,
    type: 'c7i.large',
    market: 'on-demand',
    state: 'RUNNING',
    capacity: { vcpu: 2, memoryMiB: 4096, gpus: 0 },
    launchedAt: s(0),
    version: 1,
    ...overrides,
  };
}

export function task(jobId: string, instanceId: string, overrides: Partial<TaskRecord> = {}): TaskRecord {
  return {
    jobId,
    taskIndex: 0,
    attempt: 0,
    instanceId,
    state: 'SUCCEEDED',
    alternative: 0,
    resources: { vcpu: 1, memoryMiB: 512, gpus: 0 },
    gpuIndices: [],
    startAt: s(5),
    expectedEndAt: s(15),
    updatedAt: s(20),
    ...overrides,
  };
}

export function cycle(at: number, overrides: Partial<CycleRecord> = {}): CycleRecord {
  return { cycleId: `c-${at}`, at, engine: 'milp', solveMs: 10, gap: 0, explanations: {}, ...overrides };
}

/**
 * Three instances (one terminated, one spot GPU), five tasks, four jobs: two deadline jobs (one met,
 * one late), a FIFO job and a job still running; three cycles, one without a solve.
 */
export function fixture(): FleetSnapshot {
  return {
    at: s(100),
    jobs: [
      job('a'),
      job('b', {
        finishedAt: s(90),
        updatedAt: s(90),
        spec: { utility: { deadlineSeconds: 30, value: 5, decay: { shape: 'step' } } },
      }),
      job('c', { spec: { policy: 'fifo', utility: undefined } }),
      job('d', { status: 'RUNNING', finishedAt: undefined, submittedAt: s(40) }),
    ],
    instances: [
      instance('i-1', { state: 'TERMINATED', lastHeartbeatAt: s(50), lastBusyAt: s(45) }),
      instance('i-2', { launchedAt: s(10) }),
      instance('i-3', {
        type: 'g5.xlarge',
        market: 'spot',
        launchedAt: s(30),
        capacity: { vcpu: 4, memoryMiB: 16384, gpus: 1 },
      }),
    ],
    tasks: [
      task('a', 'i-1'),
      task('c', 'i-1', { startAt: s(8), updatedAt: s(30) }),
      task('b', 'i-2', { startAt: s(20), updatedAt: s(90) }),
      task('d', 'i-3', {
        state: 'RUNNING',
        startAt: s(45),
        updatedAt: s(50),
        resources: { vcpu: 1, memoryMiB: 2048, gpus: 1 },
      }),
      task('d', 'i-2', { state: 'LOST', attempt: 1, startAt: s(41), updatedAt: s(44) }),
    ],
    cycles: [
      cycle(s(60), { solveMs: 30, engine: 'greedy' }),
      cycle(s(40), { solveMs: undefined }),
      cycle(s(20), { solveMs: 20 }),
    ],
  };
}
