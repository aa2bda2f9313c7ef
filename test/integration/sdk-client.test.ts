import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoJobStore } from '../../lib/aws/dynamo-job-store.ts';
import { type Job, JobSpecSchema } from '../../lib/core/model/job.ts';
import { decodeSubmission } from '../../lib/core/protocol/submission.ts';
import { TetrafleetClient, ValidationError, WaitTimeoutError } from '../../lib/sdk/index.ts';
import { resetEmulator, testAwsConfig } from '../support/emulator.ts';
import { createStateTables } from '../support/tables.ts';
import { jobSpec } from '../unit/model/builders.ts';

describe('TetrafleetClient against the emulator', () => {
  const aws = testAwsConfig();
  const sqs = new SQSClient(aws);
  const dynamo = new DynamoDBClient(aws);
  let client: TetrafleetClient;
  let store: DynamoJobStore;
  let queueUrl: string;

  beforeAll(async () => {
    await resetEmulator();
    const tables = await createStateTables(dynamo, `sdk-${process.pid}`);
    queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `sdk-submissions-${process.pid}` })))
      .QueueUrl as string;
    client = new TetrafleetClient({ endpoints: { submissionsQueueUrl: queueUrl, tables }, aws });
    store = new DynamoJobStore(dynamo, tables);
  });
  afterAll(() => {
    client.close();
    sqs.destroy();
    dynamo.destroy();
  });

  const stored = (id: string, status: Job['status']): Job => ({
    id,
    spec: JobSpecSchema.parse(jobSpec({ name: id })),
    status,
    version: 0,
    submittedAt: 1,
    updatedAt: 1,
    attempts: 0,
  });

  it('sends a valid SubmitJob message that the admit side decodes', async () => {
    const { jobId } = await client.submitJob(jobSpec({ name: 'train' }), { idempotencyKey: 'k-1' });
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 5 }));
    const decoded = decodeSubmission(out.Messages?.[0]?.Body ?? '');
    expect(decoded.ok && decoded.value).toMatchObject({ kind: 'SubmitJob', jobId, idempotencyKey: 'k-1' });
  });

  it('fails when the spec is invalid, naming the field, and sends nothing', async () => {
    const bad = jobSpec({ alternatives: [] });
    const error = await client.submitJob(bad).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((i) => i.path)).toContain('spec.alternatives');
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1 }));
    expect(out.Messages ?? []).toHaveLength(0);
  });

  it('cancels a pending job at once and flags a running one for the scheduler', async () => {
    await store.create(stored('c-pending', 'PENDING'));
    await store.create(stored('c-running', 'RUNNING'));
    expect(await client.cancelJob('c-pending')).toMatchObject({ status: 'CANCELLED' });
    const running = await client.cancelJob('c-running');
    expect(running.status).toBe('RUNNING');
    expect(running.cancelRequestedAt).toBeGreaterThan(0);
  });

  it('waits for a job to finish and reports each status change', async () => {
    await store.create(stored('w-1', 'PENDING'));
    const seen: string[] = [];
    const waiting = client.waitForJob('w-1', {
      timeoutMs: 60_000,
      pollMs: 50,
      onProgress: (j) => seen.push(j.status),
    });
    await store.transition('w-1', { from: 'PENDING', to: 'PLACED', expectedVersion: 0, now: 2 });
    await store.transition('w-1', { from: 'PLACED', to: 'SUCCEEDED', expectedVersion: 1, now: 3 });
    const done = await waiting;
    expect(done.status).toBe('SUCCEEDED');
    expect(seen.at(0)).toBe('PENDING');
    expect(seen.at(-1)).toBe('SUCCEEDED');
  });

  it('fails with WaitTimeoutError when the job does not finish in time', async () => {
    await store.create(stored('w-2', 'PENDING'));
    await expect(client.waitForJob('w-2', { timeoutMs: 300, pollMs: 50 })).rejects.toBeInstanceOf(
      WaitTimeoutError,
    );
  });
});
