import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { AwsClientConfig } from './client-config.ts';
import { DynamoFleetStore } from './dynamo-fleet-store.ts';
import { DynamoJobStore } from './dynamo-job-store.ts';
import { DynamoPipelineStore } from './dynamo-pipeline-store.ts';
import { Ec2FleetProvider } from './ec2-fleet-provider.ts';
import { S3ModelCatalog } from './s3-model-store.ts';
import { S3ModelUploader } from './s3-model-upload.ts';
import { SqsInstanceChannel } from './sqs-instance-channel.ts';
import { SqsWorkQueue } from './sqs-work-queue.ts';
import type { TableNames } from './tables.ts';

export interface AwsAdapterConfig {
  readonly aws: AwsClientConfig;
  readonly stackName: string;
  readonly tables: TableNames;
  readonly instanceQueuePrefix: string;
  readonly launchTemplates: { readonly cpu: string; readonly gpu: string };
}

/** Every adapter the handlers and the local runtime use, built once over shared SDK clients. */
export interface AwsAdapters {
  readonly jobs: DynamoJobStore;
  readonly fleetStore: DynamoFleetStore;
  readonly channel: SqsInstanceChannel;
  readonly fleet: Ec2FleetProvider;
  /** Pipeline records, profiles, serving endpoints and router reports (the control table). */
  readonly pipelines: DynamoPipelineStore;
  /** Whether a model URI exists (S3 HeadObject, or a local file). */
  readonly models: S3ModelCatalog;
  /** Puts local model files in S3 (`pipeline submit --upload-models`). */
  readonly modelUploads: S3ModelUploader;
  /** A queue by URL (DLQs, submissions), sharing the SQS client. */
  queue(url: string): SqsWorkQueue;
  destroy(): void;
}

export function createAwsAdapters(config: AwsAdapterConfig, now: () => number = Date.now): AwsAdapters {
  const dynamo = new DynamoDBClient(config.aws);
  const sqs = new SQSClient(config.aws);
  const ec2 = new EC2Client(config.aws);
  // Created on first use: most handlers never touch S3.
  let s3: S3Client | undefined;
  const s3Client = () => {
    s3 ??= new S3Client(config.aws);
    return s3;
  };
  const lazyS3 = { send: (command) => s3Client().send(command) } as Pick<S3Client, 'send'>;
  return {
    jobs: new DynamoJobStore(dynamo, config.tables),
    fleetStore: new DynamoFleetStore(dynamo, config.tables),
    channel: new SqsInstanceChannel(sqs, { queuePrefix: config.instanceQueuePrefix }),
    fleet: new Ec2FleetProvider(ec2, {
      stackName: config.stackName,
      launchTemplates: config.launchTemplates,
      now,
    }),
    pipelines: new DynamoPipelineStore(dynamo, config.tables),
    models: new S3ModelCatalog(lazyS3),
    modelUploads: new S3ModelUploader(lazyS3),
    queue: (url) => new SqsWorkQueue(sqs, url),
    destroy: () => {
      dynamo.destroy();
      sqs.destroy();
      ec2.destroy();
      s3?.destroy();
    },
  };
}
