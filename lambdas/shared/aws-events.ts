import { z } from 'zod';

/**
 * The AWS-side event shapes the handlers receive: SQS batches and EventBridge events. Only the fields
 * the handlers read are checked; the rest pass through.
 */

export const SqsRecordSchema = z.looseObject({
  messageId: z
    .string({ error: 'messageId must be a string' })
    .min(1, { error: 'messageId must not be empty' }),
  body: z.string({ error: 'body must be a string' }),
  eventSourceARN: z.string().optional(),
  attributes: z.looseObject({ ApproximateReceiveCount: z.string().optional() }).optional(),
});
export type SqsRecord = z.output<typeof SqsRecordSchema>;

export const SqsEventSchema = z.object({
  Records: z.array(z.unknown(), { error: 'Records must be an array of SQS records' }),
});

export const ScheduledEventSchema = z.looseObject({
  source: z.literal('aws.events', { error: 'source must be aws.events' }),
  'detail-type': z.literal('Scheduled Event', { error: 'detail-type must be Scheduled Event' }),
  id: z.string().min(1),
  time: z.iso.datetime({ error: 'time must be an ISO 8601 UTC timestamp' }),
  resources: z.array(z.string()).default([]),
});
export type ScheduledEvent = z.output<typeof ScheduledEventSchema>;

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
