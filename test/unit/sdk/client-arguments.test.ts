import { afterEach, describe, expect, it, vi } from 'vitest';
import { SqsWorkQueue } from '../../../lib/aws/sqs-work-queue.ts';
import { ValidationError } from '../../../lib/core/errors.ts';
import type { JobSpecInput } from '../../../lib/core/model/job.ts';
import { TetrafleetClient } from '../../../lib/sdk/client.ts';
import { unreachableAws } from '../../support/unreachable-aws.ts';
import { offlineClient } from './offline-client.ts';

/** The bodies the client sent to the submissions queue (nothing leaves the process). */
function capturedSends(): string[] {
  const sent: string[] = [];
  vi.spyOn(SqsWorkQueue.prototype, 'send').mockImplementation(async (body: string) => {
    sent.push(body);
  });
  return sent;
}

/** Every read of the client's stores fails the test: a refused call must not reach them. */
function storesUnread(client: TetrafleetClient): void {
  const inner = client as unknown as { store: object; pipelines: object };
  for (const store of [inner.store, inner.pipelines])
    for (const name of ['get', 'list', 'getRejection', 'getServing', 'requestCancel'])
      if (name in store)
        vi.spyOn(store as Record<string, () => unknown>, name).mockImplementation(() => {
          throw new Error(`the store was read (${name})`);
        });
}

const spec: JobSpecInput = {
  name: 'train',
  policy: 'fifo',
  task: { kind: 'command', command: 'echo' },
  alternatives: [{ requirement: { vcpu: 1, memoryMiB: 512 }, durationSeconds: 60 }],
};

const pipelineSpec = {
  name: 'vision',
  sloP99Ms: 200,
  stages: [{ id: 'detect', model: { uri: 's3://models/detect.onnx' } }],
};

async function refusal(promise: Promise<unknown>): Promise<ValidationError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ValidationError);
  const v = error as ValidationError;
  // One plain line per issue: never an object dumped, never "undefined".
  expect(v.message).not.toMatch(/\[object Object\]|undefined/);
  return v;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('TetrafleetClient options', () => {
  it.each([
    ['null', null, /submitJob options must be an object, got null/],
    ['a string', 'ci-run-1', /submitJob options must be an object, got a string/],
    [
      'a misspelt key',
      { idempotencykey: 'ci-run-1' },
      /idempotencykey: unknown field; did you mean idempotencyKey\?/,
    ],
    ['a misspelt id', { jobID: 'mine' }, /jobID: unknown field; did you mean jobId\?/],
  ])('refuses submitJob options that are %s, sending nothing', async (_what, options, message) => {
    const sent = capturedSends();
    const client = offlineClient();
    const error = await refusal(client.submitJob(spec, options as never));
    client.close();
    expect(error.message).toMatch(message);
    expect(sent).toEqual([]);
  });

  it.each([
    ['null', null, /submitPipeline options must be an object, got null/],
    ['a misspelt key', { pipelineID: 'vision' }, /pipelineID: unknown field; did you mean pipelineId\?/],
  ])('refuses submitPipeline options that are %s, sending nothing', async (_what, options, message) => {
    const sent = capturedSends();
    const client = offlineClient();
    const error = await refusal(client.submitPipeline(pipelineSpec as never, options as never));
    client.close();
    expect(error.message).toMatch(message);
    expect(sent).toEqual([]);
  });

  it('refuses a misspelt wait or list option before reading anything', async () => {
    const client = offlineClient();
    storesUnread(client);
    const wait = await refusal(client.waitForJob('job-1', { timeout: 5000 } as never));
    expect(wait.issues).toEqual([{ path: 'timeout', message: 'unknown field; did you mean timeoutMs?' }]);
    const list = await refusal(client.listJobs({ limt: 5 } as never));
    expect(list.issues).toEqual([{ path: 'limt', message: 'unknown field; did you mean limit?' }]);
    const pipeline = await refusal(client.waitForPipeline('vision', { answer: true } as never));
    expect(pipeline.issues[0]?.path).toBe('answer');
    client.close();
  });

  it('does not blame a pipeline id the caller never chose for a bad name', async () => {
    const sent = capturedSends();
    const client = offlineClient();
    const error = await refusal(client.submitPipeline({ ...pipelineSpec, name: 'Vision Net' } as never));
    client.close();
    expect(error.issues.map((i) => i.path)).toEqual(['spec.name']);
    expect(sent).toEqual([]);
  });
});

describe('TetrafleetClient submission size', () => {
  it('refuses a job larger than a stored job may be, naming its size, and sends nothing', async () => {
    const sent = capturedSends();
    const client = offlineClient();
    const env = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`VAR_${i}`, 'x'.repeat(40)]));
    const big: JobSpecInput = { ...spec, task: { kind: 'command', command: 'echo', env } };
    const error = await refusal(client.submitJob(big));
    client.close();
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]?.path).toBe('spec');
    expect(error.issues[0]?.message).toMatch(/^the submission is [\d,]+ KiB of JSON; at most 384 KiB/);
    expect(sent).toEqual([]);
  });

  it('sends a job just under the limit', async () => {
    const sent = capturedSends();
    const client = offlineClient();
    // 380,000 characters of arguments, and the rest of the submission, under 384 KiB.
    const args = Array.from({ length: 76 }, () => 'x'.repeat(5000));
    await client.submitJob({ ...spec, task: { kind: 'command', command: 'echo', args } });
    client.close();
    expect(sent).toHaveLength(1);
  });
});

describe('TetrafleetClient.fromStack', () => {
  const aws = unreachableAws;

  it.each([
    ['empty', ''],
    ['undefined', undefined],
    ['a name with a space', 'my stack'],
  ])(
    'refuses a stack name that is %s before asking CloudFormation (which would list every stack)',
    async (_what, name) => {
      const error = await refusal(TetrafleetClient.fromStack(name as never, aws));
      expect(error.issues).toHaveLength(1);
      expect(error.issues[0]?.path).toBe('stackName');
      expect(error.issues[0]?.message).toMatch(/^stackName must be a stack name/);
    },
  );
});
