import type * as ec2 from 'aws-cdk-lib/aws-ec2';

/** Public SSM parameter with the latest Amazon Linux 2023 AMI (x86_64) for the CPU fleet. */
export const DEFAULT_CPU_AMI_PARAMETER =
  '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64';

/**
 * Public SSM parameter with AWS's GPU-optimized Amazon Linux 2023 AMI (NVIDIA driver and CUDA runtime
 * preinstalled) for the GPU fleet. The Deep Learning Base AMI parameter
 * (`/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id`)
 * works too; this one is the default because the emulator knows it, so the same stack deploys there.
 */
export const DEFAULT_GPU_AMI_PARAMETER =
  '/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id';

export const DEFAULT_INSTANCE_TYPES: readonly string[] = Object.freeze([
  'm7i.large',
  'm7i.xlarge',
  'c7i.2xlarge',
  'g5.xlarge',
  'g6.xlarge',
]);

/** Families whose types carry NVIDIA GPUs; instances of these get the GPU launch template. */
const GPU_FAMILY = /^(g\d|p\d|gr\d)/;

/** The stack's knobs. Every field is optional; `resolveTetrafleetProps` fills the defaults once. */
export interface TetrafleetProps {
  /**
   * EC2 instance types the scheduler may launch. GPU types (g*, p*) use the GPU launch template, all
   * others the CPU one. The scheduler's RunInstances permission is limited to these types.
   * @default DEFAULT_INSTANCE_TYPES (m7i.large, m7i.xlarge, c7i.2xlarge, g5.xlarge, g6.xlarge)
   */
  readonly instanceTypes?: readonly string[];
  /**
   * Most instances the scheduler keeps running at once, across both fleets.
   * @default 20
   */
  readonly maxFleetSize?: number;
  /**
   * Most the fleet may cost per hour, in US dollars, at on-demand or spot prices as launched.
   * @default 10
   */
  readonly budgetPerHour?: number;
  /**
   * An existing VPC to launch instances into. Give either this or `vpcId`, not both.
   * @default - a new VPC with public subnets in two AZs and no NAT gateway
   */
  readonly vpc?: ec2.IVpc;
  /**
   * Id of an existing VPC to look up at synth time. A lookup needs AWS credentials and an explicit
   * stack env (account and region), so it is off by default to keep synth offline.
   * @default - no lookup
   */
  readonly vpcId?: string;
  /**
   * Which subnets of the VPC instances launch into.
   * @default - the public subnets of the new VPC (instances get a public IP and no inbound rule); CDK's default
   *   selection (private subnets if any) of an existing VPC
   */
  readonly subnets?: ec2.SubnetSelection;
  /**
   * Leave the SQS event source mappings out. The emulator fires mappings by itself and loses messages,
   * so local mode lets the local event pump deliver to the handlers instead.
   * @default false
   */
  readonly localMode?: boolean;
  /**
   * Entry file of the instance agent, relative to the project root.
   * @default 'agent/main.ts'
   */
  readonly agentEntry?: string;
  /**
   * SSM parameter holding the CPU fleet's AMI id.
   * @default DEFAULT_CPU_AMI_PARAMETER
   */
  readonly cpuAmiParameter?: string;
  /**
   * SSM parameter holding the GPU fleet's AMI id.
   * @default DEFAULT_GPU_AMI_PARAMETER
   */
  readonly gpuAmiParameter?: string;
  /**
   * Days to keep Lambda logs.
   * @default 30
   */
  readonly logRetentionDays?: number;
  /**
   * S3 buckets holding pipeline models (`s3://bucket/key` stage URIs). Admission may check that a model
   * exists there (HeadObject) and agents may download models from there; both read objects only.
   * @default - none: only models at absolute paths on the instances can be served
   */
  readonly modelBuckets?: readonly string[];
}

/** Props with every default filled in. */
export interface ResolvedTetrafleetProps {
  readonly instanceTypes: readonly string[];
  readonly cpuInstanceTypes: readonly string[];
  readonly gpuInstanceTypes: readonly string[];
  readonly maxFleetSize: number;
  readonly budgetPerHour: number;
  readonly vpc?: ec2.IVpc;
  readonly vpcId?: string;
  readonly subnets?: ec2.SubnetSelection;
  readonly localMode: boolean;
  readonly agentEntry: string;
  readonly cpuAmiParameter: string;
  readonly gpuAmiParameter: string;
  readonly logRetentionDays: number;
  readonly modelBuckets: readonly string[];
}

