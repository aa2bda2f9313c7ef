import { afterEach, describe, expect, it, vi } from 'vitest';
import { SqsWorkQueue } from '../../../lib/aws/sqs-work-queue.ts';
import { ValidationError } from '../../../lib/core/errors.ts';
import type { Job, JobSpecInput } from '../../../lib/core/model/job.ts';
import { SubmitJobSchema } from '../../../lib/core/protocol/submission.ts';
import type { TetrafleetClient } from '../../../lib/sdk/client.ts';
import { jobIdForKey, pipelineIdForKey } from '../../../lib/sdk/idempotent-ids.ts';
import { offlineClient } from './offline-client.ts';

/** The bodies the client sent to the submissions queue (nothing leaves the process). */
function capturedSends(): string[] {
  const sent: string[] = [];
  vi.spyOn(SqsWorkQueue.prototype, 'send').mockImplementation(async (body: string) => {
    sent.push(body);
  });
  return sent;
}

/** The private job store of a client, to check that a refused call never reached it. */
function storeOf(client: TetrafleetClient): {
  list: (...args: unknown[]) => unknown;
  requestCancel: (...args: unknown[]) => unknown;
} {
  return (client as unknown as { store: never }).store;
}

const spec: JobSpecInput = {
  name: 'train',
  policy: 'fifo',
  task: { kind: 'command', command: 'echo' },
  alternatives: [{ requirement: { vcpu: 1, memoryMiB: 512 }, durationSeconds: 60 }],
};

async function issuesOf(promise: Promise<unknown>): Promise<readonly { path: string; message: string }[]> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ValidationError);
  return (error as ValidationError).issues;
}

/** A message exactly, or one a pattern matches. */
const matching = (m: string | RegExp) => (typeof m === 'string' ? m : expect.stringMatching(m));

afterEach(() => {
  vi.restoreAllMocks();
});

