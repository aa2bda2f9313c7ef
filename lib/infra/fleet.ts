import { Stack, Tags } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export const STACK_TAG = 'tetrafleet:stack';
export const FLEET_TAG = 'tetrafleet:fleet';

export interface FleetProps {
  readonly vpc: ec2.IVpc;
  /** Give instances a public IP (the default VPC has public subnets only and no NAT gateway). */
  readonly associatePublicIpAddress: boolean;
  readonly agentAsset: s3assets.Asset;
  readonly reportsQueue: sqs.IQueue;
  /**
   * The control table: a pipeline's router reads its record and replica endpoints there (the serving
   * directory), so the agent may Get and Query it, and nothing more.
   */
  readonly controlTable: dynamodb.ITable;
  /** Name prefix of the per-instance queues; the agent's queue is `<prefix><instance id>`. */
  readonly instanceQueuePrefix: string;
  readonly cpuAmiParameter: string;
  readonly gpuAmiParameter: string;
}

/**
 * What an instance of the fleet boots with: one role and security group shared by both fleets, and a
 * launch template each for CPU and GPU types. The scheduler picks the template by instance type and
 * passes the type and subnet in RunInstances, so one template serves every type of its fleet.
 */
export class Fleet extends Construct {
  readonly role: iam.Role;
  readonly securityGroup: ec2.SecurityGroup;
  readonly cpuLaunchTemplate: ec2.LaunchTemplate;
  readonly gpuLaunchTemplate: ec2.LaunchTemplate;

  constructor(scope: Construct, id: string, props: FleetProps) {
    super(scope, id);
    this.role = new iam.Role(this, 'AgentRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'tetrafleet agent on fleet instances',
    });
    this.grantAgent(props);
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'tetrafleet fleet instances: no inbound from outside the fleet',
      allowAllOutbound: true,
    });
    // Inference routers forward batches to stage replicas over HTTP inside the fleet.
    this.securityGroup.addIngressRule(this.securityGroup, ec2.Port.allTcp(), 'router to stage replicas');

    this.cpuLaunchTemplate = this.launchTemplate('Cpu', 'cpu', props, props.cpuAmiParameter, 30);
    this.gpuLaunchTemplate = this.launchTemplate('Gpu', 'gpu', props, props.gpuAmiParameter, 100);
  }

  private grantAgent(props: FleetProps): void {
    props.reportsQueue.grantSendMessages(this.role);
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:Query'],
        resources: [props.controlTable.tableArn],
      }),
    );
    // Only the one object the instance downloads at boot, not the whole staging bucket.
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [props.agentAsset.bucket.arnForObjects(props.agentAsset.s3ObjectKey)],
      }),
    );
    const stack = Stack.of(this);
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [
          'sqs:ReceiveMessage',
          'sqs:DeleteMessage',
          'sqs:ChangeMessageVisibility',
          'sqs:GetQueueAttributes',
          'sqs:GetQueueUrl',
        ],
        resources: [stack.formatArn({ service: 'sqs', resource: `${props.instanceQueuePrefix}*` })],
      }),
    );
  }

  private launchTemplate(
    id: string,
    fleet: 'cpu' | 'gpu',
    props: FleetProps,
    amiParameter: string,
    rootGiB: number,
  ): ec2.LaunchTemplate {
    const template = new ec2.LaunchTemplate(this, id, {
      machineImage: ec2.MachineImage.fromSsmParameter(amiParameter, { os: ec2.OperatingSystemType.LINUX }),
      role: this.role,
      securityGroup: this.securityGroup,
      userData: agentUserData(props),
      requireImdsv2: true,
      // A hop limit of 2 lets processes in containers on the instance reach IMDSv2 too.
      httpPutResponseHopLimit: 2,
      associatePublicIpAddress: props.associatePublicIpAddress ? true : undefined,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: ec2.BlockDeviceVolume.ebs(rootGiB, {
            encrypted: true,
            volumeType: ec2.EbsDeviceVolumeType.GP3,
            deleteOnTermination: true,
          }),
        },
      ],
    });
    Tags.of(template).add(STACK_TAG, Stack.of(this).stackName);
    Tags.of(template).add(FLEET_TAG, fleet);
    return template;
  }
}

/**
 * Boot script: install Node 22, fetch and unpack the agent, install its native dependencies, and run it
 * under systemd so that a crash restarts it. Everything the agent needs to find its queues comes in
 * through /etc/tetrafleet/agent.env.
 */
function agentUserData(props: FleetProps): ec2.UserData {
  const userData = ec2.UserData.forLinux();
  const stack = Stack.of(props.reportsQueue);
  const region = stack.region;
  userData.addCommands(
    'set -euo pipefail',
    'dnf install -y nodejs22 nodejs22-npm unzip',
    'NODE="$(command -v node-22 || command -v node)"',
    'NPM="$(command -v npm-22 || command -v npm)"',
    'mkdir -p /opt/tetrafleet /etc/tetrafleet',
  );
  const zip = userData.addS3DownloadCommand({
    bucket: props.agentAsset.bucket,
    bucketKey: props.agentAsset.s3ObjectKey,
    localFile: '/opt/tetrafleet/agent.zip',
    region,
  });
  // The agent's own queue is named after its instance id, which only IMDS knows at boot.
  const ownQueueUrl = `https://sqs.${region}.${stack.urlSuffix}/${stack.account}/${props.instanceQueuePrefix}$INSTANCE_ID`;
  userData.addCommands(
    `unzip -o ${zip} -d /opt/tetrafleet`,
    'cd /opt/tetrafleet && "$NPM" install --omit=dev --no-audit --no-fund',
    'IMDS_TOKEN="$(curl -sfX PUT http://169.254.169.254/latest/api/token -H "X-aws-ec2-metadata-token-ttl-seconds: 300")"',
    'INSTANCE_ID="$(curl -sf -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" http://169.254.169.254/latest/meta-data/instance-id)"',
    'mkdir -p /var/lib/tetrafleet',
    'cat > /etc/tetrafleet/agent.env <<EOF',
    `AWS_REGION=${region}`,
    'TETRAFLEET_MODE=ec2',
    `TETRAFLEET_QUEUE_URL=${ownQueueUrl}`,
    `TETRAFLEET_REPORTS_QUEUE_URL=${props.reportsQueue.queueUrl}`,
    `TETRAFLEET_CONTROL_TABLE=${props.controlTable.tableName}`,
    'TETRAFLEET_WORK_DIR=/var/lib/tetrafleet',
    'EOF',
    'cat > /etc/systemd/system/tetrafleet-agent.service <<EOF',
    '[Unit]',
    'Description=tetrafleet agent',
    'After=network-online.target',
    '[Service]',
    'EnvironmentFile=/etc/tetrafleet/agent.env',
    'WorkingDirectory=/opt/tetrafleet',
    'ExecStart=$NODE /opt/tetrafleet/main.mjs',
    'Restart=always',
    'RestartSec=2',
    '[Install]',
    'WantedBy=multi-user.target',
    'EOF',
    'systemctl daemon-reload',
    'systemctl enable --now tetrafleet-agent',
  );
  return userData;
}
