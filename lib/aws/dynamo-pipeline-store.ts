import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import { ConflictError, NotFoundError } from '../core/errors.ts';
import { parseProfile, type StageProfile } from '../core/inference/profiles.ts';
import {
  type PipelineRecord,
  PipelineRecordSchema,
  type PipelineServing,
  type ServingEndpoint,
  ServingEndpointSchema,
} from '../core/model/pipeline-serving.ts';
import { parseOrThrow } from '../core/model/validate.ts';
import type {
  CreatePipelineResult,
  EndpointKey,
  PipelinePatch,
  PipelineRejection,
  PipelineStore,
} from '../core/ports.ts';
import { type PipelineReport, PipelineReportSchema } from '../core/protocol/pipeline.ts';
import { isConditionFailure } from './dynamo-conditions.ts';
import {
  endpointSort,
  fromRecordItem,
  fromRejectionItem,
  idemKey,
  PIPELINE_PREFIX,
  pipelineKey,
  profileKey,
  REJECTED_PREFIX,
  REJECTED_SORT,
  recordItem,
  rejectedKey,
  unadmittedRejections,
} from './dynamo-pipeline-items.ts';
import { toDomainError } from './errors.ts';
import { TABLE_KEYS, type TableNames } from './tables.ts';

/** How long an idempotency record or a rejection outlives its submission. */
const IDEMPOTENCY_TTL_SECONDS = 7 * 24 * 3600;
/** Router reports are for the scale step's drift rule and `pipeline status`: an hour is plenty. */
const REPORT_TTL_SECONDS = 3600;

const K = TABLE_KEYS.pipelines;

/**
 * PipelineStore over the control table (keys in tables.ts). A record is one item guarded by its
 * `version`: an update reads the record, checks the version the caller named, and puts the new one on
 * condition that the stored version is still that one:
 *
 *   scale reads v2 ──┐                 ┌─ scale puts v3 if version = 2 → ok
 *   ingest reads v2 ─┴─────────────────┴─ ingest puts v3 if version = 2 → ConditionalCheckFailed → ConflictError
 *
 * Creating a record with an idempotency key writes the key item in the same transaction, so a resend under
 * another pipeline id still finds the first pipeline.
 */
