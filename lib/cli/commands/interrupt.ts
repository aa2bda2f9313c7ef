import { randomUUID } from 'node:crypto';
import { REBALANCE_SERVE_SECONDS, SPOT_DRAIN_GRACE_SECONDS } from '../../core/control/ingest.ts';
import { NotFoundError } from '../../core/errors.ts';
import type { Instance } from '../../core/model/instance.ts';
import { ec2SpotEvent } from '../../core/protocol/ec2-events.ts';
import { CliEnvironmentError, CliUsageError } from '../errors.ts';
import type { CliSource } from '../source.ts';
import type { CommandOutput } from './output.ts';

export interface InterruptOptions {
  /** Send a rebalance recommendation instead of the two-minute warning. */
  readonly rebalance?: boolean;
  readonly now?: Date;
}

export interface InterruptResult {
  readonly instanceId: string;
  readonly event: 'EC2 Spot Instance Interruption Warning' | 'EC2 Instance Rebalance Recommendation';
  readonly eventId: string;
}

/**
 * A drill: puts the event EC2 would send for a spot instance (its interruption warning, or a rebalance
 * recommendation) on the stack's events queue, so the control plane reacts as it would to the real one and
 * a pipeline's resilience can be watched (`tetrafleet fleet`, `tetrafleet pipeline status`). EC2 itself is
 * not asked to reclaim anything: the instance is drained and retired by the scheduler. Only spot instances
 * the fleet runs can be named, as only they receive these events.
 */
export async function interruptCommand(
  source: CliSource,
  instanceId: string,
  opts: InterruptOptions = {},
): Promise<CommandOutput<InterruptResult>> {
  checkInstanceId(instanceId);
  const instance = await source.adapters.fleetStore.getInstance(instanceId);
  if (!instance) throw new NotFoundError('instance', instanceId);
  refuseUnlessInterruptible(instance, opts.rebalance === true);
  if (!source.eventsQueueUrl)
    throw new CliEnvironmentError(
      `stack ${source.stackName} publishes no EventsQueueUrl output: redeploy it with this version`,
    );
  const kind = opts.rebalance === true ? 'rebalance' : 'warning';
  const event = ec2SpotEvent(kind, instanceId, opts.now ?? new Date(), randomUUID());
  await source.adapters.queue(source.eventsQueueUrl).send(JSON.stringify(event));
  const what =
    kind === 'warning'
      ? `sent a spot interruption warning for ${instanceId}: it drains now; command tasks move elsewhere at once, serving tasks after serving on for up to ${SPOT_DRAIN_GRACE_SECONDS} s while their replacements start`
      : `sent a rebalance recommendation for ${instanceId}: it takes no new work; serving tasks move elsewhere after serving on for ${REBALANCE_SERVE_SECONDS} s, command tasks run to their end, then it is retired`;
  return {
    data: { instanceId, event: event['detail-type'], eventId: event.id },
    text: `${what}\nwatch it with \`tetrafleet fleet\``,
  };
}

/** An EC2 instance id (`i-` and 8 or 17 hex digits); any other cannot name an instance of the fleet. */
export function checkInstanceId(instanceId: string): void {
  if (!/^i-[0-9a-f]{8,17}$/.test(instanceId))
    throw new CliUsageError(
      `instance id must look like i-0123456789abcdef0, got ${JSON.stringify(instanceId)}`,
    );
}

function refuseUnlessInterruptible(instance: Instance, rebalance: boolean): void {
  const id = instance.id;
  if (instance.market !== 'spot')
    throw new CliUsageError(`${id} is an on-demand instance: EC2 sends these events only for spot instances`);
  if (instance.state === 'TERMINATING' || instance.state === 'TERMINATED')
    throw new CliUsageError(`${id} is ${instance.state.toLowerCase()}: nothing left to interrupt`);
  if (instance.interruptionWarnedAt !== undefined)
    throw new CliUsageError(`${id} was already warned of its interruption`);
  if (rebalance && instance.state === 'DRAINING')
    throw new CliUsageError(`${id} is already draining: a rebalance recommendation would change nothing`);
}
