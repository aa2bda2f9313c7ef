import {
  CloudFormationClient,
  DescribeStacksCommand,
  ListStackResourcesCommand,
  type StackResourceSummary,
} from '@aws-sdk/client-cloudformation';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeLaunchTemplateVersionsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CPU_AMI_PARAMETER, DEFAULT_GPU_AMI_PARAMETER } from '../../lib/infra/props.ts';
import { deployStack } from '../../lib/local/deploy.ts';
import { emulatorEndpoint, resetEmulator, testAwsConfig } from '../support/emulator.ts';

/**
 * Deploys the real synthesized stack into the emulator with the CDK CLI, the way a user deploys it,
 * then checks through the SDK what was created. The emulator creates stacks well but updates them
 * badly, so this deploys once into a freshly reset emulator. Two emulator quirks shape the commands:
 * - `--method=direct`: the emulator drops a stack's outputs when it is created from a change set;
 * - `localMode=true`: the emulator fires SQS event source mappings by itself and loses messages.
 */

const STACK = 'TetrafleetDeployTest';

let outputs: Record<string, string> = {};
let resources: StackResourceSummary[] = [];
let sqs: SQSClient;

beforeAll(async () => {
  await resetEmulator();
  await deployStack({ endpoint: emulatorEndpoint(), stackName: STACK });

  const config = testAwsConfig();
  const cfn = new CloudFormationClient(config);
  const stack = (await cfn.send(new DescribeStacksCommand({ StackName: STACK }))).Stacks?.[0];
  outputs = Object.fromEntries((stack?.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
  resources =
    (await cfn.send(new ListStackResourcesCommand({ StackName: STACK }))).StackResourceSummaries ?? [];
  sqs = new SQSClient(config);
}, 600_000);

afterAll(async () => {
  await resetEmulator();
});

async function queueAttributes(url: string | undefined): Promise<Record<string, string>> {
  const res = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }));
  return res.Attributes ?? {};
}

