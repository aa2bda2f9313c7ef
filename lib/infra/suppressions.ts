import { type CfnResource, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type { IConstruct } from 'constructs';
import type { TetrafleetStack } from './tetrafleet-stack.ts';

/**
 * cdk-nag AwsSolutions findings accepted on purpose, each with its reason. cdk-nag 3 reads these
 * through CDK's own `Validations.of(scope).acknowledge`; an IAM5 finding is acknowledged one wildcard
 * at a time, so a new wildcard added later still fails the check.
 */
export function acknowledgeNagFindings(stack: TetrafleetStack): void {
  const ack = (scope: IConstruct, id: string, reason: string) =>
    Validations.of(scope).acknowledge({ id, reason });
  const iam5 = (scope: IConstruct, resource: string, reason: string) =>
    ack(scope, `AwsSolutions-IAM5[Resource::${resource}]`, reason);
  const partitionArn = (service: string, resource: string, account = '<AWS::AccountId>') =>
    `arn:<AWS::Partition>:${service}:<AWS::Region>:${account}:${resource}`;
  const f = stack.functions;

  ack(
    stack,
    'AwsSolutions-L1',
    'the handlers are built and tested for Node.js 22 (esbuild target node22); moving to a newer runtime is a deliberate, tested change',
  );
  if (stack.node.tryFindChild('Vpc')) {
    ack(
      stack.node.findChild('Vpc'),
      'AwsSolutions-VPC7',
      'the fleet VPC has no inbound paths and carries only instance traffic to AWS APIs; flow logs cost per GB and are left to the operator',
    );
  }

  const queues = partitionArn('sqs', `${stack.instanceQueuePrefix}*`);
  const queueReason =
    'per-instance queues are created at run time, one per launched instance, so they can only be named by the stack-specific prefix';
  iam5(stack.fleet.role, queues, queueReason);
  iam5(f.schedule.role, queues, queueReason);

  const indexReason =
    'Query on a table GSI needs the index ARNs; the grant covers only the indexes of this one table';
  const grantees: Record<keyof typeof f, readonly dynamodb.Table[]> = {
    admit: [stack.tables.jobs, stack.tables.control],
    ingest: stack.tables.all,
    schedule: stack.tables.all,
    scale: [stack.tables.jobs, stack.tables.instances, stack.tables.control],
  };
  for (const [name, tables] of Object.entries(grantees) as [keyof typeof f, readonly dynamodb.Table[]][]) {
    for (const table of tables) {
      // Tables without a GSI get no index grant, and an acknowledgment of a finding that never occurs is harmless.
      const logicalId = stack.getLogicalId(table.node.defaultChild as CfnResource);
      iam5(f[name].role, `<${logicalId}.Arn>/index/*`, indexReason);
    }
  }

  const models =
    'pipeline models are read by key from the buckets the operator named in modelBuckets; the keys are chosen per pipeline at submission, and only GetObject is granted';
  for (const bucket of stack.config.modelBuckets) {
    const objects = `arn:<AWS::Partition>:s3:::${bucket}/*`;
    iam5(f.admit.role, objects, models);
    iam5(stack.fleet.role, objects, models);
  }

  const launched =
    'RunInstances and CreateFleet create these resources, so their ids cannot be known in advance; the instance type, launch template and security group are pinned in the same policy';
  for (const resource of [
    'instance/*',
    'fleet/*',
    'network-interface/*',
    'volume/*',
    'spot-instances-request/*',
  ]) {
    iam5(f.schedule.role, partitionArn('ec2', resource), launched);
  }
  iam5(
    f.schedule.role,
    partitionArn('ec2', 'subnet/*'),
    'subnets are chosen per launch among those the stack hands the scheduler; TerminateInstances is limited to instances tagged with this stack',
  );
  iam5(
    f.schedule.role,
    partitionArn('ec2', 'image/*', ''),
    'the AMI comes from the launch template, whose id resolves from a public SSM parameter at deploy time and changes with each AMI release',
  );
  iam5(
    f.schedule.role,
    '*',
    'EC2 Describe* calls (DescribeInstances, DescribeInstanceTypes, DescribeSpotPriceHistory, DescribeLaunchTemplateVersions) do not support resource-level permissions',
  );
}
