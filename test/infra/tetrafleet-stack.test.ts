import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { AssetStaging } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import type * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { EC2_EVENT_DETAIL_TYPES } from '../../lib/core/protocol/ec2-events.ts';
import { resourcesOf, type Synthesized, synthStack } from './synth.ts';

// One bundled synth for the whole file: esbuild runs five times (four handlers and the agent).
let s: Synthesized;
beforeAll(() => {
  s = synthStack();
}, 240_000);

type Props = Record<string, unknown>;
const props = (type: string): Props[] =>
  Object.values(resourcesOf(s.template, type)).map((r) => r.Properties ?? {});
const logicalId = (construct: { node: { defaultChild?: unknown } }) =>
  s.stack.getLogicalId(construct.node.defaultChild as Parameters<typeof s.stack.getLogicalId>[0]);

describe('TetrafleetStack: queues', () => {
  it('creates submissions, reports and events queues, each with SSE and redrive to its own DLQ', () => {
    expect(props('AWS::SQS::Queue')).toHaveLength(6);
    for (const pair of [s.stack.submissions, s.stack.reports, s.stack.events]) {
      const queue = s.template.toJSON().Resources[logicalId(pair.queue)].Properties;
      expect(queue.SqsManagedSseEnabled).toBe(true);
      expect(queue.RedrivePolicy).toEqual({
        deadLetterTargetArn: { 'Fn::GetAtt': [logicalId(pair.dlq), 'Arn'] },
        maxReceiveCount: 5,
      });
      const dlq = s.template.toJSON().Resources[logicalId(pair.dlq)].Properties;
      expect(dlq.SqsManagedSseEnabled).toBe(true);
      expect(dlq.MessageRetentionPeriod).toBe(14 * 24 * 3600);
    }
  });

  it('keeps each queue hidden for six times its consumer timeout', () => {
    const visibility = s.template.toJSON().Resources[logicalId(s.stack.submissions.queue)].Properties;
    expect(visibility.VisibilityTimeout).toBe(180);
  });

  it('denies non-TLS access to every queue', () => {
    s.template.resourcePropertiesCountIs(
      'AWS::SQS::QueuePolicy',
      {
        PolicyDocument: Match.objectLike({
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        }),
      },
      6,
    );
  });
});

describe('TetrafleetStack: state tables', () => {
  it('creates pay-per-request tables with point-in-time recovery', () => {
    const tables = props('AWS::DynamoDB::Table');
    expect(tables).toHaveLength(4);
    for (const t of tables) {
      expect(t.BillingMode).toBe('PAY_PER_REQUEST');
      expect(t.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    }
  });

  it('indexes jobs by status and submission time for pending-job queries', () => {
    s.template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'jobId', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        Match.objectLike({
          IndexName: 'byStatus',
          KeySchema: [
            { AttributeName: 'status', KeyType: 'HASH' },
            { AttributeName: 'submittedAt', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        }),
      ],
    });
  });

  it('indexes instances by state for fleet queries and placements by instance', () => {
    s.template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'instanceId', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [Match.objectLike({ IndexName: 'byState' })],
    });
    s.template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'jobId', KeyType: 'HASH' },
        { AttributeName: 'taskKey', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [Match.objectLike({ IndexName: 'byInstance' })],
    });
  });

  it('expires leases and idempotency records in the control table by TTL', () => {
    s.template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
  });
});

