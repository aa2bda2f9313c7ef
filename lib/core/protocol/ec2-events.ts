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

export const Ec2EventSchema = z.discriminatedUnion(
  'detail-type',
  [SpotInterruptionSchema, InstanceStateChangeSchema],
  {
    error:
      'detail-type must be EC2 Spot Instance Interruption Warning or EC2 Instance State-change Notification',
  },
);
export type Ec2Event = z.output<typeof Ec2EventSchema>;
