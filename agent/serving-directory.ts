import type { ServingDirectory } from '../lib/core/ports.ts';

/**
 * How a router task gets its ServingDirectory: built once per agent, on the first router task, so agents
 * that never route never load the DynamoDB client. `agent/main.ts` passes a factory; the adapter is the
 * control plane's pipeline store over the control table (TETRAFLEET_CONTROL_TABLE).
 */
export type ServingDirectoryFactory = () => Promise<ServingDirectory>;

/** A factory over the DynamoDB pipeline store; fails with the reason when the table is not configured. */
export function dynamoServingDirectory(tableName: string | undefined): ServingDirectoryFactory {
  return async () => {
    if (!tableName)
      throw new Error('TETRAFLEET_CONTROL_TABLE is not set; a router task needs the control table to read');
    const [{ DynamoDBClient }, { DynamoPipelineStore }, { awsClientConfig }] = await Promise.all([
      import('@aws-sdk/client-dynamodb'),
      import('../lib/aws/dynamo-pipeline-store.ts'),
      import('../lib/aws/client-config.ts'),
    ]);
    return new DynamoPipelineStore(new DynamoDBClient(awsClientConfig()), { control: tableName });
  };
}