/** Every problem with the props, reported together. */
export class TetrafleetPropsError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid TetrafleetStack props:\n  - ${problems.join('\n  - ')}`);
    this.name = 'TetrafleetPropsError';
  }
}

const INSTANCE_TYPE = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/;
const VPC_ID = /^vpc-[0-9a-f]{8,17}$/;
const SSM_NAME = /^\/[A-Za-z0-9_.\-/]+$/;

export function isGpuInstanceType(type: string): boolean {
  return GPU_FAMILY.test(type);
}

/** Fill defaults and check every prop; throws one TetrafleetPropsError listing all problems. */
export function resolveTetrafleetProps(props: TetrafleetProps = {}): ResolvedTetrafleetProps {
  const instanceTypes = [...(props.instanceTypes ?? DEFAULT_INSTANCE_TYPES)];
  const resolved: ResolvedTetrafleetProps = {
    instanceTypes,
    cpuInstanceTypes: instanceTypes.filter((t) => !isGpuInstanceType(t)),
    gpuInstanceTypes: instanceTypes.filter(isGpuInstanceType),
    maxFleetSize: props.maxFleetSize ?? 20,
    budgetPerHour: props.budgetPerHour ?? 10,
    vpc: props.vpc,
    vpcId: props.vpcId,
    subnets: props.subnets,
    localMode: props.localMode ?? false,
    agentEntry: props.agentEntry ?? 'agent/main.ts',
    cpuAmiParameter: props.cpuAmiParameter ?? DEFAULT_CPU_AMI_PARAMETER,
    gpuAmiParameter: props.gpuAmiParameter ?? DEFAULT_GPU_AMI_PARAMETER,
    logRetentionDays: props.logRetentionDays ?? 30,
    modelBuckets: [...(props.modelBuckets ?? [])],
  };
  const problems = validateTetrafleetProps(resolved);
  if (problems.length > 0) throw new TetrafleetPropsError(problems);
  return Object.freeze(resolved);
}

export function validateTetrafleetProps(p: ResolvedTetrafleetProps): string[] {
  return [
    ...instanceTypeProblems(p.instanceTypes),
    ...rangeProblem('maxFleetSize', p.maxFleetSize, 1, 1000, true),
    ...rangeProblem('budgetPerHour', p.budgetPerHour, 0.01, 100_000, false),
    ...rangeProblem('logRetentionDays', p.logRetentionDays, 1, 3653, true),
    ...vpcProblems(p),
    ...ssmNameProblem('cpuAmiParameter', p.cpuAmiParameter),
    ...ssmNameProblem('gpuAmiParameter', p.gpuAmiParameter),
    ...(p.agentEntry.trim() === '' ? ['agentEntry must not be empty'] : []),
    ...bucketProblems(p.modelBuckets),
  ];
}

/** S3 bucket naming rules: 3-63 characters of lowercase letters, digits, "." and "-". */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function bucketProblems(buckets: readonly string[]): string[] {
  const bad = buckets.filter((b) => !BUCKET.test(b));
  return bad.length > 0
    ? [`modelBuckets must be S3 bucket names (3-63 of a-z, 0-9, ".", "-"), got ${bad.join(', ')}`]
    : [];
}

function instanceTypeProblems(types: readonly string[]): string[] {
  const problems: string[] = [];
  if (types.length === 0) problems.push('instanceTypes must list at least one instance type, got none');
  if (types.length > 100) problems.push(`instanceTypes must list at most 100 types, got ${types.length}`);
  const bad = types.filter((t) => !INSTANCE_TYPE.test(t));
  if (bad.length > 0)
    problems.push(`instanceTypes must look like EC2 types such as m7i.large, got ${bad.join(', ')}`);
  const dupes = types.filter((t, i) => types.indexOf(t) !== i);
  if (dupes.length > 0) problems.push(`instanceTypes must not repeat a type, got ${dupes.join(', ')} twice`);
  return problems;
}

function rangeProblem(name: string, value: number, min: number, max: number, whole: boolean): string[] {
  if (!Number.isFinite(value) || value < min || value > max) {
    return [`${name} must be between ${fmt(min)} and ${fmt(max)}, got ${value}`];
  }
  if (whole && !Number.isInteger(value)) return [`${name} must be a whole number, got ${value}`];
  return [];
}

function vpcProblems(p: ResolvedTetrafleetProps): string[] {
  const problems: string[] = [];
  if (p.vpc && p.vpcId) problems.push(`give either vpc or vpcId, not both (vpcId ${p.vpcId})`);
  if (p.vpcId !== undefined && !VPC_ID.test(p.vpcId))
    problems.push(`vpcId must look like vpc-0123456789abcdef0, got ${p.vpcId}`);
  return problems;
}

function ssmNameProblem(name: string, value: string): string[] {
  return SSM_NAME.test(value)
    ? []
    : [`${name} must be an SSM parameter path starting with "/", got ${value}`];
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}
