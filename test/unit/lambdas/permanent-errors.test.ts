import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { createAdmitHandler } from '../../../lambdas/admit.ts';
import type { PoisonMessage } from '../../../lambdas/shared/sqs-batch.ts';
import { DynamoJobStore } from '../../../lib/aws/dynamo-job-store.ts';
import { InvalidRequestError, isInvalidRequestError, toDomainError } from '../../../lib/aws/errors.ts';
import type { Submission } from '../../../lib/core/protocol/submission.ts';
import { recordingLogger, sqsEvent, submitJob } from './support.ts';

/** A DynamoDB client whose endpoint answers nothing: the marshaller fails before any request is sent. */
function offlineClient(): DynamoDBClient {
  return new DynamoDBClient({
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:9',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 200, requestTimeout: 200 },
  });
}

const TABLES = { jobs: 'jobs', instances: 'instances', placements: 'placements', control: 'control' };

/** A write as every store makes one: the document client, its failure through toDomainError. */
async function put(item: Record<string, unknown>, action: string): Promise<void> {
  const doc = DynamoDBDocumentClient.from(offlineClient(), {
    marshallOptions: { removeUndefinedValues: true },
  });
  try {
    await doc.send(new PutCommand({ TableName: 'jobs', Item: item }));
  } catch (error) {
    throw toDomainError(error, action);
  } finally {
    doc.destroy();
  }
}

const awsError = (name: string, status: number, message: string) =>
  Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });

/** An admit handler over `admit`, keeping what it set aside. */
function setup(admit: (s: Submission) => Promise<void>) {
  const poison: PoisonMessage[] = [];
  const handler = createAdmitHandler({
    admit: async (s) => {
      if (s.kind === 'SubmitJob') await admit(s);
    },
    onPoison: async (p) => {
      poison.push(p);
    },
    log: recordingLogger(),
  });
  return { handler, poison };
}

describe('AWS errors no retry can fix', () => {
  it('classifies the DynamoDB marshaller refusing a number as a permanent InvalidRequestError', async () => {
    const store = new DynamoJobStore(offlineClient(), TABLES);
    // A rejection time past 2^53 ms: its expiry is a number the marshaller refuses.
    const error = await store
      .recordRejection({ jobId: 'job-1', reason: 'r', issues: [], at: 1e19 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect((error as InvalidRequestError).retryable).toBe(false);
    expect((error as Error).message).toMatch(
      /^record rejection of job-1 cannot succeed: Number \d+ is greater than Number\.MAX_SAFE_INTEGER/,
    );
  });

  it('classifies a ValidationException as a permanent InvalidRequestError naming the code', () => {
    const cause = awsError('ValidationException', 400, 'Item size has exceeded the maximum allowed size');
    const error = toDomainError(cause, 'create job j');
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect((error as Error).message).toBe(
      'create job j cannot succeed (ValidationException): Item size has exceeded the maximum allowed size',
    );
    expect((error as InvalidRequestError).cause).toBe(cause);
  });

  it('leaves errors that a retry may fix alone', () => {
    expect(isInvalidRequestError(new Error('socket hang up'))).toBe(false);
    expect(isInvalidRequestError(awsError('ThrottlingException', 400, 'slow down'))).toBe(false);
    // A service answer that merely quotes the marshaller's words is not a marshalling error.
    expect(isInvalidRequestError(awsError('InternalError', 500, 'Special numeric value NaN'))).toBe(false);
  });
});

describe('admit handler and a submission the store cannot hold', () => {
  it('sets the message aside with the reason instead of retrying it into the DLQ without one', async () => {
    const { handler, poison } = setup(async (s) => {
      await put({ id: s.jobId, deadlineSeconds: 1e16 }, `create job ${s.jobId}`);
    });
    const res = await handler(sqsEvent({ id: 'm1', body: JSON.stringify(submitJob()) }));
    expect(res.batchItemFailures).toEqual([]);
    expect(poison).toHaveLength(1);
    expect(poison[0]?.messageId).toBe('m1');
    expect(poison[0]?.reason).toMatch(/create job job-1 cannot succeed: Number 10000000000000000 is greater/);
    expect(poison[0]?.issues).toEqual([{ path: '', message: expect.stringMatching(/cannot succeed/) }]);
  });

  it('sets aside a ValidationException that reached the handler unclassified', async () => {
    const { handler, poison } = setup(async () => {
      throw awsError('ValidationException', 400, 'Number overflow');
    });
    const res = await handler(sqsEvent({ id: 'm1', body: JSON.stringify(submitJob()) }));
    expect(res.batchItemFailures).toEqual([]);
    expect(poison.map((p) => p.reason)).toEqual(['ValidationException: Number overflow']);
  });

  it('refuses at decoding, field by field, numbers the store or the agent could not hold', async () => {
    const admitted: Submission[] = [];
    const { handler, poison } = setup(async (s) => {
      admitted.push(s);
    });
    const body = submitJob({
      spec: {
        name: 'train',
        task: { kind: 'command', command: 'echo', timeoutSeconds: 1e300 },
        alternatives: [{ requirement: { vcpu: 1, memoryMiB: 512 }, durationSeconds: 60 }],
        utility: { deadlineSeconds: 1e16, value: 1 },
      },
    });
    const res = await handler(sqsEvent({ id: 'm1', body: JSON.stringify(body) }));
    expect(res.batchItemFailures).toEqual([]);
    expect(admitted).toEqual([]);
    expect(poison[0]?.issues).toEqual([
      { path: 'spec.task.timeoutSeconds', message: 'timeoutSeconds must be at most 1,814,400 (21 days)' },
      {
        path: 'spec.utility.deadlineSeconds',
        message: 'deadlineSeconds must be at most 2,592,000 seconds (30 days) after submission',
      },
    ]);
  });
});