describe('TetrafleetClient.submitJob with an idempotency key', () => {
  it('names the same job on every retry with the key, and a valid id', async () => {
    const sent = capturedSends();
    const client = offlineClient();
    const first = await client.submitJob(spec, { idempotencyKey: 'ci-run-1234' });
    const retry = await client.submitJob(spec, { idempotencyKey: 'ci-run-1234' });
    const other = await client.submitJob(spec, { idempotencyKey: 'ci-run-1235' });
    client.close();
    expect(retry.jobId).toBe(first.jobId);
    expect(other.jobId).not.toBe(first.jobId);
    expect(first.jobId).toBe(jobIdForKey('ci-run-1234'));
    expect(first.jobId).toMatch(/^job-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const messages = sent.map((body) => SubmitJobSchema.parse(JSON.parse(body)));
    expect(messages.map((m) => [m.jobId, m.idempotencyKey])).toEqual([
      [first.jobId, 'ci-run-1234'],
      [first.jobId, 'ci-run-1234'],
      [other.jobId, 'ci-run-1235'],
    ]);
  });

  it('keeps a job id the caller chose, and draws a fresh one without a key', async () => {
    capturedSends();
    const client = offlineClient();
    const chosen = await client.submitJob(spec, { idempotencyKey: 'k', jobId: 'mine-1' });
    const a = await client.submitJob(spec);
    const b = await client.submitJob(spec);
    client.close();
    expect(chosen.jobId).toBe('mine-1');
    expect(a.jobId).not.toBe(b.jobId);
  });
});

describe('TetrafleetClient.submitPipeline with an idempotency key', () => {
  it('names the same pipeline on every retry with the key, and a valid id', async () => {
    capturedSends();
    const client = offlineClient();
    const pipeline = { name: 'vision', sloP99Ms: 150, stages: [{ id: 'a', model: { uri: '/m/a.onnx' } }] };
    const first = await client.submitPipeline(pipeline, { idempotencyKey: 'deploy-7' });
    const retry = await client.submitPipeline(pipeline, { idempotencyKey: 'deploy-7' });
    client.close();
    expect(retry.pipelineId).toBe(first.pipelineId);
    expect(first.pipelineId).toBe(pipelineIdForKey('deploy-7'));
    expect(first.pipelineId).toMatch(/^[a-z][a-z0-9-]{0,62}$/);
  });
});

describe('TetrafleetClient.submitJob validation', () => {
  it('refuses numbers the store or the agent could not hold, before anything is sent', async () => {
    const sent = capturedSends();
    const client = offlineClient();
    const issues = await issuesOf(
      client.submitJob({
        ...spec,
        policy: 'deadline',
        task: { kind: 'command', command: 'echo', timeoutSeconds: 1e300 },
        alternatives: [{ requirement: { vcpu: 1e-9, memoryMiB: 512 }, durationSeconds: 1e-9 }],
        utility: { deadlineSeconds: 1e16, value: 1 },
      }),
    );
    client.close();
    expect(sent).toEqual([]);
    expect(issues.map((i) => i.path).sort()).toEqual([
      'spec.alternatives.0.durationSeconds',
      'spec.alternatives.0.requirement.vcpu',
      'spec.task.timeoutSeconds',
      'spec.utility.deadlineSeconds',
    ]);
  });

  it('refuses an env variable or label named __proto__ instead of dropping it', async () => {
    const sent = capturedSends();
    const client = offlineClient();
    const withProto = JSON.parse(
      JSON.stringify({ ...spec, task: { ...spec.task, env: { A: '1' } }, labels: { team: 'x' } })
        .replace('"A":"1"', '"__proto__":"1"')
        .replace('"team":"x"', '"__proto__":"x"'),
    ) as JobSpecInput;
    const issues = await issuesOf(client.submitJob(withProto));
    client.close();
    expect(sent).toEqual([]);
    expect(issues.map((i) => i.path)).toEqual(['spec.task.env.__proto__', 'spec.labels.__proto__']);
  });
});

describe('TetrafleetClient.waitForJob options', () => {
  /** A client whose getJob never finds the job, and gives up after a few reads so a bad wait cannot hang. */
  function polling(): { client: TetrafleetClient; reads: () => number } {
    const client = offlineClient();
    let n = 0;
    vi.spyOn(client, 'getJob').mockImplementation(async () => {
      if (++n > 3) throw new Error('polled on past the wait');
      return undefined;
    });
    return { client, reads: () => n };
  }

  it.each([
    ['timeoutMs', { timeoutMs: Number.NaN }, 'timeoutMs must be a finite number of milliseconds, got NaN'],
    ['timeoutMs', { timeoutMs: Number.POSITIVE_INFINITY }, /finite number of milliseconds, got Infinity/],
    ['timeoutMs', { timeoutMs: -1 }, 'timeoutMs must be at least 0'],
    ['pollMs', { pollMs: 0 }, 'pollMs must be at least 10'],
    ['pollMs', { pollMs: -5 }, 'pollMs must be at least 10'],
    ['pollMs', { pollMs: Number.NaN }, /pollMs must be a finite number of milliseconds/],
    ['pollMs', { pollMs: 3_600_000 }, 'pollMs must be at most 60000'],
  ])('refuses a bad %s (%o) before polling', async (path, options, message) => {
    const { client, reads } = polling();
    const issues = await issuesOf(client.waitForJob('job-1', options));
    client.close();
    expect(issues).toEqual([{ path, message: matching(message) }]);
    expect(reads()).toBe(0);
  });

  it('refuses a bad job id before polling', async () => {
    const { client, reads } = polling();
    const issues = await issuesOf(client.waitForJob('', {}));
    client.close();
    expect(issues.map((i) => i.path)).toEqual(['jobId']);
    expect(reads()).toBe(0);
  });

  it('waits with good options: a zero timeout reads once and gives up', async () => {
    const { client, reads } = polling();
    const error = await client.waitForJob('job-1', { timeoutMs: 0, pollMs: 10 }).catch((e: unknown) => e);
    client.close();
    expect((error as Error).name).toBe('WaitTimeoutError');
    expect(reads()).toBe(1);
  });
});

describe('TetrafleetClient.waitForPipeline options', () => {
  it.each([
    ['timeoutMs', { timeoutMs: Number.NaN }],
    ['pollMs', { pollMs: 0 }],
    ['status', { status: 'READY' as never }],
  ])('refuses a bad %s before polling', async (path, options) => {
    const client = offlineClient();
    const getPipeline = vi.spyOn(client, 'getPipeline').mockResolvedValue(undefined);
    const issues = await issuesOf(client.waitForPipeline('vision', options));
    client.close();
    expect(issues.map((i) => i.path)).toEqual([path]);
    expect(getPipeline).not.toHaveBeenCalled();
  });

  it('refuses a bad pipeline id', async () => {
    const client = offlineClient();
    const issues = await issuesOf(client.getPipeline('Not A Pipeline'));
    client.close();
    expect(issues.map((i) => i.path)).toEqual(['pipelineId']);
  });
});

describe('TetrafleetClient.listJobs options', () => {
  const cursorOf = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

  it.each([
    ['limit', { limit: 0 }, 'limit must be at least 1'],
    ['limit', { limit: 2.5 }, 'limit must be a whole number'],
    ['limit', { limit: 1001 }, 'limit must be at most 1000'],
    ['limit', { limit: Number.NaN }, 'limit must be a number'],
    ['cursor', { cursor: 'not a cursor!' }, 'cursor must be a cursor listJobs returned (base64url)'],
    ['cursor', { cursor: '' }, 'cursor must be a cursor listJobs returned (base64url)'],
    ['cursor', { cursor: cursorOf([1, 2]) }, 'cursor must be a cursor listJobs returned'],
    ['cursor', { cursor: cursorOf({ id: { nested: true } }) }, 'cursor must be a cursor listJobs returned'],
    ['status', { status: 'DONE' as never }, /^status must be one of PENDING, /],
  ])('refuses a bad %s (%o) without reading the store', async (path, query, message) => {
    const client = offlineClient();
    const list = vi.spyOn(storeOf(client), 'list');
    const issues = await issuesOf(client.listJobs(query));
    client.close();
    expect(issues).toEqual([{ path, message: matching(message) }]);
    expect(list).not.toHaveBeenCalled();
  });

  it('passes good options to the store', async () => {
    const client = offlineClient();
    const page = { jobs: [] as Job[], cursor: undefined };
    const list = vi.spyOn(storeOf(client), 'list').mockResolvedValue(page);
    const query = { status: 'PENDING' as const, limit: 1000, cursor: cursorOf({ id: 'job-1' }) };
    await expect(client.listJobs(query)).resolves.toBe(page);
    client.close();
    expect(list).toHaveBeenCalledWith(query);
  });
});

describe('TetrafleetClient job ids', () => {
  it.each([
    ['cancelJob', (c: TetrafleetClient) => c.cancelJob('')],
    ['cancelJob', (c: TetrafleetClient) => c.cancelJob('job id with spaces')],
    ['getJob', (c: TetrafleetClient) => c.getJob('-leading-dash')],
    ['requireJob', (c: TetrafleetClient) => c.requireJob('x'.repeat(129))],
  ])('%s refuses a malformed id with a ValidationError, not a store error', async (_what, call) => {
    const client = offlineClient();
    const requestCancel = vi.spyOn(storeOf(client), 'requestCancel');
    const issues = await issuesOf(call(client));
    client.close();
    expect(issues.map((i) => i.path)).toEqual(['jobId']);
    expect(requestCancel).not.toHaveBeenCalled();
  });
});
