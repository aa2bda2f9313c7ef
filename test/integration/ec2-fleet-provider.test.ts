import { CreateLaunchTemplateCommand, EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ec2FleetProvider } from '../../lib/aws/ec2-fleet-provider.ts';
import { resetEmulator, testAwsConfig } from '../support/emulator.ts';

describe('Ec2FleetProvider against the emulator', () => {
  const ec2 = new EC2Client(testAwsConfig());
  let fleet: Ec2FleetProvider;

  beforeAll(async () => {
    await resetEmulator();
    const template = async (name: string, type: string) =>
      (
        await ec2.send(
          new CreateLaunchTemplateCommand({
            LaunchTemplateName: `${name}-${process.pid}`,
            LaunchTemplateData: { ImageId: 'ami-12c6146b', InstanceType: type as never },
          }),
        )
      ).LaunchTemplate?.LaunchTemplateId as string;
    fleet = new Ec2FleetProvider(ec2, {
      stackName: `fleet-${process.pid}`,
      launchTemplates: { cpu: await template('cpu', 'c7i.large'), gpu: await template('gpu', 'g5.xlarge') },
      now: () => Date.now(),
    });
  });
  afterAll(() => ec2.destroy());

  it('launches through a launch template, tags the instances and lists them', async () => {
    const out = await fleet.launch({
      token: 'launch-1',
      instanceTypes: ['g6.xlarge', 'g5.xlarge'],
      market: 'spot',
      onDemandFallback: true,
      count: 2,
      template: 'gpu',
      tags: { 'tetrafleet:pool': 'gpu' },
    });
    expect(out).toHaveLength(2);
    expect(out.every((i) => i.type === 'g6.xlarge' && i.market === 'spot')).toBe(true);
    const listed = await fleet.list();
    expect(listed.map((i) => i.id).sort()).toEqual(out.map((i) => i.id).sort());
    expect(listed[0]?.tags['tetrafleet:pool']).toBe('gpu');
  });

  it('returns the same instances when a launch is repeated with its token', async () => {
    const first = await fleet.launch({
      token: 'launch-2',
      instanceTypes: ['c7i.large'],
      market: 'on-demand',
      onDemandFallback: false,
      count: 1,
      template: 'cpu',
    });
    const again = await fleet.launch({
      token: 'launch-2',
      instanceTypes: ['c7i.large'],
      market: 'on-demand',
      onDemandFallback: false,
      count: 1,
      template: 'cpu',
    });
    expect(again.map((i) => i.id)).toEqual(first.map((i) => i.id));
  });

  it('terminates instances, which then leave the listing', async () => {
    const before = await fleet.list();
    const victim = before[0]?.id as string;
    await fleet.terminate([victim]);
    const after = await fleet.list();
    expect(after.map((i) => i.id)).not.toContain(victim);
    expect(after).toHaveLength(before.length - 1);
  });
});