describe('deploying TetrafleetStack into the emulator', () => {
  it('creates every resource and publishes the outputs the SDK discovers', () => {
    const failed = resources.filter((r) => r.ResourceStatus !== 'CREATE_COMPLETE');
    expect(failed).toEqual([]);
    const count = (type: string) => resources.filter((r) => r.ResourceType === type).length;
    expect(count('AWS::SQS::Queue')).toBe(6);
    expect(count('AWS::DynamoDB::Table')).toBe(4);
    expect(count('AWS::Lambda::Function')).toBe(4);
    expect(count('AWS::Events::Rule')).toBe(5);
    expect(count('AWS::EC2::LaunchTemplate')).toBe(2);
    // Local mode: the emulator must not deliver to the handlers itself.
    expect(count('AWS::Lambda::EventSourceMapping')).toBe(0);
    for (const key of [
      'SubmissionsQueueUrl',
      'ReportsQueueUrl',
      'EventsQueueUrl',
      'JobsTableName',
      'AgentAssetUrl',
    ])
      expect(outputs[key], key).toBeTruthy();
    expect(outputs.AgentAssetUrl).toMatch(/^s3:\/\/cdk-[a-z0-9]+-assets-\d+-us-east-1\/[0-9a-f]{64}\.zip$/);
  });

  it('creates the three work queues with SSE and redrive to their own DLQs', async () => {
    for (const name of ['Submissions', 'Reports', 'Events']) {
      const queue = await queueAttributes(outputs[`${name}QueueUrl`]);
      const dlq = await queueAttributes(outputs[`${name}DlqUrl`]);
      expect(queue.SqsManagedSseEnabled, name).toBe('true');
      expect(dlq.SqsManagedSseEnabled, name).toBe('true');
      expect(JSON.parse(queue.RedrivePolicy ?? '{}'), name).toEqual({
        deadLetterTargetArn: dlq.QueueArn,
        maxReceiveCount: 5,
      });
      expect(queue.VisibilityTimeout, name).toBe('180');
    }
  });

  it('creates the state tables on demand, with the GSIs the pending-job and fleet queries use', async () => {
    const ddb = new DynamoDBClient(testAwsConfig());
    const describe = async (name: string | undefined) =>
      (await ddb.send(new DescribeTableCommand({ TableName: name }))).Table;
    const jobs = await describe(outputs.JobsTableName);
    expect(jobs?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    expect(jobs?.KeySchema).toEqual([{ AttributeName: 'jobId', KeyType: 'HASH' }]);
    expect(jobs?.GlobalSecondaryIndexes?.map((g) => [g.IndexName, g.KeySchema])).toEqual([
      [
        'byStatus',
        [
          { AttributeName: 'status', KeyType: 'HASH' },
          { AttributeName: 'submittedAt', KeyType: 'RANGE' },
        ],
      ],
    ]);
    const instances = await describe(outputs.InstancesTableName);
    expect(instances?.GlobalSecondaryIndexes?.map((g) => g.IndexName)).toEqual(['byState']);
    const placements = await describe(outputs.PlacementsTableName);
    expect(placements?.GlobalSecondaryIndexes?.map((g) => g.IndexName)).toEqual(['byInstance']);
    const control = await describe(outputs.ControlTableName);
    expect(control?.KeySchema?.map((k) => k.AttributeName)).toEqual(['pk', 'sk']);
  });

  it('creates CPU and GPU launch templates with IMDSv2 required and AMIs resolved from SSM', async () => {
    const ec2 = new EC2Client(testAwsConfig());
    const ssm = new SSMClient(testAwsConfig());
    for (const [fleet, id, parameter] of [
      ['cpu', outputs.CpuLaunchTemplateId, DEFAULT_CPU_AMI_PARAMETER],
      ['gpu', outputs.GpuLaunchTemplateId, DEFAULT_GPU_AMI_PARAMETER],
    ] as const) {
      const res = await ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: id }));
      const data = res.LaunchTemplateVersions?.[0]?.LaunchTemplateData;
      expect(data?.MetadataOptions?.HttpTokens, fleet).toBe('required');
      const ami = (await ssm.send(new GetParameterCommand({ Name: parameter }))).Parameter?.Value;
      expect(ami, fleet).toMatch(/^ami-[0-9a-f]+$/);
      expect(data?.ImageId, fleet).toBe(ami);
      expect(data?.IamInstanceProfile?.Arn, fleet).toMatch(/:instance-profile\//);
      expect(data?.BlockDeviceMappings?.[0]?.Ebs?.Encrypted, fleet).toBe(true);
      const userData = Buffer.from(data?.UserData ?? '', 'base64').toString('utf8');
      expect(userData, fleet).toContain(`TETRAFLEET_REPORTS_QUEUE_URL=${outputs.ReportsQueueUrl}`);
      const tags = data?.TagSpecifications?.find((t) => t.ResourceType === 'instance')?.Tags ?? [];
      expect(tags, fleet).toEqual(
        expect.arrayContaining([
          { Key: 'tetrafleet:stack', Value: STACK },
          { Key: 'tetrafleet:fleet', Value: fleet },
        ]),
      );
    }
  });

  it('uploads the bundled agent where the AgentAssetUrl output points', async () => {
    const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(outputs.AgentAssetUrl ?? '');
    const s3 = new S3Client(testAwsConfig());
    const head = await s3.send(new HeadObjectCommand({ Bucket: match?.[1], Key: match?.[2] }));
    expect(head.ContentLength).toBeGreaterThan(1000);
  });

  it('leaves a submitted message in the queue for the local pump, since no mapping consumes it', async () => {
    const body = JSON.stringify({ probe: 'stays-queued' });
    await sqs.send(new SendMessageCommand({ QueueUrl: outputs.ReportsQueueUrl, MessageBody: body }));
    const received = await receiveUntil(outputs.ReportsQueueUrl, (m) => m === body, 30_000);
    expect(received).toBe(body);
  });

  it('moves a message received more than maxReceiveCount times to the DLQ', async () => {
    const body = JSON.stringify({ probe: 'redrive', at: 'deploy-stack test' });
    await sqs.send(new SendMessageCommand({ QueueUrl: outputs.SubmissionsQueueUrl, MessageBody: body }));
    // Visibility 0 makes each receive count without waiting for the message to reappear.
    let receives = 0;
    const deadline = performance.now() + 60_000;
    while (performance.now() < deadline) {
      const res = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: outputs.SubmissionsQueueUrl,
          MaxNumberOfMessages: 1,
          VisibilityTimeout: 0,
          WaitTimeSeconds: 1,
        }),
      );
      if (!res.Messages?.some((m) => m.Body === body)) break;
      receives += 1;
    }
    expect(receives).toBe(5);
    const inDlq = await receiveUntil(outputs.SubmissionsDlqUrl, (m) => m === body, 30_000);
    expect(inDlq).toBe(body);
  });
});

/** Long-polls a queue until a message matches or the deadline passes; returns the match's body. */
async function receiveUntil(
  url: string | undefined,
  match: (body: string) => boolean,
  timeoutMs: number,
): Promise<string | undefined> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const res = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    const found = res.Messages?.find((m) => match(m.Body ?? ''));
    if (found) return found.Body;
  }
  return undefined;
}
