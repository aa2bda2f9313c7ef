import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { createStateTables } from './tables.ts';

/**
 * Creates the tables and queues a handler needs (without a stack deploy) and returns the environment the
 * stack would give it, pointed at the emulator.
 */
export async function handlerEnv(
  dynamo: DynamoDBClient,
  sqs: SQSClient,
  prefix: string,
  base: NodeJS.ProcessEnv,
): Promise<NodeJS.ProcessEnv> {
  const tables = await createStateTables(dynamo, prefix);
  const queue = async (name: string) =>
    (await sqs.send(new CreateQueueCommand({ QueueName: `${prefix}-${name}` }))).QueueUrl as string;
  const [submissions, reports, events, sDlq, rDlq, eDlq] = await Promise.all(
    ['submissions', 'reports', 'events', 'submissions-dlq', 'reports-dlq', 'events-dlq'].map(queue),
  );
  return {
    ...base,
    TETRAFLEET_STACK_NAME: prefix,
    TETRAFLEET_JOBS_TABLE: tables.jobs,
    TETRAFLEET_INSTANCES_TABLE: tables.instances,
    TETRAFLEET_PLACEMENTS_TABLE: tables.placements,
    TETRAFLEET_CONTROL_TABLE: tables.control,
    TETRAFLEET_SUBMISSIONS_QUEUE_URL: submissions,
    TETRAFLEET_REPORTS_QUEUE_URL: reports,
    TETRAFLEET_EVENTS_QUEUE_URL: events,
    TETRAFLEET_SUBMISSIONS_DLQ_URL: sDlq,
    TETRAFLEET_REPORTS_DLQ_URL: rDlq,
    TETRAFLEET_EVENTS_DLQ_URL: eDlq,
    TETRAFLEET_INSTANCE_QUEUE_PREFIX: `${prefix}-i-`,
    TETRAFLEET_CPU_LAUNCH_TEMPLATE_ID: 'lt-cpu',
    TETRAFLEET_GPU_LAUNCH_TEMPLATE_ID: 'lt-gpu',
    TETRAFLEET_INSTANCE_TYPES: 'c7i.large,g5.xlarge',
  };
}
