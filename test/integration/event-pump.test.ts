import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EventPump, type SqsLambdaEvent } from '../../lib/local/event-pump.ts';
import { resetEmulator, testAwsConfig } from '../support/emulator.ts';

/** Polls `check` until it returns true, failing after `timeoutMs`. */
async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 60_000, what = 'condition') {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('EventPump against the emulator', () => {
  const sqs = new SQSClient(testAwsConfig());
  let pump: EventPump | undefined;
  const queue = async (name: string, attributes: Record<string, string> = {}) =>
    (await sqs.send(new CreateQueueCommand({ QueueName: `${name}-${process.pid}`, Attributes: attributes })))
      .QueueUrl as string;

  beforeAll(resetEmulator);
  afterEach(async () => {
    await pump?.stop();
    pump = undefined;
  });
  afterAll(() => sqs.destroy());

  it('hands each message to the handler exactly once, with its SQS record fields', async () => {
    const url = await queue('pump-once');
    const seen: string[] = [];
    let receiveCounts: string[] = [];
    pump = new EventPump(sqs, {
      sqs: [
        {
          name: 'once',
          queueUrl: url,
          handler: async (event: SqsLambdaEvent) => {
            seen.push(...event.Records.map((r) => r.body));
            receiveCounts = receiveCounts.concat(
              event.Records.map((r) => r.attributes.ApproximateReceiveCount ?? ''),
            );
            return { batchItemFailures: [] };
          },
        },
      ],
      timers: [],
    });
    pump.start();
    for (let i = 0; i < 5; i++)
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: `m${i}` }));
    await eventually(() => seen.length >= 5, 60_000, 'five deliveries');
    // Give a redelivery the chance to show up: the queue must end empty, with nothing in flight.
    await eventually(async () => {
      const attrs = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: url,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      return (
        attrs.Attributes?.ApproximateNumberOfMessages === '0' &&
        attrs.Attributes?.ApproximateNumberOfMessagesNotVisible === '0'
      );
    });
    expect(seen.sort()).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    expect(receiveCounts.every((c) => c === '1')).toBe(true);
  });

  it('returns the items a handler reports as failed, until the queue moves them to its DLQ', async () => {
    const dlq = await queue('pump-dlq');
    const dlqArn = (
      await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq, AttributeNames: ['QueueArn'] }))
    ).Attributes?.QueueArn as string;
    const url = await queue('pump-retry', {
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 2 }),
    });
    const attempts = new Map<string, number>();
    pump = new EventPump(sqs, {
      sqs: [
        {
          name: 'retry',
          queueUrl: url,
          retryDelaySeconds: 0,
          handler: async (event) => {
            for (const r of event.Records) attempts.set(r.body, (attempts.get(r.body) ?? 0) + 1);
            return {
              batchItemFailures: event.Records.filter((r) => r.body === 'poison').map((r) => ({
                itemIdentifier: r.messageId,
              })),
            };
          },
        },
      ],
      timers: [],
    });
    pump.start();
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'good' }));
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'poison' }));
    let dead: string | undefined;
    await eventually(async () => {
      const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlq, WaitTimeSeconds: 1 }));
      dead = out.Messages?.[0]?.Body;
      return dead !== undefined;
    });
    expect(dead).toBe('poison');
    expect(attempts.get('good')).toBe(1);
    expect(attempts.get('poison')).toBe(2);
  });

  it('fires timers with a scheduled event, and a nudge runs one at once', async () => {
    const events: Record<string, unknown>[] = [];
    pump = new EventPump(sqs, {
      sqs: [],
      timers: [{ name: 'schedule', everyMs: 60_000, handler: async (e) => void events.push(e) }],
    });
    pump.start();
    await pump.nudge('schedule');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ source: 'aws.events', 'detail-type': 'Scheduled Event' });
    expect(() => pump?.nudge('nope')).toThrow(/no timer named nope/);
  });
});
