import { fileURLToPath } from 'node:url';
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { agentAsset } from './agent-asset.ts';
import { Fleet } from './fleet.ts';
import { HandlerFunction } from './handler-function.ts';
import { grantAdmit, grantIngest, grantReadModels, grantScale, grantSchedule } from './permissions.ts';
import { type ResolvedTetrafleetProps, resolveTetrafleetProps, type TetrafleetProps } from './props.ts';
import { QueueWithDlq } from './queue-with-dlq.ts';
import { StateTables } from './state-tables.ts';
import { acknowledgeNagFindings } from './suppressions.ts';

export interface TetrafleetStackProps extends StackProps, TetrafleetProps {}

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Handler timeouts. Queue visibility is six times the consumer's timeout, as Lambda recommends. */
const TIMEOUTS = {
  admit: Duration.seconds(30),
  ingest: Duration.seconds(30),
  // Under the one-minute tick, so a cycle ends before the next begins (the lease covers the rest).
  schedule: Duration.seconds(50),
  scale: Duration.seconds(50),
} as const;

/**
 * Everything tetrafleet runs on: the three queues (submissions, agent reports, EC2 events), the state
 * tables, the four handlers, the EventBridge ticks and EC2 routing rules, and the CPU and GPU launch
 * templates the scheduler launches from. The stack outputs name each piece for the SDK and CLI.
 */
export class TetrafleetStack extends Stack {
  readonly config: ResolvedTetrafleetProps;
  readonly submissions: QueueWithDlq;
  readonly reports: QueueWithDlq;
  readonly events: QueueWithDlq;
  readonly tables: StateTables;
  readonly fleet: Fleet;
  readonly functions: Readonly<Record<'admit' | 'schedule' | 'ingest' | 'scale', HandlerFunction>>;
  readonly instanceQueuePrefix: string;

  constructor(scope: Construct, id: string, props: TetrafleetStackProps = {}) {
    super(scope, id, props);
    this.config = resolveTetrafleetProps(props);
    // SQS names are at most 80 characters; an instance id takes 19 of them.
    this.instanceQueuePrefix = `${this.stackName.slice(0, 50)}-instance-`;

    this.submissions = new QueueWithDlq(this, 'Submissions', { visibilityTimeout: visibility('admit') });
    this.reports = new QueueWithDlq(this, 'Reports', { visibilityTimeout: visibility('ingest') });
    this.events = new QueueWithDlq(this, 'Events', { visibilityTimeout: visibility('ingest') });
    this.tables = new StateTables(this, 'State');

    const vpc = this.resolveVpc();
    const asset = agentAsset(this, 'AgentAsset', {
      projectRoot: PROJECT_ROOT,
      entry: this.config.agentEntry,
    });
    this.fleet = new Fleet(this, 'Fleet', {
      vpc,
      associatePublicIpAddress: !this.config.vpc && !this.config.vpcId,
      agentAsset: asset,
      reportsQueue: this.reports.queue,
      controlTable: this.tables.control,
      instanceQueuePrefix: this.instanceQueuePrefix,
      cpuAmiParameter: this.config.cpuAmiParameter,
      gpuAmiParameter: this.config.gpuAmiParameter,
    });

    this.functions = this.createFunctions(vpc);
    const grantArgs = {
      tables: this.tables,
      fleet: this.fleet,
      instanceQueuePrefix: this.instanceQueuePrefix,
      instanceTypes: this.config.instanceTypes,
      modelBuckets: this.config.modelBuckets,
    };
    grantAdmit(this.functions.admit.role, this.submissions, grantArgs);
    grantIngest(this.functions.ingest.role, [this.reports, this.events], grantArgs);
    grantSchedule(this.functions.schedule.role, grantArgs);
    grantScale(this.functions.scale.role, grantArgs);
    grantReadModels(this.fleet.role, this, this.config.modelBuckets);

    if (!this.config.localMode) this.addEventSourceMappings();
    this.addRules();
    this.addOutputs(asset.s3ObjectUrl);
    acknowledgeNagFindings(this);
  }

