import { describe, expect, it } from 'vitest';
import { type JobRow, jobsTable, jobText, toJobRow } from '../../../lib/cli/commands/jobs.ts';
import type { Job } from '../../../lib/core/model/job.ts';
import { JobSpecSchema } from '../../../lib/core/model/job.ts';
import { jobSpec } from '../model/builders.ts';

const NOW = 1_800_000_000_000;

const stored = (over: Partial<Job>): Job => ({
  id: 'job-1',
  spec: JobSpecSchema.parse(jobSpec({ name: 'train' })),
  status: 'RUNNING',
  version: 3,
  submittedAt: NOW - 60_000,
  updatedAt: NOW,
  attempts: 1,
  ...over,
});

const marketColumn = (rows: readonly JobRow[]) =>
  jobsTable(rows, rows.length, NOW)
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/).at(-1));

describe('tetrafleet jobs', () => {
  it('shows the market a placed or finished job ran in, and none for a pending one', () => {
    const rows = [
      stored({ id: 'job-spot', status: 'RUNNING', market: 'spot', startedAt: NOW - 5_000 }),
      stored({
        id: 'job-od',
        status: 'SUCCEEDED',
        market: 'on-demand',
        startedAt: NOW - 9_000,
        finishedAt: NOW,
      }),
      // Sent back to pending after its spot instance was reclaimed: it has no market until placed again.
      stored({ id: 'job-requeued', status: 'PENDING', market: 'spot' }),
      stored({ id: 'job-new', status: 'PENDING', attempts: 0 }),
    ].map(toJobRow);
    expect(rows.map((r) => r.market)).toEqual(['spot', 'on-demand', 'spot', undefined]);
    expect(marketColumn(rows)).toEqual(['spot', 'on-demand', '-', '-']);
  });

  it('says in the job view which market each task ran in, and that a pending job market is its last', () => {
    const tasks = [
      {
        jobId: 'job-1',
        taskIndex: 0,
        attempt: 0,
        instanceId: 'i-a',
        state: 'LOST' as const,
        alternative: 0,
        resources: { vcpu: 1, memoryMiB: 512, gpus: 0 },
        gpuIndices: [],
        startAt: NOW - 50_000,
        expectedEndAt: NOW,
        updatedAt: NOW - 10_000,
        instanceType: 'c7i.large',
        instanceMarket: 'spot',
      },
    ];
    const text = jobText(stored({ status: 'PENDING', market: 'spot' }), tasks, NOW);
    expect(text).toMatch(/market\s+spot \(its last placement\)/);
    const [header, row] = text.split('\n').slice(-2);
    expect(header).toMatch(/TYPE\s+MARKET\s+ALT/);
    expect(row).toMatch(/c7i\.large\s+spot\s+0/);
    expect(jobText(stored({ market: 'on-demand' }), [], NOW)).toMatch(/market\s+on-demand$/m);
  });

  it('says a cancel is requested only while the job has not ended', () => {
    const marked = { cancelRequestedAt: NOW - 1000 };
    expect(jobText(stored({ status: 'RUNNING', ...marked }), [], NOW)).toMatch(
      /status\s+RUNNING \(cancel requested\)$/m,
    );
    expect(jobText(stored({ status: 'CANCELLED', ...marked }), [], NOW)).toMatch(/status\s+CANCELLED$/m);
  });
});
