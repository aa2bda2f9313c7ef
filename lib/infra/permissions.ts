import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { type Fleet, STACK_TAG } from './fleet.ts';
import type { QueueWithDlq } from './queue-with-dlq.ts';
import type { StateTables } from './state-tables.ts';

/** What each handler may touch. Each function has its own role, so these grants are all it has. */
export interface GrantArgs {
  readonly tables: StateTables;
  readonly fleet: Fleet;
  readonly instanceQueuePrefix: string;
  readonly instanceTypes: readonly string[];
  /** Buckets of pipeline models: admit checks they hold a stage's model, agents download from them. */
  readonly modelBuckets?: readonly string[];
}

/** Read objects (GetObject, which HeadObject needs too) in the model buckets. */
export function grantReadModels(role: iam.IRole, stack: Stack, buckets: readonly string[]): void {
  if (buckets.length === 0) return;
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['s3:GetObject'],
      resources: buckets.map((b) => `arn:${stack.partition}:s3:::${b}/*`),
    }),
  );
}

/** Consume a work queue, and set its poison aside in its DLQ. */
function grantConsumeWithDlq(role: iam.IRole, pair: QueueWithDlq): void {
  pair.queue.grantConsumeMessages(role);
  pair.dlq.grantSendMessages(role);
}

/**
 * admit: consume submissions, write jobs with a condition (profiling jobs of pipelines too), record
 * idempotency keys and pipeline records, and check that a pipeline's s3:// models exist (HeadObject, in
 * the model buckets only: a model elsewhere is refused as unreadable).
 */
export function grantAdmit(role: iam.IRole, submissions: QueueWithDlq, a: GrantArgs): void {
  grantConsumeWithDlq(role, submissions);
  a.tables.jobs.grantReadWriteData(role);
  a.tables.control.grantReadWriteData(role);
  grantReadModels(role, Stack.of(a.fleet), a.modelBuckets ?? []);
}

/**
 * ingest: consume agent reports and EC2 events, apply state transitions everywhere: jobs, tasks,
 * instances, and pipelines (profiles, endpoints, router reports, replica targets and the replica jobs).
 */
export function grantIngest(role: iam.IRole, queues: readonly QueueWithDlq[], a: GrantArgs): void {
  for (const q of queues) grantConsumeWithDlq(role, q);
  for (const t of a.tables.all) t.grantReadWriteData(role);
}

/**
 * scale: plan and re-plan pipelines (control table), and reconcile their replica and router jobs: list,
 * create and cancel jobs (jobs table and its status index). The instances table is read for the fleet.
 */
export function grantScale(role: iam.IRole, a: GrantArgs): void {
  a.tables.instances.grantReadData(role);
  a.tables.jobs.grantReadWriteData(role);
  a.tables.control.grantReadWriteData(role);
}

/**
 * schedule: all state, per-instance queues, and EC2 launch/terminate limited to this stack's launch
 * templates, its allowed instance types and instances it tagged.
 */
export function grantSchedule(role: iam.IRole, a: GrantArgs): void {
  for (const t of a.tables.all) t.grantReadWriteData(role);
  const stack = Stack.of(a.fleet);
  const ec2Arn = (resource: string, account = stack.account) =>
    stack.formatArn({ service: 'ec2', resource, account });
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: [
        'sqs:CreateQueue',
        'sqs:DeleteQueue',
        'sqs:GetQueueUrl',
        'sqs:GetQueueAttributes',
        'sqs:SetQueueAttributes',
        'sqs:SendMessage',
        'sqs:TagQueue',
      ],
      resources: [stack.formatArn({ service: 'sqs', resource: `${a.instanceQueuePrefix}*` })],
    }),
  );
  const launchActions = ['ec2:RunInstances', 'ec2:CreateFleet'];
  // The instance itself: only the allowed types.
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: launchActions,
      resources: [ec2Arn('instance/*')],
      conditions: { StringEquals: { 'ec2:InstanceType': [...a.instanceTypes] } },
    }),
  );
  // Everything else a launch touches: only this stack's templates and security group.
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: launchActions,
      resources: [
        ec2Arn(`launch-template/${a.fleet.cpuLaunchTemplate.launchTemplateId}`),
        ec2Arn(`launch-template/${a.fleet.gpuLaunchTemplate.launchTemplateId}`),
        ec2Arn(`security-group/${a.fleet.securityGroup.securityGroupId}`),
        ec2Arn('subnet/*'),
        ec2Arn('network-interface/*'),
        ec2Arn('volume/*'),
        ec2Arn('fleet/*'),
        ec2Arn('image/*', ''),
        ec2Arn('spot-instances-request/*'),
      ],
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['ec2:CreateTags'],
      resources: [ec2Arn('instance/*'), ec2Arn('volume/*'), ec2Arn('fleet/*'), ec2Arn('network-interface/*')],
      conditions: { StringEquals: { 'ec2:CreateAction': launchActions.map((x) => x.slice(4)) } },
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['ec2:TerminateInstances'],
      resources: [ec2Arn('instance/*')],
      conditions: { StringEquals: { [`aws:ResourceTag/${STACK_TAG}`]: stack.stackName } },
    }),
  );
  // Describe calls have no resource-level permissions in EC2.
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: [
        'ec2:DescribeInstances',
        'ec2:DescribeInstanceTypes',
        'ec2:DescribeSpotPriceHistory',
        'ec2:DescribeLaunchTemplateVersions',
      ],
      resources: ['*'],
    }),
  );
  // EC2 Fleet and spot launches need their service-linked roles; the first launch in an account creates them.
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['iam:CreateServiceLinkedRole'],
      resources: [
        `arn:${stack.partition}:iam::${stack.account}:role/aws-service-role/ec2fleet.amazonaws.com/AWSServiceRoleForEC2Fleet`,
        `arn:${stack.partition}:iam::${stack.account}:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot`,
      ],
      conditions: {
        StringEquals: { 'iam:AWSServiceName': ['ec2fleet.amazonaws.com', 'spot.amazonaws.com'] },
      },
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['iam:PassRole'],
      resources: [a.fleet.role.roleArn],
      conditions: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
    }),
  );
}
