import { CreateQueueCommand, ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { resetEmulator, testAwsConfig } from '../support/emulator.ts';

describe('emulator harness', () => {
  const sqs = new SQSClient(testAwsConfig());
  beforeAll(resetEmulator);
  afterAll(() => sqs.destroy());

  // Against an external endpoint (LocalStack) the suite does not own the state, so there is no reset to check.
  it.runIf(inject('emulatorOwned'))('answers AWS API calls and forgets state on reset', async () => {
    await sqs.send(new CreateQueueCommand({ QueueName: 'harness-probe' }));
    const before = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'harness-probe' }));
    expect(before.QueueUrls ?? []).toHaveLength(1);
    await resetEmulator();
    const after = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'harness-probe' }));
    expect(after.QueueUrls ?? []).toHaveLength(0);
  });
});
