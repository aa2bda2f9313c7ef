import {
  type AttributeDefinition,
  CreateTableCommand,
  type DynamoDBClient,
  type GlobalSecondaryIndex,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { TABLE_KEYS, type TableNames } from '../../lib/aws/tables.ts';

/**
 * Creates the state tables with the same keys and indexes the stack declares, for adapter tests that do
 * not need a whole stack deployment. Names get `prefix` so suites do not collide.
 */
export async function createStateTables(client: DynamoDBClient, prefix: string): Promise<TableNames> {
  const k = TABLE_KEYS;
  const names: TableNames = {
    jobs: `${prefix}-jobs`,
    instances: `${prefix}-instances`,
    placements: `${prefix}-placements`,
    control: `${prefix}-control`,
  };
  await Promise.all([
    create(
      client,
      names.jobs,
      [k.jobs.partitionKey],
      [gsi(k.jobs.statusIndex, k.jobs.statusKey, k.jobs.submittedAtKey)],
      {
        [k.jobs.submittedAtKey]: 'N',
      },
    ),
    create(
      client,
      names.instances,
      [k.instances.partitionKey],
      [gsi(k.instances.stateIndex, k.instances.stateKey, k.instances.launchedAtKey)],
      { [k.instances.launchedAtKey]: 'N' },
    ),
    create(
      client,
      names.placements,
      [k.placements.partitionKey, k.placements.sortKey],
      [gsi(k.placements.instanceIndex, k.placements.instanceKey, k.placements.startAtKey)],
      { [k.placements.startAtKey]: 'N' },
    ),
    create(client, names.control, [k.control.partitionKey, k.control.sortKey], [], {}),
  ]);
  return names;
}

function gsi(name: string, pk: string, sk: string): GlobalSecondaryIndex {
  return {
    IndexName: name,
    KeySchema: [
      { AttributeName: pk, KeyType: 'HASH' },
      { AttributeName: sk, KeyType: 'RANGE' },
    ],
    Projection: { ProjectionType: 'ALL' },
  };
}

async function create(
  client: DynamoDBClient,
  name: string,
  keys: string[],
  indexes: GlobalSecondaryIndex[],
  numeric: Record<string, 'N'>,
): Promise<void> {
  const attributes = new Set<string>(keys);
  for (const index of indexes)
    for (const key of index.KeySchema ?? []) attributes.add(key.AttributeName as string);
  const AttributeDefinitions: AttributeDefinition[] = [...attributes].map((AttributeName) => ({
    AttributeName,
    AttributeType: numeric[AttributeName] ?? 'S',
  }));
  await client.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions,
      KeySchema: keys.map((AttributeName, i) => ({ AttributeName, KeyType: i === 0 ? 'HASH' : 'RANGE' })),
      GlobalSecondaryIndexes: indexes.length > 0 ? indexes : undefined,
    }),
  );
  await waitUntilTableExists({ client, maxWaitTime: 60 }, { TableName: name });
}
