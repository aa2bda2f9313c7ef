import { type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { CycleLog, CycleRecord } from '../core/ports.ts';
import { toDomainError } from './errors.ts';

/** Cycle records stay a day: enough for the CLI's views and reports, and cheap. */
const CYCLE_TTL_SECONDS = 24 * 3600;
/** Keeps a cycle record well under DynamoDB's 400 KB item limit. */
const MAX_EXPLANATIONS = 500;

/**
 * The schedule cycles' log in the control table: one item per cycle under the `CYCLES` partition, sorted
 * by its zero-padded time so that the newest come first in one query.
 */
export class DynamoCycleLog implements CycleLog {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async record(cycle: CycleRecord): Promise<void> {
    const explanations = Object.fromEntries(Object.entries(cycle.explanations).slice(0, MAX_EXPLANATIONS));
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            ...cycle,
            // DynamoDB stores no NaN or Infinity (an unbounded gap, say): leave such a field out.
            solveMs: finite(cycle.solveMs),
            gap: finite(cycle.gap),
            objective: finite(cycle.objective),
            explanations,
            pk: 'CYCLES',
            sk: `${String(cycle.at).padStart(15, '0')}#${cycle.cycleId}`,
            expiresAt: Math.floor(cycle.at / 1000) + CYCLE_TTL_SECONDS,
          },
        }),
      );
    } catch (error) {
      throw toDomainError(error, `record cycle ${cycle.cycleId}`);
    }
  }

  async recent(limit: number): Promise<CycleRecord[]> {
    try {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': 'CYCLES' },
          ScanIndexForward: false,
          Limit: Math.max(1, Math.min(limit, 1000)),
        }),
      );
      return (out.Items ?? []).map(
        ({ pk: _pk, sk: _sk, expiresAt: _e, ...rest }) => rest as unknown as CycleRecord,
      );
    } catch (error) {
      throw toDomainError(error, 'read recent cycles');
    }
  }
}

function finite(x: number | undefined): number | undefined {
  return x !== undefined && Number.isFinite(x) ? x : undefined;
}