  private resolveVpc(): ec2.IVpc {
    if (this.config.vpc) return this.config.vpc;
    if (this.config.vpcId) return ec2.Vpc.fromLookup(this, 'Vpc', { vpcId: this.config.vpcId });
    return new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 20 }],
      // Restricting the default security group needs a custom resource; the fleet never uses that group.
      restrictDefaultSecurityGroup: false,
    });
  }

  private createFunctions(vpc: ec2.IVpc): TetrafleetStack['functions'] {
    // The new VPC has public subnets only; an existing one gets CDK's default pick (private if it has any).
    const ownVpc = !this.config.vpc && !this.config.vpcId;
    const subnets = vpc.selectSubnets(
      this.config.subnets ?? (ownVpc ? { subnetType: ec2.SubnetType.PUBLIC } : {}),
    );
    const environment: Record<string, string> = {
      // The value of the tetrafleet:stack tag on this fleet's instances.
      TETRAFLEET_STACK_NAME: this.stackName,
      TETRAFLEET_JOBS_TABLE: this.tables.jobs.tableName,
      TETRAFLEET_INSTANCES_TABLE: this.tables.instances.tableName,
      TETRAFLEET_PLACEMENTS_TABLE: this.tables.placements.tableName,
      TETRAFLEET_CONTROL_TABLE: this.tables.control.tableName,
      TETRAFLEET_SUBMISSIONS_QUEUE_URL: this.submissions.queue.queueUrl,
      TETRAFLEET_REPORTS_QUEUE_URL: this.reports.queue.queueUrl,
      TETRAFLEET_EVENTS_QUEUE_URL: this.events.queue.queueUrl,
      // Where a handler sets poison aside, with its reason, instead of retrying it.
      TETRAFLEET_SUBMISSIONS_DLQ_URL: this.submissions.dlq.queueUrl,
      TETRAFLEET_REPORTS_DLQ_URL: this.reports.dlq.queueUrl,
      TETRAFLEET_EVENTS_DLQ_URL: this.events.dlq.queueUrl,
      TETRAFLEET_INSTANCE_QUEUE_PREFIX: this.instanceQueuePrefix,
      TETRAFLEET_CPU_LAUNCH_TEMPLATE_ID: this.fleet.cpuLaunchTemplate.launchTemplateId ?? '',
      TETRAFLEET_GPU_LAUNCH_TEMPLATE_ID: this.fleet.gpuLaunchTemplate.launchTemplateId ?? '',
      TETRAFLEET_SUBNET_IDS: subnets.subnetIds.join(','),
      TETRAFLEET_INSTANCE_TYPES: this.config.instanceTypes.join(','),
      TETRAFLEET_MAX_FLEET_SIZE: String(this.config.maxFleetSize),
      TETRAFLEET_BUDGET_PER_HOUR: String(this.config.budgetPerHour),
    };
    const logRetention = retentionDays(this.config.logRetentionDays);
    const make = (name: 'admit' | 'schedule' | 'ingest' | 'scale', extra: object = {}) =>
      new HandlerFunction(this, `${name[0]?.toUpperCase()}${name.slice(1)}`, {
        projectRoot: PROJECT_ROOT,
        name,
        environment,
        timeout: TIMEOUTS[name],
        logRetention,
        ...extra,
      });
    return {
      admit: make('admit'),
      ingest: make('ingest'),
      // One schedule cycle at a time: two would plan against the same free capacity.
      schedule: make('schedule', {
        memorySize: 1024,
        reservedConcurrentExecutions: 1,
        extraFiles: ['node_modules/highs/build/highs.wasm'],
      }),
      // One re-plan at a time, so replica targets are not written by two planners at once.
      scale: make('scale', { memorySize: 512, reservedConcurrentExecutions: 1 }),
    };
  }

  private addEventSourceMappings(): void {
    const source = (queue: QueueWithDlq) =>
      new SqsEventSource(queue.queue, {
        batchSize: 10,
        maxBatchingWindow: Duration.seconds(1),
        reportBatchItemFailures: true,
      });
    this.functions.admit.function.addEventSource(source(this.submissions));
    this.functions.ingest.function.addEventSource(source(this.reports));
    this.functions.ingest.function.addEventSource(source(this.events));
  }

  private addRules(): void {
    const tick = events.Schedule.rate(Duration.minutes(1));
    new events.Rule(this, 'ScheduleTick', {
      description: 'runs one schedule cycle a minute',
      schedule: tick,
      targets: [new targets.LambdaFunction(this.functions.schedule.function, { retryAttempts: 0 })],
    });
    new events.Rule(this, 'ScaleTick', {
      description: 're-plans inference pipelines a minute',
      schedule: tick,
      targets: [new targets.LambdaFunction(this.functions.scale.function, { retryAttempts: 0 })],
    });
    new events.Rule(this, 'SpotInterruptions', {
      description: 'EC2 spot interruption warnings into the events queue',
      eventPattern: { source: ['aws.ec2'], detailType: ['EC2 Spot Instance Interruption Warning'] },
      targets: [new targets.SqsQueue(this.events.queue)],
    });
    new events.Rule(this, 'RebalanceRecommendations', {
      description: 'EC2 rebalance recommendations (spot at elevated risk) into the events queue',
      eventPattern: { source: ['aws.ec2'], detailType: ['EC2 Instance Rebalance Recommendation'] },
      targets: [new targets.SqsQueue(this.events.queue)],
    });
    new events.Rule(this, 'InstanceStateChanges', {
      description: 'EC2 instance state changes into the events queue',
      eventPattern: { source: ['aws.ec2'], detailType: ['EC2 Instance State-change Notification'] },
      targets: [new targets.SqsQueue(this.events.queue)],
    });
  }

  private addOutputs(agentAssetUrl: string): void {
    const out = (id: string, value: string, description: string) =>
      new CfnOutput(this, id, { value, description });
    out('SubmissionsQueueUrl', this.submissions.queue.queueUrl, 'where the SDK sends SubmitJob messages');
    out('SubmissionsDlqUrl', this.submissions.dlq.queueUrl, 'submissions that could not be admitted');
    out('ReportsQueueUrl', this.reports.queue.queueUrl, 'where agents send reports');
    out('ReportsDlqUrl', this.reports.dlq.queueUrl, 'reports that could not be ingested');
    out('EventsQueueUrl', this.events.queue.queueUrl, 'EC2 events routed by EventBridge');
    out('EventsDlqUrl', this.events.dlq.queueUrl, 'EC2 events that could not be ingested');
    out('JobsTableName', this.tables.jobs.tableName, 'jobs table');
    out('InstancesTableName', this.tables.instances.tableName, 'instances table');
    out('PlacementsTableName', this.tables.placements.tableName, 'placements table');
    out('ControlTableName', this.tables.control.tableName, 'leases, idempotency, pipelines, profiles');
    out('CpuLaunchTemplateId', this.fleet.cpuLaunchTemplate.launchTemplateId ?? '', 'CPU fleet template');
    out('GpuLaunchTemplateId', this.fleet.gpuLaunchTemplate.launchTemplateId ?? '', 'GPU fleet template');
    out('AgentAssetUrl', agentAssetUrl, 'the agent bundle (s3://bucket/key)');
    out('InstanceQueuePrefix', this.instanceQueuePrefix, 'name prefix of per-instance queues');
    out('ScheduleFunctionName', this.functions.schedule.function.functionName, 'schedule handler');
  }
}

function visibility(name: keyof typeof TIMEOUTS): Duration {
  return Duration.seconds(TIMEOUTS[name].toSeconds() * 6);
}

/** The CloudWatch retention value closest to, and not under, the days asked for. */
function retentionDays(days: number): logs.RetentionDays {
  const allowed = Object.values(logs.RetentionDays).filter((v): v is number => typeof v === 'number');
  const fit = allowed.filter((d) => d >= days).sort((a, b) => a - b)[0];
  return (fit ?? logs.RetentionDays.INFINITE) as logs.RetentionDays;
}