export class DynamoPipelineStore implements PipelineStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;

  constructor(client: DynamoDBClient, tables: Pick<TableNames, 'control'>) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    this.table = tables.control;
  }

  async create(record: PipelineRecord, idempotencyKey?: string): Promise<CreatePipelineResult> {
    const valid = parseOrThrow(PipelineRecordSchema, record, 'pipeline record');
    const put = {
      Put: {
        TableName: this.table,
        Item: recordItem(valid),
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    };
    const idem = idempotencyKey
      ? {
          Put: {
            TableName: this.table,
            Item: {
              pk: idemKey(idempotencyKey),
              sk: 'IDEM',
              pipelineId: valid.pipelineId,
              expiresAt: Math.floor(valid.createdAt / 1000) + IDEMPOTENCY_TTL_SECONDS,
            },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        }
      : undefined;
    try {
      await this.doc.send(new TransactWriteCommand({ TransactItems: idem ? [put, idem] : [put] }));
      return { created: true, record: valid };
    } catch (error) {
      if (!isConditionFailure(error)) throw toDomainError(error, `create pipeline ${valid.pipelineId}`);
      const existing = await this.existingFor(valid.pipelineId, idempotencyKey);
      if (!existing)
        throw new ConflictError(
          `pipeline ${valid.pipelineId} conflicts with a concurrent write`,
          valid.pipelineId,
          {
            cause: error,
          },
        );
      return { created: false, record: existing };
    }
  }

  /** The pipeline under this id (a resend), else the one that owns the idempotency key. */
  private async existingFor(
    pipelineId: string,
    idempotencyKey?: string,
  ): Promise<PipelineRecord | undefined> {
    const own = await this.get(pipelineId);
    if (own || !idempotencyKey) return own;
    const out = await this.getItem(idemKey(idempotencyKey), 'IDEM', 'read idempotency key');
    const owner = out?.pipelineId;
    return typeof owner === 'string' ? this.get(owner) : undefined;
  }

  async get(pipelineId: string): Promise<PipelineRecord | undefined> {
    const item = await this.getItem(pipelineKey(pipelineId), K.recordSort, `get pipeline ${pipelineId}`);
    return item ? fromRecordItem(item) : undefined;
  }

  async list(): Promise<PipelineRecord[]> {
    const items = await this.scan('list pipelines', {
      FilterExpression: 'sk = :sk AND begins_with(pk, :prefix)',
      ExpressionAttributeValues: { ':sk': K.recordSort, ':prefix': PIPELINE_PREFIX },
    });
    const records = items.map(fromRecordItem);
    return records.sort((a, b) => a.createdAt - b.createdAt || a.pipelineId.localeCompare(b.pipelineId));
  }

  /**
   * Refusals live under their own keys with no index over them, so, like `list`, this is a filtered
   * Scan of the control table. The same Scan reads the ids of the pipeline records (their keys only), so
   * that a refusal superseded by a pipeline admitted later under its id drops out with no second read.
   */
  async listRejections(): Promise<PipelineRejection[]> {
    const items = await this.scan('list pipeline rejections', {
      FilterExpression:
        '(sk = :rejected AND begins_with(pk, :rejectedPrefix)) OR (sk = :record AND begins_with(pk, :pipelinePrefix))',
      ProjectionExpression: 'pk, sk, #reason, #issues, #at',
      ExpressionAttributeNames: { '#reason': 'reason', '#issues': 'issues', '#at': 'at' },
      ExpressionAttributeValues: {
        ':rejected': REJECTED_SORT,
        ':rejectedPrefix': REJECTED_PREFIX,
        ':record': K.recordSort,
        ':pipelinePrefix': PIPELINE_PREFIX,
      },
    });
    return unadmittedRejections(items);
  }

  async update(
    pipelineId: string,
    expectedVersion: number,
    patch: PipelinePatch,
    now: number,
  ): Promise<PipelineRecord> {
    const current = await this.get(pipelineId);
    if (!current) throw new NotFoundError('pipeline', pipelineId);
    if (current.version !== expectedVersion)
      throw new ConflictError(
        `pipeline ${pipelineId} is at version ${current.version}, not ${expectedVersion}`,
        pipelineId,
      );
    const next = parseOrThrow(
      PipelineRecordSchema,
      { ...current, ...patch, version: expectedVersion + 1, updatedAt: now },
      'pipeline record',
    );
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: recordItem(next),
          ConditionExpression: '#version = :expected',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: { ':expected': expectedVersion },
        }),
      );
      return next;
    } catch (error) {
      if (isConditionFailure(error))
        throw new ConflictError(`pipeline ${pipelineId} moved past version ${expectedVersion}`, pipelineId, {
          cause: error,
        });
      throw toDomainError(error, `update pipeline ${pipelineId}`);
    }
  }

  async recordRejection(rejection: PipelineRejection): Promise<void> {
    await this.putItem(
      {
        pk: rejectedKey(rejection.pipelineId),
        sk: REJECTED_SORT,
        ...rejection,
        issues: [...rejection.issues],
        expiresAt: Math.floor(rejection.at / 1000) + IDEMPOTENCY_TTL_SECONDS,
      },
      `record rejection of pipeline ${rejection.pipelineId}`,
    );
  }

  async getRejection(pipelineId: string): Promise<PipelineRejection | undefined> {
    const item = await this.getItem(
      rejectedKey(pipelineId),
      REJECTED_SORT,
      `read rejection of ${pipelineId}`,
    );
    return item ? fromRejectionItem(pipelineId, item) : undefined;
  }

  async putProfile(profile: StageProfile, at: number): Promise<void> {
    const valid = parseProfile(profile);
    await this.putItem(
      {
        pk: profileKey(valid.modelId),
        sk: `${K.profileTypePrefix}${valid.instanceType}`,
        profile: valid,
        storedAt: at,
      },
      `store profile of ${valid.modelId} on ${valid.instanceType}`,
    );
  }

  async profilesOf(modelId: string): Promise<StageProfile[]> {
    const items = await this.query(profileKey(modelId), `read profiles of ${modelId}`, {
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': profileKey(modelId), ':prefix': K.profileTypePrefix },
    });
    return items.map((i) => parseProfile(i.profile));
  }

  async putEndpoint(endpoint: ServingEndpoint): Promise<void> {
    const valid = parseOrThrow(ServingEndpointSchema, endpoint, 'serving endpoint');
    await this.putItem(
      { pk: pipelineKey(valid.pipelineId), sk: endpointSort(valid), endpoint: valid },
      `store endpoint of ${valid.jobId}`,
    );
  }

  async deleteEndpoint(key: EndpointKey): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.table,
          Key: { pk: pipelineKey(key.pipelineId), sk: endpointSort(key) },
        }),
      );
    } catch (error) {
      throw toDomainError(error, `delete endpoint of ${key.jobId}`);
    }
  }

  async putReport(report: PipelineReport): Promise<void> {
    const valid = parseOrThrow(PipelineReportSchema, report, 'pipeline report');
    const end = Math.floor(valid.intervalEndMs);
    await this.putItem(
      {
        pk: pipelineKey(valid.pipelineId),
        sk: `${K.reportPrefix}${String(end).padStart(15, '0')}#${valid.instanceId}`,
        report: valid,
        expiresAt: Math.floor(end / 1000) + REPORT_TTL_SECONDS,
      },
      `store report of pipeline ${valid.pipelineId}`,
    );
  }

  async recentReports(pipelineId: string, limit: number): Promise<PipelineReport[]> {
    const out = await this.query(pipelineKey(pipelineId), `read reports of ${pipelineId}`, {
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': pipelineKey(pipelineId), ':prefix': K.reportPrefix },
      ScanIndexForward: false,
      Limit: Math.max(1, Math.min(limit, 1000)),
      single: true,
    });
    return out.map((i) => parseOrThrow(PipelineReportSchema, i.report, 'stored pipeline report'));
  }

  /** The record and its endpoints in one query: ENDPOINT# and RECORD sort before REPORT#. */
  async getServing(pipelineId: string): Promise<PipelineServing | undefined> {
    const items = await this.query(pipelineKey(pipelineId), `read serving of ${pipelineId}`, {
      KeyConditionExpression: 'pk = :pk AND sk < :reports',
      ExpressionAttributeValues: { ':pk': pipelineKey(pipelineId), ':reports': K.reportPrefix },
    });
    const recordItem = items.find((i) => i.sk === K.recordSort);
    if (!recordItem) return undefined;
    const endpoints = items
      .filter((i) => String(i.sk).startsWith(K.endpointPrefix))
      .map((i) => parseOrThrow(ServingEndpointSchema, i.endpoint, 'stored endpoint'));
    return { record: fromRecordItem(recordItem), endpoints };
  }

  private async query(
    pk: string,
    action: string,
    input: {
      KeyConditionExpression: string;
      ExpressionAttributeValues: Record<string, unknown>;
      ScanIndexForward?: boolean;
      Limit?: number;
      /** Read one page only (with Limit: the newest N). */
      single?: boolean;
    },
  ): Promise<Record<string, unknown>[]> {
    const { single, ...params } = input;
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    try {
      do {
        const out = await this.doc.send(
          new QueryCommand({
            TableName: this.table,
            ConsistentRead: true,
            ExclusiveStartKey: start,
            ...params,
          }),
        );
        items.push(...(out.Items ?? []));
        start = single ? undefined : out.LastEvaluatedKey;
      } while (start);
    } catch (error) {
      throw toDomainError(error, `${action} (${pk})`);
    }
    return items;
  }

  /** Every item of the control table that passes the filter, page after page. */
  private async scan(
    action: string,
    input: {
      FilterExpression: string;
      ExpressionAttributeValues: Record<string, unknown>;
      ExpressionAttributeNames?: Record<string, string>;
      ProjectionExpression?: string;
    },
  ): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    try {
      do {
        const out = await this.doc.send(
          new ScanCommand({ TableName: this.table, ExclusiveStartKey: start, ...input }),
        );
        items.push(...(out.Items ?? []));
        start = out.LastEvaluatedKey;
      } while (start);
    } catch (error) {
      throw toDomainError(error, action);
    }
    return items;
  }

  private async getItem(
    pk: string,
    sk: string,
    action: string,
  ): Promise<Record<string, unknown> | undefined> {
    try {
      const out = await this.doc.send(
        new GetCommand({ TableName: this.table, Key: { pk, sk }, ConsistentRead: true }),
      );
      return out.Item;
    } catch (error) {
      throw toDomainError(error, action);
    }
  }

  private async putItem(item: Record<string, unknown>, action: string): Promise<void> {
    try {
      await this.doc.send(new PutCommand({ TableName: this.table, Item: item }));
    } catch (error) {
      throw toDomainError(error, action);
    }
  }
}
