import { randomUUID } from 'node:crypto';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqsReportSink, SqsWorkQueue } from '../../lib/aws/sqs-work-queue.ts';
import { resetEmulator, testAwsConfig } from '../support/emulator.ts';

describe('SqsWorkQueue against the emulator', () => {
  const sqs = new SQSClient(testAwsConfig());
  beforeAll(resetEmulator);
  afterAll(() => sqs.destroy());

  async function queue(): Promise<SqsWorkQueue> {
    const out = await sqs.send(new CreateQueueCommand({ QueueName: `wq-${randomUUID().slice(0, 8)}` }));
    return new SqsWorkQueue(sqs, out.QueueUrl ?? '');
  }

  it('hides a received message until its visibility is set to 0, then delivers it again', async () => {
    const q = await queue();
    await q.send('hello');
    const [first] = await q.receive({ maxMessages: 1, waitSeconds: 1, visibilityTimeoutSeconds: 60 });
    expect(first).toMatchObject({ body: 'hello', receiveCount: 1 });
    expect(await q.receive({ maxMessages: 1, waitSeconds: 0 })).toHaveLength(0);
    await q.changeVisibility(first?.receiptHandle ?? '', 0);
    const [again] = await q.receive({ maxMessages: 1, waitSeconds: 1, visibilityTimeoutSeconds: 60 });
    expect(again).toMatchObject({ id: first?.id, body: 'hello', receiveCount: 2 });
  });

  it('deletes a message, and treats deleting or extending it again as a no-op', async () => {
    const q = await queue();
    await q.send('once');
    const [m] = await q.receive({ maxMessages: 1, waitSeconds: 1 });
    await q.delete(m?.receiptHandle ?? '');
    await expect(q.delete(m?.receiptHandle ?? '')).resolves.toBeUndefined();
    await expect(q.changeVisibility(m?.receiptHandle ?? '', 0)).resolves.toBeUndefined();
    expect(await q.receive({ maxMessages: 1, waitSeconds: 0 })).toHaveLength(0);
  });

  it('returns no messages when a long poll is aborted', async () => {
    const q = await queue();
    const abort = new AbortController();
    const polling = q.receive({ maxMessages: 1, waitSeconds: 20, abortSignal: abort.signal });
    abort.abort();
    expect(await polling).toEqual([]);
  });

  it('fails when asked for more than 10 messages, naming the limit', async () => {
    const q = await queue();
    await expect(q.receive({ maxMessages: 11, waitSeconds: 0 })).rejects.toThrow(
      'maxMessages must be between 1 and 10, got 11',
    );
  });

  it('sends each report as one JSON message', async () => {
    const q = await queue();
    await new SqsReportSink(sqs, q.queueUrl).send({ version: 1, kind: 'Heartbeat' });
    const [m] = await q.receive({ maxMessages: 1, waitSeconds: 1 });
    expect(JSON.parse(m?.body ?? '')).toEqual({ version: 1, kind: 'Heartbeat' });
  });
});
