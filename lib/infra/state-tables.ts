import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { TABLE_KEYS } from '../aws/tables.ts';

/**
 * The scheduler's state, as four tables rather than one single-table design: each entity has its own
 * access pattern and write rate, and separate tables let each handler be granted only what it touches.
 * The keys (documented in `lib/aws/tables.ts`, which the adapters share) are:
 *
 *   jobs        pk jobId                 GSI byStatus   (status, submittedAt)   pending jobs, oldest first
 *   instances   pk instanceId            GSI byState    (state, launchedAt)     the live fleet
 *   placements  pk jobId, sk taskKey     GSI byInstance (instanceId, startAt)   what runs where
 *   control     pk pk, sk sk, TTL expiresAt   leases, idempotency keys, pipelines, model profiles
 */
export interface StateTablesProps {
  /**
   * What happens to the tables when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

export class StateTables extends Construct {
  readonly jobs: dynamodb.Table;
  readonly instances: dynamodb.Table;
  readonly placements: dynamodb.Table;
  readonly control: dynamodb.Table;

  constructor(scope: Construct, id: string, props: StateTablesProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const k = TABLE_KEYS;
    this.jobs = table(this, 'Jobs', removalPolicy, k.jobs.partitionKey);
    this.jobs.addGlobalSecondaryIndex({
      indexName: k.jobs.statusIndex,
      partitionKey: { name: k.jobs.statusKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: k.jobs.submittedAtKey, type: dynamodb.AttributeType.NUMBER },
    });
    this.instances = table(this, 'Instances', removalPolicy, k.instances.partitionKey);
    this.instances.addGlobalSecondaryIndex({
      indexName: k.instances.stateIndex,
      partitionKey: { name: k.instances.stateKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: k.instances.launchedAtKey, type: dynamodb.AttributeType.NUMBER },
    });
    this.placements = table(
      this,
      'Placements',
      removalPolicy,
      k.placements.partitionKey,
      k.placements.sortKey,
    );
    this.placements.addGlobalSecondaryIndex({
      indexName: k.placements.instanceIndex,
      partitionKey: { name: k.placements.instanceKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: k.placements.startAtKey, type: dynamodb.AttributeType.NUMBER },
    });
    this.control = table(
      this,
      'Control',
      removalPolicy,
      k.control.partitionKey,
      k.control.sortKey,
      k.control.ttlAttribute,
    );
  }

  get all(): readonly dynamodb.Table[] {
    return [this.jobs, this.instances, this.placements, this.control];
  }
}

function table(
  scope: Construct,
  id: string,
  removalPolicy: RemovalPolicy,
  partitionKey: string,
  sortKey?: string,
  timeToLiveAttribute?: string,
): dynamodb.Table {
  return new dynamodb.Table(scope, id, {
    partitionKey: { name: partitionKey, type: dynamodb.AttributeType.STRING },
    sortKey: sortKey ? { name: sortKey, type: dynamodb.AttributeType.STRING } : undefined,
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    timeToLiveAttribute,
    removalPolicy,
  });
}
