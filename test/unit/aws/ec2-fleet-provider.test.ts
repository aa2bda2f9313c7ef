import { CreateFleetCommand, DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { type Ec2Api, Ec2FleetProvider } from '../../../lib/aws/ec2-fleet-provider.ts';
import { InsufficientCapacityError, TransientError } from '../../../lib/core/errors.ts';
import type { LaunchRequest } from '../../../lib/core/ports.ts';

type Answer = (input: Record<string, unknown>) => unknown;

/** Records every command and answers CreateFleet per market with a scripted reply. */
function fakeEc2(fleet: { spot?: Answer; 'on-demand'?: Answer }) {
  const calls: { name: string; input: Record<string, unknown> }[] = [];
  const api: Ec2Api = {
    send: (async (command: { input: Record<string, unknown> }) => {
      calls.push({ name: command.constructor.name, input: command.input });
      if (command instanceof DescribeInstancesCommand) return { Reservations: [] };
      if (command instanceof CreateFleetCommand) {
        const spec = command.input.TargetCapacitySpecification as {
          DefaultTargetCapacityType: 'spot' | 'on-demand';
        };
        const answer = fleet[spec.DefaultTargetCapacityType];
        if (!answer) throw new Error(`unexpected ${spec.DefaultTargetCapacityType} request`);
        return answer(command.input);
      }
      return {};
    }) as Ec2Api['send'],
  };
  return { api, calls };
}

const iceFor = (types: string[]) => () => ({
  Errors: types.map((t) => ({
    ErrorCode: 'InsufficientInstanceCapacity',
    LaunchTemplateAndOverrides: { Overrides: { InstanceType: t } },
  })),
});
const launched = (type: string, ids: string[], lifecycle?: string) => () => ({
  Instances: [{ InstanceType: type, InstanceIds: ids, Lifecycle: lifecycle }],
});

const request = (overrides: Partial<LaunchRequest> = {}): LaunchRequest => ({
  token: 'tok-1',
  instanceTypes: ['g5.xlarge', 'g6.xlarge'],
  market: 'spot',
  onDemandFallback: true,
  count: 1,
  template: 'gpu',
  ...overrides,
});

const provider = (api: Ec2Api) =>
  new Ec2FleetProvider(api, {
    stackName: 'tf',
    launchTemplates: { cpu: 'lt-cpu', gpu: 'lt-gpu' },
    now: () => 42,
  });

describe('Ec2FleetProvider', () => {
  it('offers every alternative type to one CreateFleet call, in preference order', async () => {
    const { api, calls } = fakeEc2({ spot: launched('g6.xlarge', ['i-1'], 'spot') });
    const out = await provider(api).launch(request());
    expect(out).toEqual([{ id: 'i-1', type: 'g6.xlarge', market: 'spot', launchedAt: 42 }]);
    const fleet = calls.find((c) => c.name === 'CreateFleetCommand')?.input as {
      LaunchTemplateConfigs: { Overrides: { InstanceType: string; Priority: number }[] }[];
    };
    expect(fleet.LaunchTemplateConfigs[0]?.Overrides).toEqual([
      { InstanceType: 'g5.xlarge', Priority: 0 },
      { InstanceType: 'g6.xlarge', Priority: 1 },
    ]);
  });

  it('falls back to on-demand when no spot capacity is left', async () => {
    const { api } = fakeEc2({
      spot: iceFor(['g5.xlarge', 'g6.xlarge']),
      'on-demand': launched('g5.xlarge', ['i-2']),
    });
    const out = await provider(api).launch(request());
    expect(out).toEqual([{ id: 'i-2', type: 'g5.xlarge', market: 'on-demand', launchedAt: 42 }]);
  });

  it('asks on-demand only for what spot could not give', async () => {
    const { api, calls } = fakeEc2({
      spot: launched('g5.xlarge', ['i-1'], 'spot'),
      'on-demand': launched('g5.xlarge', ['i-2', 'i-3']),
    });
    const out = await provider(api).launch(request({ count: 3 }));
    expect(out.map((i) => i.market)).toEqual(['spot', 'on-demand', 'on-demand']);
    const onDemand = calls.filter((c) => c.name === 'CreateFleetCommand')[1]?.input as {
      TargetCapacitySpecification: { TotalTargetCapacity: number };
    };
    expect(onDemand.TargetCapacitySpecification.TotalTargetCapacity).toBe(2);
  });

  it('fails when no type has capacity in any allowed market', async () => {
    const { api } = fakeEc2({ spot: iceFor(['g5.xlarge']), 'on-demand': iceFor(['g5.xlarge']) });
    await expect(provider(api).launch(request())).rejects.toBeInstanceOf(InsufficientCapacityError);
  });

  it('fails when spot has no capacity and the request forbids on-demand', async () => {
    const { api, calls } = fakeEc2({ spot: iceFor(['g5.xlarge']) });
    await expect(provider(api).launch(request({ onDemandFallback: false }))).rejects.toBeInstanceOf(
      InsufficientCapacityError,
    );
    expect(calls.filter((c) => c.name === 'CreateFleetCommand')).toHaveLength(1);
  });

  it('fails with a TransientError when EC2 throttles', async () => {
    const { api } = fakeEc2({
      spot: () => {
        throw Object.assign(new Error('slow down'), { name: 'RequestLimitExceeded' });
      },
    });
    await expect(provider(api).launch(request())).rejects.toBeInstanceOf(TransientError);
  });

  it('fails when count is not a positive whole number', async () => {
    const { api } = fakeEc2({});
    await expect(provider(api).launch(request({ count: 0 }))).rejects.toThrow(
      /count must be a whole number of at least 1, got 0/,
    );
  });
});
