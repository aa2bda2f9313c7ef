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
import { ConflictError, NotFoundError } from '../core/errors.ts';
import { type Job, JobSchema } from '../core/model/job.ts';
import { assertTransition, isTerminal } from '../core/model/job-state.ts';
import { parseOrThrow } from '../core/model/validate.ts';
import type {
  CreateJobResult,
  CycleLog,
  CycleRecord,
  JobStore,
  LeaseStore,
  Rejection,
  TransitionRequest,
} from '../core/ports.ts';
import { addSets, isConditionFailure } from './dynamo-conditions.ts';
import { DynamoCycleLog } from './dynamo-cycle-log.ts';
import { decodeCursor, encodeCursor, fromItem, idemKey, toItem } from './dynamo-job-items.ts';
import { DynamoLeaseStore } from './dynamo-lease-store.ts';
import { toDomainError } from './errors.ts';
import { TABLE_KEYS, type TableNames } from './tables.ts';

/** How long an idempotency record outlives its submission. */
const IDEMPOTENCY_TTL_SECONDS = 7 * 24 * 3600;
const MAX_PAGE = 1000;

/**
 * JobStore and LeaseStore over DynamoDB.
 *
 * Creating a job writes two items in one transaction: the job (condition: its id is new) and, when the
 * client gave an idempotency key, `IDEM#<key>` in the control table (condition: the key is new). If either
 * condition fails the existing job is read back and returned with `created: false`, so a resend is a no-op:
 * the job under the same id, else the one that owns the key (whose id then differs from the one asked for).
 *
 * A transition is one UpdateItem guarded by `status = :from AND version = :expected`:
 *
 *   reader A reads v3 ─┐            ┌─ A writes PLACED if version = 3 → ok, now v4
 *   reader B reads v3 ─┴────────────┴─ B writes CANCELLED if version = 3 → ConditionalCheckFailed → ConflictError
 *
 * Leases (dynamo-lease-store.ts) and the cycle log (dynamo-cycle-log.ts) live in the control table too;
 * this store hands those calls to them over the same document client.
 */
export class DynamoJobStore implements JobStore, LeaseStore, CycleLog {
  private readonly doc: DynamoDBDocumentClient;
  private readonly cycles: DynamoCycleLog;
  private readonly leases: DynamoLeaseStore;

  constructor(
    client: DynamoDBClient,
    private readonly tables: Pick<TableNames, 'jobs' | 'control'>,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    this.cycles = new DynamoCycleLog(this.doc, tables.control);
    this.leases = new DynamoLeaseStore(this.doc, tables.control);
  }

  async create(job: Job, idempotencyKey?: string): Promise<CreateJobResult> {
    const item = toItem(parseOrThrow(JobSchema, job, 'job'));
    const jobPut = {
      Put: {
        TableName: this.tables.jobs,
        Item: item,
        ConditionExpression: 'attribute_not_exists(#id)',
        ExpressionAttributeNames: { '#id': TABLE_KEYS.jobs.partitionKey },
      },
    };
    const idemPut = idempotencyKey
      ? {
          Put: {
            TableName: this.tables.control,
            Item: {
              pk: idemKey(idempotencyKey),
              sk: 'IDEM',
              jobId: job.id,
              expiresAt: Math.floor(job.submittedAt / 1000) + IDEMPOTENCY_TTL_SECONDS,
            },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        }
      : undefined;
    try {
      await this.doc.send(
        new TransactWriteCommand({ TransactItems: idemPut ? [jobPut, idemPut] : [jobPut] }),
      );
      return { created: true, job };
    } catch (error) {
      if (!isConditionFailure(error)) throw toDomainError(error, `create job ${job.id}`);
      const existing = await this.existingFor(job.id, idempotencyKey);
      if (!existing)
        throw new ConflictError(`job ${job.id} conflicts with a concurrent write`, job.id, { cause: error });
      return { created: false, job: existing };
    }
  }

  /**
   * What a failed create found: the job under this id (a resend), else the job that owns the idempotency
   * key (the same submission under another id; the caller records why this id was not created).
   */
  private async existingFor(jobId: string, idempotencyKey?: string): Promise<Job | undefined> {
    const own = await this.get(jobId);
    if (own || !idempotencyKey) return own;
    const idem = await this.doc.send(
      new GetCommand({
        TableName: this.tables.control,
        Key: { pk: idemKey(idempotencyKey), sk: 'IDEM' },
        ConsistentRead: true,
      }),
    );
    const owner = idem.Item?.jobId;
    return typeof owner === 'string' ? this.get(owner) : undefined;
  }

  async get(jobId: string): Promise<Job | undefined> {
    try {
      const out = await this.doc.send(
        new GetCommand({
          TableName: this.tables.jobs,
          Key: { [TABLE_KEYS.jobs.partitionKey]: jobId },
          ConsistentRead: true,
        }),
      );
      return out.Item ? fromItem(out.Item) : undefined;
    } catch (error) {
      throw toDomainError(error, `get job ${jobId}`);
    }
  }

  async list(query: { status?: Job['status']; limit?: number; cursor?: string }) {
    const limit = Math.min(query.limit ?? 100, MAX_PAGE);
    const ExclusiveStartKey = query.cursor ? decodeCursor(query.cursor) : undefined;
    const k = TABLE_KEYS.jobs;
    try {
      const out = query.status
        ? await this.doc.send(
            new QueryCommand({
              TableName: this.tables.jobs,
              IndexName: k.statusIndex,
              KeyConditionExpression: '#s = :s',
              ExpressionAttributeNames: { '#s': k.statusKey },
              ExpressionAttributeValues: { ':s': query.status },
              Limit: limit,
              ExclusiveStartKey,
            }),
          )
        : await this.doc.send(
            new ScanCommand({ TableName: this.tables.jobs, Limit: limit, ExclusiveStartKey }),
          );
      const jobs = (out.Items ?? []).map(fromItem);
      if (!query.status) jobs.sort((a, b) => a.submittedAt - b.submittedAt);
      return { jobs, cursor: out.LastEvaluatedKey ? encodeCursor(out.LastEvaluatedKey) : undefined };
    } catch (error) {
      throw toDomainError(error, 'list jobs');
    }
  }

  async transition(jobId: string, request: TransitionRequest): Promise<Job> {
    assertTransition(request.from, request.to);
    const sets: string[] = ['#status = :to', '#version = :next', '#updatedAt = :now'];
    const names: Record<string, string> = {
      '#status': 'status',
      '#version': 'version',
      '#updatedAt': 'updatedAt',
    };
    const values: Record<string, unknown> = {
      ':from': request.from,
      ':to': request.to,
      ':expected': request.expectedVersion,
      ':next': request.expectedVersion + 1,
      ':now': request.now,
    };
    addSets({ sets, names, values }, request.patch ?? {}, 'p');
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tables.jobs,
          Key: { [TABLE_KEYS.jobs.partitionKey]: jobId },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: '#status = :from AND #version = :expected',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return fromItem(out.Attributes ?? {});
    } catch (error) {
      if (isConditionFailure(error)) {
        throw new ConflictError(
          `job ${jobId} is no longer ${request.from} at version ${request.expectedVersion}`,
          jobId,
          { cause: error },
        );
      }
      throw toDomainError(error, `move job ${jobId} to ${request.to}`);
    }
  }

