import { type DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { LeaseStore } from '../core/ports.ts';
import { isConditionFailure } from './dynamo-conditions.ts';
import { toDomainError } from './errors.ts';

/**
 * Named leases in the control table (`LEASE#<name>`): one conditional put takes a lease that is free,
 * expired or already ours, so two schedulers never run a cycle at once.
 */
export class DynamoLeaseStore implements LeaseStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async acquire(name: string, owner: string, ttlMs: number, now: number): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            pk: `LEASE#${name}`,
            sk: 'LEASE',
            owner,
            leaseUntil: now + ttlMs,
            expiresAt: Math.ceil((now + ttlMs) / 1000) + 3600,
          },
          ConditionExpression: 'attribute_not_exists(pk) OR leaseUntil < :now OR #owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':now': now, ':owner': owner },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw toDomainError(error, `acquire lease ${name}`);
    }
  }

  async release(name: string, owner: string): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: `LEASE#${name}`, sk: 'LEASE' },
          UpdateExpression: 'SET leaseUntil = :zero',
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': owner, ':zero': 0 },
        }),
      );
    } catch (error) {
      // Someone else holds it now (ours expired): nothing of ours to release.
      if (isConditionFailure(error)) return;
      throw toDomainError(error, `release lease ${name}`);
    }
  }
}
