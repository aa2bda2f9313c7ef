import {
  CreateFleetCommand,
  type CreateFleetCommandOutput,
  DescribeInstancesCommand,
  type EC2Client,
  type Instance as Ec2Instance,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { InsufficientCapacityError } from '../core/errors.ts';
import type { Market } from '../core/model/instance-type.ts';
import type { CloudInstance, FleetProvider, LaunchedInstance, LaunchRequest } from '../core/ports.ts';
import { awsErrorCode, toDomainError } from './errors.ts';

/** The one EC2Client method used, so tests can pass a recording fake. */
export type Ec2Api = Pick<EC2Client, 'send'>;

/** Tag keys the fleet puts on every instance it launches. */
export const FLEET_TAGS = Object.freeze({
  stack: 'tetrafleet:stack',
  launchToken: 'tetrafleet:launch-token',
  market: 'tetrafleet:market',
});

/** CreateFleet error codes that mean "no capacity here": try the next market. */
const CAPACITY_CODES: ReadonlySet<string> = new Set([
  'InsufficientInstanceCapacity',
  'InsufficientCapacity',
  'InsufficientHostCapacity',
  'InsufficientReservedInstanceCapacity',
  'SpotMaxPriceTooLow',
  'MaxSpotInstanceCountExceeded',
  'UnfulfillableCapacity',
  'InstanceLimitExceeded',
  'VcpuLimitExceeded',
]);

export interface Ec2FleetProviderConfig {
  /** Value of the `tetrafleet:stack` tag that marks this fleet's instances. */
  readonly stackName: string;
  readonly launchTemplates: { readonly cpu: string; readonly gpu: string };
  /** Epoch ms, injected for launch times when EC2 omits them. */
  readonly now: () => number;
}

/**
 * FleetProvider over EC2 CreateFleet (type `instant`) with the stack's launch templates. One call carries
 * every acceptable type as a prioritized override, so EC2 itself falls through the alternatives; when a
 * spot request finds no capacity the remainder is asked for on-demand, if the request allows it.
 *
 * Idempotency: CreateFleet's ClientToken covers retries on AWS; on top of that every instance is tagged
 * with the request token and a repeated request first looks for instances carrying it, which also holds
 * where the API does not honour client tokens and after a crash between launch and commit.
 */
export class Ec2FleetProvider implements FleetProvider {
  constructor(
    private readonly ec2: Ec2Api,
    private readonly config: Ec2FleetProviderConfig,
  ) {}

  async launch(request: LaunchRequest): Promise<LaunchedInstance[]> {
    if (request.count < 1 || !Number.isInteger(request.count))
      throw new RangeError(`count must be a whole number of at least 1, got ${request.count}`);
    if (request.instanceTypes.length === 0) throw new RangeError('instanceTypes must list at least one type');
    const earlier = await this.byToken(request.token);
    if (earlier.length > 0) return earlier;

    const markets: Market[] =
      request.market === 'spot' && request.onDemandFallback ? ['spot', 'on-demand'] : [request.market];
    const launched: LaunchedInstance[] = [];
    const capacityErrors: string[] = [];
    for (const market of markets) {
      const missing = request.count - launched.length;
      if (missing <= 0) break;
      const out = await this.createFleet(request, market, missing);
      launched.push(...this.instancesOf(out, market));
      for (const e of out.Errors ?? []) {
        const code = e.ErrorCode ?? 'unknown';
        if (!CAPACITY_CODES.has(code))
          throw new Error(`ec2 refused the launch: ${code}: ${e.ErrorMessage ?? ''}`);
        capacityErrors.push(
          `${e.LaunchTemplateAndOverrides?.Overrides?.InstanceType ?? '?'}/${market}: ${code}`,
        );
      }
    }
    if (launched.length === 0)
      throw new InsufficientCapacityError(request.instanceTypes, { cause: capacityErrors });
    return launched;
  }

  private async createFleet(
    request: LaunchRequest,
    market: Market,
    count: number,
  ): Promise<CreateFleetCommandOutput> {
    const tags = {
      ...request.tags,
      [FLEET_TAGS.stack]: this.config.stackName,
      [FLEET_TAGS.launchToken]: request.token,
      [FLEET_TAGS.market]: market,
    };
    const Tags = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
    try {
      return await this.ec2.send(
        new CreateFleetCommand({
          Type: 'instant',
          ClientToken: `${request.token}-${market}`.slice(0, 64),
          LaunchTemplateConfigs: [
            {
              LaunchTemplateSpecification: {
                LaunchTemplateId: this.config.launchTemplates[request.template],
                Version: '$Latest',
              },
              Overrides: request.instanceTypes.map((InstanceType, i) => ({
                InstanceType: InstanceType as never,
                Priority: i,
              })),
            },
          ],
          TargetCapacitySpecification: {
            TotalTargetCapacity: count,
            DefaultTargetCapacityType: market === 'spot' ? 'spot' : 'on-demand',
          },
          SpotOptions:
            market === 'spot' ? { AllocationStrategy: 'capacity-optimized-prioritized' } : undefined,
          OnDemandOptions: market === 'on-demand' ? { AllocationStrategy: 'prioritized' } : undefined,
          TagSpecifications: [{ ResourceType: 'instance', Tags }],
        }),
      );
    } catch (error) {
      const code = awsErrorCode(error);
      if (code && CAPACITY_CODES.has(code)) return { Errors: [{ ErrorCode: code }], $metadata: {} };
      throw toDomainError(error, `launch ${request.instanceTypes.join('|')} (${market})`);
    }
  }

  private instancesOf(out: CreateFleetCommandOutput, market: Market): LaunchedInstance[] {
    const now = this.config.now();
    return (out.Instances ?? []).flatMap((group) =>
      (group.InstanceIds ?? []).map((id) => ({
        id,
        type: String(
          group.InstanceType ?? group.LaunchTemplateAndOverrides?.Overrides?.InstanceType ?? 'unknown',
        ),
        market: group.Lifecycle === 'spot' ? 'spot' : market,
        launchedAt: now,
      })),
    );
  }

  private async byToken(token: string): Promise<LaunchedInstance[]> {
    const found = await this.describe([{ Name: `tag:${FLEET_TAGS.launchToken}`, Values: [token] }]);
    return found.filter((i) => i.state !== 'terminated' && i.state !== 'shutting-down');
  }

  async list(): Promise<CloudInstance[]> {
    const found = await this.describe([{ Name: `tag:${FLEET_TAGS.stack}`, Values: [this.config.stackName] }]);
    return found.filter((i) => i.state !== 'terminated');
  }

  private async describe(Filters: { Name: string; Values: string[] }[]): Promise<CloudInstance[]> {
    const result: CloudInstance[] = [];
    let NextToken: string | undefined;
    do {
      try {
        const out = await this.ec2.send(new DescribeInstancesCommand({ Filters, NextToken }));
        for (const r of out.Reservations ?? [])
          for (const i of r.Instances ?? []) result.push(this.toCloud(i));
        NextToken = out.NextToken;
      } catch (error) {
        throw toDomainError(error, 'describe instances');
      }
    } while (NextToken);
    return result;
  }

  private toCloud(i: Ec2Instance): CloudInstance {
    const tags = Object.fromEntries((i.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
    return {
      id: i.InstanceId ?? '',
      type: String(i.InstanceType ?? 'unknown'),
      market: i.InstanceLifecycle === 'spot' || tags[FLEET_TAGS.market] === 'spot' ? 'spot' : 'on-demand',
      launchedAt: i.LaunchTime?.getTime() ?? this.config.now(),
      state: (i.State?.Name ?? 'pending') as CloudInstance['state'],
      tags,
    };
  }

  async terminate(instanceIds: readonly string[]): Promise<void> {
    if (instanceIds.length === 0) return;
    try {
      await this.ec2.send(new TerminateInstancesCommand({ InstanceIds: [...instanceIds] }));
    } catch (error) {
      // Already gone is what we wanted.
      if (awsErrorCode(error) === 'InvalidInstanceID.NotFound') return;
      throw toDomainError(error, `terminate ${instanceIds.join(', ')}`);
    }
  }
}
