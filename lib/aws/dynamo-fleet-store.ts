import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import {
  type TaskRecord,
  TaskRecordSchema,
  type TaskState,
  taskSortKey,
} from '../core/control/task-record.ts';
import { ConflictError } from '../core/errors.ts';
import {
  INSTANCE_STATES,
  type Instance,
  InstanceSchema,
  type InstanceState,
  type InstanceUpdate,
  InstanceUpdateSchema,
} from '../core/model/instance.ts';
import { type Market, MarketSchema } from '../core/model/instance-type.ts';
import type { Job } from '../core/model/job.ts';
import { assertTransition } from '../core/model/job-state.ts';
import { parseOrThrow } from '../core/model/validate.ts';
import type { InstanceStore, TaskStore } from '../core/ports.ts';
import { addSets, isConditionFailure } from './dynamo-conditions.ts';
import { toDomainError } from './errors.ts';
import { TABLE_KEYS, type TableNames } from './tables.ts';

const K = TABLE_KEYS;
/** DynamoDB transactions take at most 100 items: the job plus up to 99 tasks. */
const MAX_TASKS_PER_COMMIT = 99;

/**
 * TaskStore and InstanceStore over the placements and instances tables. A placement commit is one
 * transaction: the job's conditional state change (status and version as read) plus a put of every task
 * record that must not exist yet, so two overlapping schedule cycles cannot both place the same job.
 * Instance items are InstanceSchema records (the heartbeat run and seq ingest orders heartbeats by
 * included); an update sets any field of InstanceUpdateSchema, validated before it is sent.
 */