  /**
   * Only a PENDING job is cancelled outright: it has no task anywhere. A LAUNCHING, PLACED or RUNNING one
   * has task records and a RunTask on its way, so it gets `cancelRequestedAt` and the schedule cycle stops
   * its tasks before it ends the job (cancelling it here would leave its task to start unstopped).
   */
  async requestCancel(jobId: string, now: number): Promise<Job> {
    for (let attempt = 0; ; attempt++) {
      const job = await this.get(jobId);
      if (!job) throw new NotFoundError('job', jobId);
      if (isTerminal(job.status)) return job;
      try {
        if (job.status === 'PENDING') {
          return await this.transition(jobId, {
            from: job.status,
            to: 'CANCELLED',
            expectedVersion: job.version,
            now,
            patch: { finishedAt: now, error: { code: 'CANCELLED', message: 'cancelled by the user' } },
          });
        }
        if (job.cancelRequestedAt !== undefined) return job;
        return await this.markCancelRequested(job, now);
      } catch (error) {
        // The job moved under us (placed, finished): read it again and decide anew.
        if (!(error instanceof ConflictError) || attempt >= 4) throw error;
      }
    }
  }

  private async markCancelRequested(job: Job, now: number): Promise<Job> {
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tables.jobs,
          Key: { [TABLE_KEYS.jobs.partitionKey]: job.id },
          UpdateExpression: 'SET cancelRequestedAt = :now, #version = :next, updatedAt = :now',
          ConditionExpression: '#status = :status AND #version = :expected',
          ExpressionAttributeNames: { '#status': 'status', '#version': 'version' },
          ExpressionAttributeValues: {
            ':now': now,
            ':status': job.status,
            ':expected': job.version,
            ':next': job.version + 1,
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return fromItem(out.Attributes ?? {});
    } catch (error) {
      if (isConditionFailure(error))
        throw new ConflictError(`job ${job.id} changed while cancelling`, job.id);
      throw toDomainError(error, `cancel job ${job.id}`);
    }
  }

  async recordRejection(rejection: Rejection): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tables.control,
          Item: {
            pk: `REJECTED#${rejection.jobId}`,
            sk: 'REJECTED',
            ...rejection,
            issues: [...rejection.issues],
            expiresAt: Math.floor(rejection.at / 1000) + IDEMPOTENCY_TTL_SECONDS,
          },
        }),
      );
    } catch (error) {
      throw toDomainError(error, `record rejection of ${rejection.jobId}`);
    }
  }

  async getRejection(jobId: string): Promise<Rejection | undefined> {
    try {
      const out = await this.doc.send(
        new GetCommand({ TableName: this.tables.control, Key: { pk: `REJECTED#${jobId}`, sk: 'REJECTED' } }),
      );
      if (!out.Item) return undefined;
      const { reason, issues, at } = out.Item as { reason: string; issues: Rejection['issues']; at: number };
      return { jobId, reason, issues, at };
    } catch (error) {
      throw toDomainError(error, `read rejection of ${jobId}`);
    }
  }

  record(cycle: CycleRecord): Promise<void> {
    return this.cycles.record(cycle);
  }

  recent(limit: number): Promise<CycleRecord[]> {
    return this.cycles.recent(limit);
  }

  acquire(name: string, owner: string, ttlMs: number, now: number): Promise<boolean> {
    return this.leases.acquire(name, owner, ttlMs, now);
  }

  release(name: string, owner: string): Promise<void> {
    return this.leases.release(name, owner);
  }
}
