import { z } from 'zod';

/**
 * The EC2 events EventBridge routes into the events queue, as AWS sends them. Only the fields the
 * scheduler reads are checked; the rest pass through.
 */
const INSTANCE_ID = z
  .string({ error: 'instance-id must be a string' })
  .regex(/^i-[0-9a-f]{8,17}$/, { error: 'instance-id must look like i-0123456789abcdef0' });

const Ec2EventBase = {
  source: z.literal('aws.ec2', { error: 'source must be aws.ec2' }),
  id: z.string().min(1),
  time: z.iso.datetime({ error: 'time must be an ISO 8601 UTC timestamp' }),
};

export const SpotInterruptionSchema = z.looseObject({
  ...Ec2EventBase,
  'detail-type': z.literal('EC2 Spot Instance Interruption Warning'),
  detail: z.looseObject({
    'instance-id': INSTANCE_ID,
    'instance-action': z.enum(['terminate', 'stop', 'hibernate'], {
      error: 'instance-action must be terminate, stop or hibernate',
    }),
  }),
});

/**
 * EC2's early sign that a spot instance is at elevated risk of interruption. It can come before the
 * two-minute warning, or not at all; AWS advises moving work off the instance proactively.
 */
export const RebalanceRecommendationSchema = z.looseObject({
  ...Ec2EventBase,
  'detail-type': z.literal('EC2 Instance Rebalance Recommendation'),
  detail: z.looseObject({ 'instance-id': INSTANCE_ID }),
});

export const InstanceStateChangeSchema = z.looseObject({
  ...Ec2EventBase,
  'detail-type': z.literal('EC2 Instance State-change Notification'),
  detail: z.looseObject({
    'instance-id': INSTANCE_ID,
    state: z.enum(['pending', 'running', 'stopping', 'stopped', 'shutting-down', 'terminated'], {
      error: 'state must be one of pending, running, stopping, stopped, shutting-down, terminated',
    }),
  }),
});

/** The EC2 events the stack's rules route into the events queue. */
export const EC2_EVENT_DETAIL_TYPES = [
  'EC2 Spot Instance Interruption Warning',
  'EC2 Instance Rebalance Recommendation',
  'EC2 Instance State-change Notification',
] as const;

export const Ec2EventSchema = z.discriminatedUnion(
  'detail-type',
  [SpotInterruptionSchema, RebalanceRecommendationSchema, InstanceStateChangeSchema],
  {
    error: `detail-type must be one of: ${EC2_EVENT_DETAIL_TYPES.join(', ')}`,
  },
);
export type Ec2Event = z.output<typeof Ec2EventSchema>;

/**
 * The event EC2 sends, through EventBridge, when it warns of a spot interruption (`warning`) or recommends
 * rebalancing (`rebalance`) one instance: for drills (`tetrafleet interrupt`) and tests. `id` should
 * be unique per event, as EventBridge's are.
 */
export function ec2SpotEvent(
  kind: 'warning' | 'rebalance',
  instanceId: string,
  at: Date,
  id: string,
): z.output<typeof SpotInterruptionSchema> | z.output<typeof RebalanceRecommendationSchema> {
  const base = {
    version: '0',
    id,
    source: 'aws.ec2' as const,
    time: at.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    resources: [] as string[],
  };
  return kind === 'warning'
    ? {
        ...base,
        'detail-type': 'EC2 Spot Instance Interruption Warning',
        detail: { 'instance-id': instanceId, 'instance-action': 'terminate' },
      }
    : {
        ...base,
        'detail-type': 'EC2 Instance Rebalance Recommendation',
        detail: { 'instance-id': instanceId },
      };
}