describe('TetrafleetStack: handlers', () => {
  it('creates the four handlers on Node.js 22 with their own log groups', () => {
    const fns = props('AWS::Lambda::Function');
    expect(fns).toHaveLength(4);
    for (const f of fns) {
      expect(f.Runtime).toBe('nodejs22.x');
      expect(f.Handler).toBe('index.handler');
      expect(f.LoggingConfig).toMatchObject({ LogFormat: 'JSON' });
    }
    expect(props('AWS::Logs::LogGroup')).toHaveLength(4);
  });

  it('reserves a concurrency of one for schedule and scale, and none for admit and ingest', () => {
    const reserved = (fn: { function: { node: { defaultChild?: unknown } } }) =>
      s.template.toJSON().Resources[logicalId(fn.function)].Properties.ReservedConcurrentExecutions;
    expect(reserved(s.stack.functions.schedule)).toBe(1);
    expect(reserved(s.stack.functions.scale)).toBe(1);
    expect(reserved(s.stack.functions.admit)).toBeUndefined();
    expect(reserved(s.stack.functions.ingest)).toBeUndefined();
  });

  it('maps submissions to admit and reports and events to ingest, reporting batch item failures', () => {
    const mappings = props('AWS::Lambda::EventSourceMapping').map((m) => ({
      fn: (m.FunctionName as { Ref: string }).Ref,
      queue: (m.EventSourceArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0],
      types: m.FunctionResponseTypes,
    }));
    const f = s.stack.functions;
    expect(mappings).toEqual(
      expect.arrayContaining([
        {
          fn: logicalId(f.admit.function),
          queue: logicalId(s.stack.submissions.queue),
          types: ['ReportBatchItemFailures'],
        },
        {
          fn: logicalId(f.ingest.function),
          queue: logicalId(s.stack.reports.queue),
          types: ['ReportBatchItemFailures'],
        },
        {
          fn: logicalId(f.ingest.function),
          queue: logicalId(s.stack.events.queue),
          types: ['ReportBatchItemFailures'],
        },
      ]),
    );
    expect(mappings).toHaveLength(3);
  });

  it('bundles highs.wasm next to the schedule handler and not next to the others', () => {
    const assetDir = (fn: { function: IConstruct }) =>
      (fn.function.node.findChild('Code').node.findChild('Stage') as AssetStaging).absoluteStagedPath;
    expect(existsSync(join(assetDir(s.stack.functions.schedule), 'index.mjs'))).toBe(true);
    expect(existsSync(join(assetDir(s.stack.functions.schedule), 'highs.wasm'))).toBe(true);
    expect(existsSync(join(assetDir(s.stack.functions.admit), 'highs.wasm'))).toBe(false);
  });

  it('passes table names, queue URLs and launch templates to the handlers', () => {
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          TETRAFLEET_JOBS_TABLE: { Ref: logicalId(s.stack.tables.jobs) },
          TETRAFLEET_SUBMISSIONS_QUEUE_URL: { Ref: logicalId(s.stack.submissions.queue) },
          TETRAFLEET_CPU_LAUNCH_TEMPLATE_ID: { Ref: logicalId(s.stack.fleet.cpuLaunchTemplate) },
          TETRAFLEET_INSTANCE_TYPES: 'm7i.large,m7i.xlarge,c7i.2xlarge,g5.xlarge,g6.xlarge',
          TETRAFLEET_MAX_FLEET_SIZE: '20',
        }),
      },
    });
  });
});

describe('TetrafleetStack: EventBridge', () => {
  it('ticks schedule and scale once a minute', () => {
    const ticks = props('AWS::Events::Rule').filter((r) => r.ScheduleExpression === 'rate(1 minute)');
    const targets = ticks.map(
      (r) => (r.Targets as { Arn: { 'Fn::GetAtt': string[] } }[])[0]?.Arn['Fn::GetAtt'][0],
    );
    expect(targets.sort()).toEqual(
      [logicalId(s.stack.functions.schedule.function), logicalId(s.stack.functions.scale.function)].sort(),
    );
  });

  it('routes spot interruption warnings, rebalance recommendations and state changes into the events queue', () => {
    for (const detailType of EC2_EVENT_DETAIL_TYPES) {
      s.template.hasResourceProperties('AWS::Events::Rule', {
        EventPattern: { source: ['aws.ec2'], 'detail-type': [detailType] },
        Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [logicalId(s.stack.events.queue), 'Arn'] } })],
      });
    }
    expect(props('AWS::Events::Rule').length).toBeGreaterThanOrEqual(EC2_EVENT_DETAIL_TYPES.length + 2);
  });
});

