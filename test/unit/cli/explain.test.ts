import { describe, expect, it } from 'vitest';
import { buildExplanation, latestWord } from '../../../lib/cli/commands/explain.ts';
import type { PlacedTask } from '../../../lib/cli/commands/jobs.ts';
import type { Job } from '../../../lib/core/model/job.ts';
import { JobSpecSchema } from '../../../lib/core/model/job.ts';
import type { CycleRecord } from '../../../lib/core/ports.ts';

const T0 = Date.UTC(2026, 10, 25, 12, 0, 0);

function job(status: Job['status'], overrides: Partial<Job> = {}): Job {
  return {
    id: 'job-1',
    spec: JobSpecSchema.parse({
      name: 'train',
      task: { kind: 'command', command: '/bin/true' },
      alternatives: [{ requirement: { vcpu: 1, memoryMiB: 512 }, durationSeconds: 10 }],
      utility: { deadlineSeconds: 60, value: 1 },
    }),
    status,
    version: 1,
    submittedAt: T0,
    updatedAt: T0,
    attempts: 0,
    ...overrides,
  };
}

const task = (attempt: number, instanceId: string): PlacedTask => ({
  jobId: 'job-1',
  taskIndex: 0,
  attempt,
  instanceId,
  instanceType: 'c7i.large',
  state: attempt === 0 ? 'LOST' : 'RUNNING',
  alternative: 0,
  resources: { vcpu: 1, memoryMiB: 512, gpus: 0 },
  gpuIndices: [],
  startAt: T0,
  expectedEndAt: T0 + 10_000,
  updatedAt: T0,
});

const cycles: CycleRecord[] = [
  { cycleId: 'c3', at: T0 + 3000, explanations: { other: 'x' } },
  {
    cycleId: 'c2',
    at: T0 + 2000,
    explanations: { 'job-1': 'not placed: no capacity for it is free earlier' },
  },
  { cycleId: 'c1', at: T0 + 1000, explanations: { 'job-1': 'older word' } },
];

describe('explain', () => {
  it('takes the newest cycle that mentions the job', () => {
    expect(latestWord('job-1', cycles)).toEqual({
      cycleId: 'c2',
      at: T0 + 2000,
      reason: 'not placed: no capacity for it is free earlier',
    });
    expect(latestWord('job-9', cycles)).toBeUndefined();
  });

  it("quotes the scheduler's reason for a waiting job", () => {
    const e = buildExplanation(job('PENDING'), [], cycles, T0 + 5000);
    expect(e.summary).toBe('waiting for 5.0 s: not placed: no capacity for it is free earlier');
    expect(e.scheduler?.cycleId).toBe('c2');
  });

  it('says no cycle has considered a job that no cycle mentions', () => {
    const e = buildExplanation(job('PENDING', { id: 'job-new' }), [], cycles, T0 + 1000);
    expect(e.summary).toBe('waiting for 1.0 s: no schedule cycle has considered it yet');
  });

  it("names the instance of a running job's current attempt only", () => {
    const e = buildExplanation(job('RUNNING'), [task(0, 'i-old'), task(1, 'i-new')], [], T0);
    expect(e.summary).toBe('running on c7i.large i-new');
    expect(e.tasks).toHaveLength(2);
  });

  it('says how a finished job ended, with its error', () => {
    const failed = job('FAILED', {
      finishedAt: T0 + 65_000,
      error: { code: 'EXIT', message: 'exit code 2' },
    });
    expect(buildExplanation(failed, [task(1, 'i-a')], [], T0).summary).toBe(
      'finished as FAILED after 1m 05s on c7i.large i-a: exit code 2',
    );
  });
});
