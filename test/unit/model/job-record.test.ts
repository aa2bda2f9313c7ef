/** A stored job, a job's error, and the job spec's bounds. */
import { describe, expect, it } from 'vitest';
import {
  JobErrorSchema,
  JobSchema,
  JobSpecSchema,
  MAX_DURATION_SECONDS,
  MAX_MEMORY_MIB,
  MAX_PRIORITY,
  MAX_TIMEOUT_SECONDS,
  MAX_VCPU,
  MIN_VCPU,
} from '../../../lib/core/model/job.ts';
import { alternative, issuesOf, jobSpec, requirement, utility } from './builders.ts';

describe('JobSchema', () => {
  const stored = () => ({
    id: 'job-1',
    spec: jobSpec(),
    status: 'PENDING',
    version: 0,
    submittedAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000,
  });

  it('accepts a stored job and defaults attempts to 0', () => {
    expect(JobSchema.parse(stored()).attempts).toBe(0);
  });

  it('fails when the status is not a job state', () => {
    expect(issuesOf(JobSchema, { ...stored(), status: 'DONE' })).toEqual([
      { path: 'status', message: expect.stringContaining('"SUCCEEDED"') },
    ]);
  });

  it('fails when the stored spec is invalid, naming the field under spec', () => {
    expect(issuesOf(JobSchema, { ...stored(), spec: jobSpec({ gang: 0 }) }).map((i) => i.path)).toEqual([
      'spec.gang',
    ]);
  });

  it('fails when the version is negative', () => {
    expect(issuesOf(JobSchema, { ...stored(), version: -1 }).map((i) => i.path)).toEqual(['version']);
  });
});

describe('JobErrorSchema', () => {
  it('accepts a validation error with its field issues', () => {
    const error = {
      code: 'VALIDATION',
      message: 'invalid job spec',
      issues: [{ path: 'gang', message: 'x' }],
    };
    expect(JobErrorSchema.parse(error)).toEqual(error);
  });

  it('fails when the code is empty', () => {
    expect(issuesOf(JobErrorSchema, { code: '', message: 'm' }).map((i) => i.path)).toEqual(['code']);
  });

  it('fails when the exit code is fractional', () => {
    expect(
      issuesOf(JobErrorSchema, { code: 'EXIT', message: 'm', exitCode: 1.5 }).map((i) => i.path),
    ).toEqual(['exitCode']);
  });
});

describe('job spec bounds', () => {
  it('lets the longest timeout, and the default one of the longest job, fit a Node timer', () => {
    const timerMaxMs = 2 ** 31 - 1;
    expect(MAX_TIMEOUT_SECONDS * 1000).toBeLessThanOrEqual(timerMaxMs);
    // The default timeout is 3x the longest alternative (lib/core/control/run-task.ts).
    expect(3 * MAX_DURATION_SECONDS).toBeLessThanOrEqual(MAX_TIMEOUT_SECONDS);
  });

  it('accepts a spec at every bound', () => {
    const edge = jobSpec({
      priority: MAX_PRIORITY,
      gang: 64,
      maxAttempts: 10,
      task: { kind: 'command', command: 'x', timeoutSeconds: MAX_TIMEOUT_SECONDS },
      alternatives: [
        alternative({
          requirement: requirement({ vcpu: MAX_VCPU, memoryMiB: MAX_MEMORY_MIB, gpus: 8 }),
          durationSeconds: MAX_DURATION_SECONDS,
        }),
        alternative({
          requirement: requirement({ vcpu: MIN_VCPU, memoryMiB: 1, gpus: 0 }),
          durationSeconds: 1,
        }),
      ],
      utility: utility({ deadlineSeconds: 30 * 24 * 3600, value: 1e6 }),
    });
    expect(issuesOf(JobSpecSchema, edge)).toEqual([]);
  });
});
