import { describe, expect, it } from 'vitest';
import { toFieldIssues } from '../../../lib/core/model/validate.ts';
import { decodeTaskCommand, TaskEventSchema } from '../../../lib/core/protocol/tasks.ts';

const runTask = {
  version: 1,
  kind: 'RunTask',
  jobId: 'job-1',
  attempt: 0,
  task: { kind: 'command', command: 'python', args: ['train.py'] },
  resources: { vcpu: 4, memoryMiB: 16_384, gpus: 1 },
  gpuIndices: [0],
};

const taskEvent = {
  version: 1,
  kind: 'TaskEvent',
  event: 'succeeded',
  jobId: 'job-1',
  taskIndex: 0,
  attempt: 0,
  instanceId: 'i-1',
  at: 1_764_081_000_000,
  durationMs: 5120,
};

function issuesOf(body: Record<string, unknown>): { path: string; message: string }[] {
  const decoded = decodeTaskCommand(body);
  return decoded.ok ? [] : decoded.issues;
}

describe('RunTask bounds', () => {
  it('accepts the longest timeout a job spec allows', () => {
    expect(issuesOf({ ...runTask, timeoutSeconds: 1_814_400 })).toEqual([]);
  });

  it.each([
    [
      'a timeout past what a Node timer holds',
      { timeoutSeconds: 2_147_484 },
      'timeoutSeconds',
      /at most 1,814,400/,
    ],
    ['a timeout too large to store', { timeoutSeconds: 1e300 }, 'timeoutSeconds', /at most 1,814,400/],
    ['a timeout under a second', { timeoutSeconds: 1e-9 }, 'timeoutSeconds', /at least 1/],
    ['a task index past the largest gang', { taskIndex: 64 }, 'taskIndex', /at most 63/],
    ['an attempt past the most a job gets', { attempt: 10 }, 'attempt', /at most 9/],
    [
      'vCPUs past any instance',
      { resources: { vcpu: 1e300, memoryMiB: 1, gpus: 0 }, gpuIndices: [] },
      'resources.vcpu',
      /at most 448/,
    ],
    [
      'memory past any instance',
      { resources: { vcpu: 1, memoryMiB: 1e16, gpus: 0 }, gpuIndices: [] },
      'resources.memoryMiB',
      /at most 2097152/,
    ],
    ['a GPU index past any instance', { gpuIndices: [1e9] }, 'gpuIndices.0', /at most 15/],
  ])('refuses %s', (_what, change, path, message) => {
    expect(issuesOf({ ...runTask, ...change })).toEqual([{ path, message: expect.stringMatching(message) }]);
  });
});

describe('TaskEvent bounds', () => {
  it.each([
    ['a duration too large to store', { durationMs: 1e300 }, 'durationMs'],
    ['a negative time', { at: -1 }, 'at'],
    ['an attempt past the most a job gets', { attempt: 99 }, 'attempt'],
  ])('refuses %s', (_what, change, path) => {
    const parsed = TaskEventSchema.safeParse({ ...taskEvent, ...change });
    expect(parsed.success ? [] : toFieldIssues(parsed.error).map((i) => i.path)).toEqual([path]);
  });

  it('accepts a serving task that ran for months', () => {
    expect(TaskEventSchema.safeParse({ ...taskEvent, durationMs: 90 * 24 * 3600 * 1000 }).success).toBe(true);
  });
});
