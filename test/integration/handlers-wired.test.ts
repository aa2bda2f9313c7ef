import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAdmitHandler } from '../../lambdas/admit.ts';
import { buildIngestHandler } from '../../lambdas/ingest.ts';
import { HandlerConfigError, readHandlerConfig } from '../../lambdas/shared/config.ts';
import { DynamoJobStore } from '../../lib/aws/dynamo-job-store.ts';
import { emulatorEnv, resetEmulator, testAwsConfig } from '../support/emulator.ts';
import { handlerEnv } from '../support/stack-env.ts';
import { jobSpec } from '../unit/model/builders.ts';

const silent = { info() {}, warn() {}, error() {} };
const clock = { now: () => 1_700_000_000_000 };

function sqsEvent(...bodies: string[]) {
  return {
    Records: bodies.map((body, i) => ({
      messageId: `m-${i}`,
      receiptHandle: `r-${i}`,
      body,
      attributes: {},
    })),
  };
}

describe('handlers wired to the emulator', () => {
  const aws = testAwsConfig();
  const dynamo = new DynamoDBClient(aws);
  const sqs = new SQSClient(aws);
  let env: NodeJS.ProcessEnv;
  let jobs: DynamoJobStore;

  beforeAll(async () => {
    await resetEmulator();
    env = await handlerEnv(dynamo, sqs, `wired-${process.pid}`, emulatorEnv());
    jobs = new DynamoJobStore(dynamo, readHandlerConfig(env).adapters.tables);
  });
  afterAll(() => {
    dynamo.destroy();
    sqs.destroy();
  });

  it('admits a submission once even when it is delivered twice', async () => {
    const admit = buildAdmitHandler(readHandlerConfig(env), clock, silent);
    const body = JSON.stringify({
      version: 1,
      kind: 'SubmitJob',
      jobId: 'w-1',
      spec: jobSpec({ name: 'w-1' }),
    });
    expect(await admit(sqsEvent(body))).toEqual({ batchItemFailures: [] });
    expect(await admit(sqsEvent(body))).toEqual({ batchItemFailures: [] });
    expect(await jobs.get('w-1')).toMatchObject({ status: 'PENDING', version: 0 });
  });

  it('refuses an invalid submission: nothing is written, the reason is readable and in the DLQ', async () => {
    const admit = buildAdmitHandler(readHandlerConfig(env), clock, silent);
    const body = JSON.stringify({
      version: 1,
      kind: 'SubmitJob',
      jobId: 'w-bad',
      spec: jobSpec({ gang: 0 }),
    });
    expect(await admit(sqsEvent(body))).toEqual({ batchItemFailures: [] });
    expect(await jobs.get('w-bad')).toBeUndefined();
    expect((await jobs.getRejection('w-bad'))?.issues.map((i) => i.path)).toContain('spec.gang');
    const dlq = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: env.TETRAFLEET_SUBMISSIONS_DLQ_URL, WaitTimeSeconds: 2 }),
    );
    const set = JSON.parse(dlq.Messages?.[0]?.Body ?? '{}') as { reason?: string; body?: string };
    expect(set.reason).toMatch(/spec\.gang/);
    expect(set.body).toBe(body);
  });

  it('applies a task event through the ingest handler', async () => {
    const ingest = buildIngestHandler(readHandlerConfig(env), clock, silent);
    const event = JSON.stringify({
      version: 1,
      kind: 'TaskEvent',
      event: 'started',
      jobId: 'w-unknown',
      taskIndex: 0,
      attempt: 0,
      instanceId: 'i-0123456789abcdef0',
      at: 5,
    });
    expect(await ingest(sqsEvent(event, '{"not":"a report"}'))).toEqual({ batchItemFailures: [] });
    const dlq = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: env.TETRAFLEET_REPORTS_DLQ_URL, WaitTimeSeconds: 2 }),
    );
    expect(dlq.Messages ?? []).toHaveLength(1);
  });

  it('fails when the handler environment is incomplete, naming every missing variable', () => {
    const { TETRAFLEET_JOBS_TABLE: _a, TETRAFLEET_EVENTS_DLQ_URL: _b, ...partial } = env;
    expect(() => readHandlerConfig(partial)).toThrow(HandlerConfigError);
    expect(() => readHandlerConfig(partial)).toThrow(/TETRAFLEET_JOBS_TABLE.*TETRAFLEET_EVENTS_DLQ_URL/);
  });
});