export class DynamoFleetStore implements TaskStore, InstanceStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tables: TableNames,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async tasksOfJob(jobId: string): Promise<TaskRecord[]> {
    const out = await this.call(`read tasks of ${jobId}`, () =>
      this.doc.send(
        new QueryCommand({
          TableName: this.tables.placements,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': K.placements.partitionKey },
          ExpressionAttributeValues: { ':pk': jobId },
          ConsistentRead: true,
        }),
      ),
    );
    return (out.Items ?? []).map(taskFromItem);
  }

  async activeTasks(): Promise<TaskRecord[]> {
    const items: Record<string, unknown>[] = [];
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const out = await this.call('scan active tasks', () =>
        this.doc.send(
          new ScanCommand({
            TableName: this.tables.placements,
            FilterExpression: '#s IN (:a, :b, :c)',
            ExpressionAttributeNames: { '#s': 'state' },
            ExpressionAttributeValues: { ':a': 'PLACED', ':b': 'DISPATCHED', ':c': 'RUNNING' },
            ExclusiveStartKey,
            ConsistentRead: true,
          }),
        ),
      );
      items.push(...(out.Items ?? []));
      ExclusiveStartKey = out.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return items.map(taskFromItem);
  }

  async commitPlacement(
    job: Job,
    to: 'PLACED' | 'LAUNCHING',
    tasks: readonly TaskRecord[],
    now: number,
    placed: { readonly market?: Market } = {},
  ): Promise<Job> {
    assertTransition(job.status, to);
    if (tasks.length === 0 || tasks.length > MAX_TASKS_PER_COMMIT)
      throw new RangeError(`a placement commits 1 to ${MAX_TASKS_PER_COMMIT} tasks, got ${tasks.length}`);
    const attempts = Math.max(...tasks.map((t) => t.attempt)) + 1;
    const market = placed.market ? parseOrThrow(MarketSchema, placed.market, 'job market') : undefined;
    const jobUpdate = {
      Update: {
        TableName: this.tables.jobs,
        Key: { [K.jobs.partitionKey]: job.id },
        UpdateExpression: `SET #s = :to, #v = :next, updatedAt = :now, attempts = :attempts${market ? ', market = :market' : ''}`,
        ConditionExpression: '#s = :from AND #v = :expected',
        ExpressionAttributeNames: { '#s': 'status', '#v': 'version' },
        ExpressionAttributeValues: {
          ':to': to,
          ':from': job.status,
          ':expected': job.version,
          ':next': job.version + 1,
          ':now': now,
          ':attempts': attempts,
          ...(market ? { ':market': market } : {}),
        },
      },
    };
    const puts = tasks.map((t) => ({
      Put: {
        TableName: this.tables.placements,
        Item: taskToItem(parseOrThrow(TaskRecordSchema, t, 'task record')),
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': K.placements.partitionKey },
      },
    }));
    try {
      await this.doc.send(new TransactWriteCommand({ TransactItems: [jobUpdate, ...puts] }));
    } catch (error) {
      if (isConditionFailure(error))
        throw new ConflictError(`job ${job.id} changed since it was read; not placed`, job.id, {
          cause: error,
        });
      throw toDomainError(error, `commit placement of ${job.id}`);
    }
    return {
      ...job,
      status: to,
      version: job.version + 1,
      updatedAt: now,
      attempts,
      ...(market ? { market } : {}),
    };
  }

  async moveTask(
    key: { jobId: string; taskIndex: number; attempt: number },
    from: readonly TaskState[],
    to: TaskState,
    now: number,
    patch: { exitCode?: number } = {},
  ): Promise<boolean> {
    const values: Record<string, unknown> = { ':to': to, ':now': now };
    from.forEach((s, i) => {
      values[`:f${i}`] = s;
    });
    let update = 'SET #s = :to, updatedAt = :now';
    if (patch.exitCode !== undefined) {
      update += ', exitCode = :exit';
      values[':exit'] = patch.exitCode;
    }
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tables.placements,
          Key: { [K.placements.partitionKey]: key.jobId, [K.placements.sortKey]: taskSortKey(key) },
          UpdateExpression: update,
          ConditionExpression: `attribute_exists(#pk) AND #s IN (${from.map((_, i) => `:f${i}`).join(', ')})`,
          ExpressionAttributeNames: { '#s': 'state', '#pk': K.placements.partitionKey },
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw toDomainError(error, `move task ${key.jobId}#${key.taskIndex} to ${to}`);
    }
  }

  async listInstances(
    states: readonly InstanceState[] = INSTANCE_STATES.filter((s) => s !== 'TERMINATED'),
  ): Promise<Instance[]> {
    const pages = await Promise.all(
      states.map((state) =>
        this.call(`list ${state} instances`, () =>
          this.doc.send(
            new QueryCommand({
              TableName: this.tables.instances,
              IndexName: K.instances.stateIndex,
              KeyConditionExpression: '#s = :s',
              ExpressionAttributeNames: { '#s': K.instances.stateKey },
              ExpressionAttributeValues: { ':s': state },
            }),
          ),
        ),
      ),
    );
    return pages.flatMap((p) => (p.Items ?? []).map(instanceFromItem));
  }

  async getInstance(id: string): Promise<Instance | undefined> {
    const out = await this.call(`get instance ${id}`, () =>
      this.doc.send(
        new GetCommand({
          TableName: this.tables.instances,
          Key: { [K.instances.partitionKey]: id },
          ConsistentRead: true,
        }),
      ),
    );
    return out.Item ? instanceFromItem(out.Item) : undefined;
  }

  async putInstance(instance: Instance): Promise<void> {
    const item = {
      ...parseOrThrow(InstanceSchema, instance, 'instance'),
      [K.instances.partitionKey]: instance.id,
    };
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tables.instances,
          Item: item,
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': K.instances.partitionKey },
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) return;
      throw toDomainError(error, `record instance ${instance.id}`);
    }
  }

  async updateInstance(id: string, expectedVersion: number, patch: InstanceUpdate): Promise<Instance> {
    const { sets, names, values } = addSets(
      {
        sets: ['#v = :next'],
        names: { '#v': 'version' },
        values: { ':expected': expectedVersion, ':next': expectedVersion + 1 },
      },
      parseOrThrow(InstanceUpdateSchema, patch, 'instance update'),
      'f',
    );
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tables.instances,
          Key: { [K.instances.partitionKey]: id },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: '#v = :expected',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return instanceFromItem(out.Attributes ?? {});
    } catch (error) {
      if (isConditionFailure(error))
        throw new ConflictError(`instance ${id} moved past version ${expectedVersion}`, id, { cause: error });
      throw toDomainError(error, `update instance ${id}`);
    }
  }

  private async call<T>(action: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw toDomainError(error, action);
    }
  }
}

function taskToItem(t: TaskRecord): Record<string, unknown> {
  return { ...t, [K.placements.sortKey]: taskSortKey(t) };
}

function taskFromItem(item: Record<string, unknown>): TaskRecord {
  const { [K.placements.sortKey]: _sk, ...rest } = item;
  return parseOrThrow(TaskRecordSchema, rest, 'stored task');
}

function instanceFromItem(item: Record<string, unknown>): Instance {
  const { [K.instances.partitionKey]: _pk, ...rest } = item;
  return parseOrThrow(InstanceSchema, rest, 'stored instance');
}
