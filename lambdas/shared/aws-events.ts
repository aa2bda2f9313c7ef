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

export {
  type Ec2Event,
  Ec2EventSchema,
  InstanceStateChangeSchema,
  SpotInterruptionSchema,
} from '../../lib/core/protocol/ec2-events.ts';
