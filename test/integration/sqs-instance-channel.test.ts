import { ListQueuesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqsInstanceChannel } from '../../lib/aws/sqs-instance-channel.ts';
import { ValidationError } from '../../lib/core/errors.ts';
import { decodeTaskCommand } from '../../lib/core/protocol/tasks.ts';
import { resetEmulator, testAwsConfig } from '../support/emulator.ts';

describe('SqsInstanceChannel against the emulator', () => {
  const sqs = new SQSClient(testAwsConfig());
  const channel = new SqsInstanceChannel(sqs, { queuePrefix: `chan-${process.pid}-` });
  beforeAll(resetEmulator);
  afterAll(() => sqs.destroy());

  it('opens one queue per instance, the same one twice', async () => {
    const a = await channel.open('i-0123456789abcdef0');
    const again = await channel.open('i-0123456789abcdef0');
    expect(again).toBe(a);
    expect(a).toContain(`chan-${process.pid}-i-0123456789abcdef0`);
  });

  it('sends a RunTask the agent can decode', async () => {
    const url = await channel.open('i-0123456789abcdef1');
    await channel.send(url, {
      version: 1,
      kind: 'RunTask',
      jobId: 'j-1',
      attempt: 0,
      task: { kind: 'command', command: 'node', args: ['-e', '1'] },
      resources: { vcpu: 1, memoryMiB: 256, gpus: 0 },
    });
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 5 }));
    const decoded = decodeTaskCommand(out.Messages?.[0]?.Body ?? '');
    expect(decoded.ok && decoded.value).toMatchObject({ kind: 'RunTask', jobId: 'j-1', gpuIndices: [] });
  });

  it('fails when a message is malformed, sending nothing', async () => {
    const url = await channel.open('i-0123456789abcdef2');
    await expect(
      channel.send(url, { version: 1, kind: 'CancelTask', jobId: '' } as never),
    ).rejects.toBeInstanceOf(ValidationError);
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 1 }));
    expect(out.Messages ?? []).toHaveLength(0);
  });

  it('closes a queue, and closing it again is a no-op', async () => {
    const url = await channel.open('i-0123456789abcdef3');
    await channel.close(url);
    await channel.close(url);
    const left = await sqs.send(
      new ListQueuesCommand({ QueueNamePrefix: `chan-${process.pid}-i-0123456789abcdef3` }),
    );
    expect(left.QueueUrls ?? []).toHaveLength(0);
  });
});