describe('TetrafleetStack: fleet', () => {
  it('creates CPU and GPU launch templates with IMDSv2 required, encrypted disks and the agent profile', () => {
    const templates = props('AWS::EC2::LaunchTemplate');
    expect(templates).toHaveLength(2);
    for (const t of templates) {
      const data = t.LaunchTemplateData as Record<string, unknown>;
      expect(data.MetadataOptions).toMatchObject({ HttpTokens: 'required' });
      expect(data.IamInstanceProfile).toBeDefined();
      expect(data.BlockDeviceMappings).toEqual([
        expect.objectContaining({ Ebs: expect.objectContaining({ Encrypted: true, VolumeType: 'gp3' }) }),
      ]);
    }
  });

  it('takes AMIs from public SSM parameters: Amazon Linux 2023 for CPU and the GPU-optimized AMI for GPU', () => {
    const defaults = Object.values(
      s.template.toJSON().Parameters as Record<string, { Type: string; Default: string }>,
    )
      .filter((p) => p.Type === 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>')
      .map((p) => p.Default);
    expect(defaults.sort()).toEqual([
      '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64',
      '/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id',
    ]);
  });

  it('starts the agent from the S3 asset with its queues in user data', () => {
    const userData = JSON.stringify(
      (props('AWS::EC2::LaunchTemplate')[0]?.LaunchTemplateData as { UserData?: unknown } | undefined)
        ?.UserData,
    );
    expect(userData).toContain('aws s3 cp');
    expect(userData).toContain('TETRAFLEET_REPORTS_QUEUE_URL=');
    expect(userData).toContain('TETRAFLEET_QUEUE_URL=');
    // A pipeline router reads its serving directory (record and endpoints) from the control table.
    expect(userData).toContain('TETRAFLEET_CONTROL_TABLE=');
    expect(userData).toContain('systemctl enable --now tetrafleet-agent');
  });

  it('bundles the agent into its asset with a package.json for native dependencies', () => {
    const url = s.template.toJSON().Outputs.AgentAssetUrl.Value as { 'Fn::Join': unknown[] } | string;
    expect(JSON.stringify(url)).toContain('.zip');
    const agentDir = s.stack.node.findChild('AgentAsset') as s3assets.Asset;
    expect(existsSync(join(s.outdir, agentDir.assetPath, 'main.mjs'))).toBe(true);
    expect(existsSync(join(s.outdir, agentDir.assetPath, 'package.json'))).toBe(true);
  });

  it('admits no inbound traffic from outside the fleet', () => {
    const groups = props('AWS::EC2::SecurityGroup');
    expect(groups).toHaveLength(1);
    expect(groups[0]?.SecurityGroupIngress).toBeUndefined();
    s.template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      SourceSecurityGroupId: { 'Fn::GetAtt': [logicalId(s.stack.fleet.securityGroup), 'GroupId'] },
    });
  });
});

