import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateLaunchTemplateCommand, EC2Client } from '@aws-sdk/client-ec2';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ec2FleetProvider } from '../../lib/aws/ec2-fleet-provider.ts';
import { decodeMessage } from '../../lib/core/protocol/envelope.ts';
import { HeartbeatSchema } from '../../lib/core/protocol/heartbeat.ts';
import { LocalFleet } from '../../lib/local/local-fleet.ts';
import { emulatorEnv, resetEmulator, testAwsConfig } from '../support/emulator.ts';

async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 90_000, what = 'condition') {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('LocalFleet against the emulator', () => {
  const aws = testAwsConfig();
  const ec2 = new EC2Client(aws);
  const sqs = new SQSClient(aws);
  const workRoot = mkdtempSync(join(tmpdir(), 'tf-fleet-'));
  let provider: Ec2FleetProvider;
  let local: LocalFleet;
  let reportsUrl: string;

  beforeAll(async () => {
    await resetEmulator();
    const lt = await ec2.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: `lf-${process.pid}`,
        LaunchTemplateData: { ImageId: 'ami-12c6146b', InstanceType: 'c7i.large' },
      }),
    );
    const id = lt.LaunchTemplate?.LaunchTemplateId as string;
    provider = new Ec2FleetProvider(ec2, {
      stackName: `lf-${process.pid}`,
      launchTemplates: { cpu: id, gpu: id },
      now: () => Date.now(),
    });
    reportsUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `lf-reports-${process.pid}` })))
      .QueueUrl as string;
    local = new LocalFleet({
      fleet: provider,
      queueUrlFor: async (instanceId) =>
        (await sqs.send(new CreateQueueCommand({ QueueName: `lf-i-${instanceId}` }))).QueueUrl,
      reportsQueueUrl: reportsUrl,
      env: emulatorEnv(),
      bootMs: () => 0,
      workRoot,
      pollMs: 200,
      agentEnv: { TETRAFLEET_HEARTBEAT_SECONDS: '1', TETRAFLEET_POLL_WAIT_SECONDS: '1' },
    });
    local.start();
  });

  afterAll(async () => {
    await local.stop();
    ec2.destroy();
    sqs.destroy();
    rmSync(workRoot, { recursive: true, force: true });
  });

  it('starts a real agent for an instance EC2 reports, which announces itself', async () => {
    const [instance] = await provider.launch({
      token: 'lf-1',
      instanceTypes: ['c7i.large'],
      market: 'on-demand',
      onDemandFallback: false,
      count: 1,
      template: 'cpu',
    });
    await eventually(() => local.running().includes(instance?.id ?? ''), 90_000, 'the agent to start');
    let announced: unknown;
    await eventually(
      async () => {
        const out = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: reportsUrl, WaitTimeSeconds: 1, MaxNumberOfMessages: 10 }),
        );
        for (const m of out.Messages ?? []) {
          const hb = decodeMessage({ Heartbeat: HeartbeatSchema }, m.Body ?? '');
          if (hb.ok && hb.value.instanceId === instance?.id) announced = hb.value;
        }
        return announced !== undefined;
      },
      90_000,
      'a heartbeat',
    );
    expect(announced).toMatchObject({
      instanceType: 'c7i.large',
      capacity: { vcpu: 2, memoryMiB: 4096, gpus: 0 },
    });
  });

  it('stops the agent when the instance is terminated', async () => {
    const id = local.running()[0] as string;
    await provider.terminate([id]);
    await eventually(() => !local.running().includes(id), 60_000, 'the agent to stop');
    expect(local.running()).not.toContain(id);
  });
});