describe('TetrafleetStack: permissions', () => {
  const statementsOf = (role: { node: { defaultChild?: unknown } }): Props[] => {
    const roleId = logicalId(role);
    const policies = Object.values(resourcesOf(s.template, 'AWS::IAM::Policy')).filter((p) =>
      ((p.Properties?.Roles ?? []) as { Ref: string }[]).some((r) => r.Ref === roleId),
    );
    return policies.flatMap(
      (p) => (p.Properties?.PolicyDocument as { Statement?: Props[] } | undefined)?.Statement ?? [],
    );
  };
  const actionsOf = (role: { node: { defaultChild?: unknown } }) =>
    statementsOf(role).flatMap((st) => [st.Action].flat() as string[]);

  it('uses no AWS managed policies on any role', () => {
    for (const role of props('AWS::IAM::Role')) expect(role.ManagedPolicyArns).toBeUndefined();
  });

  it('lets only schedule launch and terminate instances, limited to allowed types and its own tag', () => {
    const f = s.stack.functions;
    for (const other of [f.admit, f.ingest, f.scale]) {
      expect(actionsOf(other.role).filter((a) => a.startsWith('ec2:'))).toEqual([]);
    }
    const schedule = statementsOf(f.schedule.role);
    const launchInstance = schedule.find(
      (st) => [st.Action].flat().includes('ec2:RunInstances') && st.Condition !== undefined,
    );
    expect(launchInstance?.Condition).toEqual({
      StringEquals: {
        'ec2:InstanceType': ['m7i.large', 'm7i.xlarge', 'c7i.2xlarge', 'g5.xlarge', 'g6.xlarge'],
      },
    });
    const terminate = schedule.find((st) => st.Action === 'ec2:TerminateInstances');
    expect(terminate?.Condition).toEqual({
      StringEquals: { 'aws:ResourceTag/tetrafleet:stack': 'Tetrafleet' },
    });
    const passRole = schedule.find((st) => st.Action === 'iam:PassRole');
    expect(passRole?.Resource).toEqual({ 'Fn::GetAtt': [logicalId(s.stack.fleet.role), 'Arn'] });
  });

  it('lets the agent read only its own asset object and send only to the reports queue', () => {
    const agent = statementsOf(s.stack.fleet.role);
    const s3 = agent.filter((st) => [st.Action].flat().some((a) => String(a).startsWith('s3:')));
    expect(s3).toHaveLength(1);
    expect(s3[0]?.Action).toBe('s3:GetObject');
    const send = agent.find((st) => [st.Action].flat().includes('sqs:SendMessage'));
    expect(send?.Resource).toEqual({ 'Fn::GetAtt': [logicalId(s.stack.reports.queue), 'Arn'] });
  });

  it('lets the agent only get and query the control table, for the directory of a pipeline router', () => {
    const dynamo = statementsOf(s.stack.fleet.role).filter((st) =>
      [st.Action].flat().some((a) => String(a).startsWith('dynamodb:')),
    );
    expect(dynamo).toEqual([
      expect.objectContaining({
        Action: ['dynamodb:GetItem', 'dynamodb:Query'],
        Resource: { 'Fn::GetAtt': [logicalId(s.stack.tables.control), 'Arn'] },
      }),
    ]);
  });

  it('lets admit and ingest send only to their own DLQs, to set poison aside', () => {
    const sendTargets = (role: { node: { defaultChild?: unknown } }) =>
      statementsOf(role)
        .filter((st) => [st.Action].flat().includes('sqs:SendMessage'))
        .map((st) => (st.Resource as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]);
    expect(sendTargets(s.stack.functions.admit.role)).toEqual([logicalId(s.stack.submissions.dlq)]);
    expect(sendTargets(s.stack.functions.ingest.role).sort()).toEqual(
      [logicalId(s.stack.reports.dlq), logicalId(s.stack.events.dlq)].sort(),
    );
  });

  it('reports no unacknowledged cdk-nag AwsSolutions findings', () => {
    const report = new AwsSolutionsChecks(undefined, { verbose: false }).validateScope(s.app);
    const findings = report.violations.map(
      (v) => `${v.severity} ${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    expect(findings).toEqual([]);
    expect(report.success).toBe(true);
  });
});

describe('TetrafleetStack: emulator safety and outputs', () => {
  it('uses no custom resources, which never finish in the emulator', () => {
    const types = Object.values(s.template.toJSON().Resources as Record<string, { Type: string }>).map(
      (r) => r.Type,
    );
    expect(
      types.filter((t) => t.startsWith('Custom::') || t === 'AWS::CloudFormation::CustomResource'),
    ).toEqual([]);
  });

  it('outputs queue URLs, table names, launch template ids and the agent asset location', () => {
    const outputs = Object.keys(s.template.toJSON().Outputs as object);
    expect(outputs).toEqual(
      expect.arrayContaining([
        'SubmissionsQueueUrl',
        'ReportsQueueUrl',
        'EventsQueueUrl',
        'SubmissionsDlqUrl',
        'JobsTableName',
        'InstancesTableName',
        'PlacementsTableName',
        'ControlTableName',
        'CpuLaunchTemplateId',
        'GpuLaunchTemplateId',
        'AgentAssetUrl',
        'InstanceQueuePrefix',
      ]),
    );
  });
});
