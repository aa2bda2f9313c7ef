import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { SQSClient } from '@aws-sdk/client-sqs';
import { buildAdmitHandler } from '../../lambdas/admit.ts';
import { buildIngestHandler } from '../../lambdas/ingest.ts';
import { buildScaleHandler } from '../../lambdas/scale.ts';
import { buildScheduleHandler } from '../../lambdas/schedule.ts';
import { type HandlerConfig, readHandlerConfig } from '../../lambdas/shared/config.ts';
import { createAwsAdapters } from '../aws/adapters.ts';
import { awsClientConfig } from '../aws/client-config.ts';
import type { CycleConfigInput } from '../core/control/cycle-config.ts';
import type { Logger } from '../core/ports.ts';
import { TetrafleetClient } from '../sdk/client.ts';
import { deployStack, emulatorProcessEnv } from './deploy.ts';
import { type Emulator, startEmulator } from './emulator.ts';
import { EventPump } from './event-pump.ts';
import { LocalFleet } from './local-fleet.ts';

export interface LocalCloudOptions {
  /** @default 'tetrafleet-local' */
  readonly stackName?: string;
  /** How often the schedule handler runs (EventBridge runs it every minute in AWS). @default 2000 */
  readonly scheduleEveryMs?: number;
  /** How often the scale handler runs (every minute in AWS; sooner here, so pipelines plan quickly). @default 5000 */
  readonly scaleEveryMs?: number;
  /** Instance types the stack may launch. @default the stack's default */
  readonly instanceTypes?: readonly string[];
  /** @default 10 */
  readonly maxFleetSize?: number;
  /** @default 20 */
  readonly budgetPerHour?: number;
  /** Planning slot length locally; short, so that a demo's jobs span several slots. @default 30 */
  readonly slotSeconds?: number;
  /** Schedule-cycle settings (heartbeat and idle timeouts, solve budget); slotSeconds is set above. */
  readonly cycle?: CycleConfigInput;
  /** Extra settings for every agent, e.g. a shorter heartbeat. */
  readonly agentEnv?: Readonly<Record<string, string>>;
  /** Step names as the cloud comes up: emulator, synth, bootstrap, deploy, runtime. */
  readonly onProgress?: (step: string) => void;
  readonly log?: Logger;
  readonly env?: NodeJS.ProcessEnv;
}

const quiet: Logger = { info() {}, warn() {}, error() {} };

/**
 * A whole tetrafleet on this machine: the AWS emulator (or AWS_ENDPOINT_URL), the real stack deployed into
 * it with the CDK CLI, an event pump that delivers the stack's queues and schedules to the real handlers
 * in-process, and a local fleet that runs a real agent process for every instance EC2 reports. Only Lambda
 * execution and instance boot are stood in for; everything else goes through the AWS SDK.
 */
export class LocalCloud {
  private constructor(
    readonly endpoint: string,
    readonly stackName: string,
    readonly config: HandlerConfig,
    private readonly emulator: Emulator,
    private readonly pump: EventPump,
    private readonly fleet: LocalFleet,
    private readonly sqs: SQSClient,
    private readonly workRoot: string,
    private readonly dispose: () => void,
  ) {}

  static async start(options: LocalCloudOptions = {}): Promise<LocalCloud> {
    const progress = options.onProgress ?? (() => {});
    const log = options.log ?? quiet;
    const stackName = options.stackName ?? 'tetrafleet-local';
    progress('emulator');
    const emulator = await startEmulator({ env: options.env });
    try {
      const context: Record<string, string> = {
        maxFleetSize: String(options.maxFleetSize ?? 10),
        budgetPerHour: String(options.budgetPerHour ?? 20),
      };
      if (options.instanceTypes) context.instanceTypes = options.instanceTypes.join(',');
      await deployStack({
        endpoint: emulator.endpoint,
        stackName,
        context,
        onStep: progress,
        env: options.env,
      });
      progress('runtime');
      const env = emulatorProcessEnv(emulator.endpoint, options.env);
      // The stack hands these to its Lambdas as environment; the local handlers get the same values.
      const limits = {
        TETRAFLEET_MAX_FLEET_SIZE: context.maxFleetSize,
        TETRAFLEET_BUDGET_PER_HOUR: context.budgetPerHour,
        TETRAFLEET_INSTANCE_TYPES: context.instanceTypes ?? '',
      };
      const config = readHandlerConfig({ ...env, ...(await stackEnvironment(stackName, env)), ...limits });
      return LocalCloud.wire(emulator, stackName, config, env, options, log);
    } catch (error) {
      await emulator.stop();
      throw error;
    }
  }

  private static wire(
    emulator: Emulator,
    stackName: string,
    config: HandlerConfig,
    env: NodeJS.ProcessEnv,
    options: LocalCloudOptions,
    log: Logger,
  ): LocalCloud {
    const sqs = new SQSClient(config.adapters.aws);
    const adapters = createAwsAdapters(config.adapters);
    const admit = buildAdmitHandler(config, undefined, log);
    const ingest = buildIngestHandler(config, undefined, log);
    const schedule = buildScheduleHandler(
      config,
      { slotSeconds: options.slotSeconds ?? 30, ...options.cycle },
      log,
    );
    const scale = buildScaleHandler(config, undefined, log);
    const pump = new EventPump(
      sqs,
      {
        sqs: [
          { name: 'admit', queueUrl: config.queues.submissions, handler: admit, nudges: 'schedule' },
          { name: 'ingest-reports', queueUrl: config.queues.reports, handler: ingest },
          { name: 'ingest-events', queueUrl: config.queues.events, handler: ingest },
        ],
        timers: [
          { name: 'schedule', everyMs: options.scheduleEveryMs ?? 2000, handler: schedule },
          { name: 'scale', everyMs: options.scaleEveryMs ?? 5000, handler: scale },
        ],
      },
      (route, error) => log.warn('handler invocation failed', { route, error: String(error) }),
    );
    const workRoot = mkdtempSync(join(tmpdir(), 'tetrafleet-agents-'));
    const fleet = new LocalFleet({
      fleet: adapters.fleet,
      queueUrlFor: async (id) => (await adapters.fleetStore.getInstance(id))?.queueUrl,
      reportsQueueUrl: config.queues.reports,
      env,
      workRoot,
      agentEnv: {
        TETRAFLEET_HEARTBEAT_SECONDS: '2',
        TETRAFLEET_POLL_WAIT_SECONDS: '1',
        // A router reads its pipeline's record and replica endpoints from here.
        TETRAFLEET_CONTROL_TABLE: config.adapters.tables.control,
        ...options.agentEnv,
      },
      log,
    });
    pump.start();
    fleet.start();
    return new LocalCloud(emulator.endpoint, stackName, config, emulator, pump, fleet, sqs, workRoot, () =>
      adapters.destroy(),
    );
  }

  /** An SDK client for this cloud. Close it when done. */
  client(): TetrafleetClient {
    return new TetrafleetClient({
      endpoints: { submissionsQueueUrl: this.config.queues.submissions, tables: this.config.adapters.tables },
      aws: this.config.adapters.aws,
    });
  }

  /** Runs a schedule cycle now instead of waiting for the timer. */
  nudgeSchedule(): Promise<void> {
    return this.pump.nudge('schedule');
  }

  /** Runs a scale tick now: plans pipelines whose profiles are in and reconciles replicas. */
  nudgeScale(): Promise<void> {
    return this.pump.nudge('scale');
  }

  /** Instance ids with a live agent, and a way to crash one (for fault tests). */
  get agents(): Pick<LocalFleet, 'running' | 'signal' | 'output'> {
    return this.fleet;
  }

  pumpStats() {
    return this.pump.snapshot();
  }

  /** Stops the pump, every agent and the emulator. Leaves no process behind. */
  async stop(): Promise<void> {
    await this.pump.stop();
    await this.fleet.stop();
    this.sqs.destroy();
    this.dispose();
    await this.emulator.stop();
    rmSync(this.workRoot, { recursive: true, force: true });
  }
}

/** The handler environment, rebuilt from the deployed stack's outputs (what the stack gives each Lambda). */
async function stackEnvironment(stackName: string, env: NodeJS.ProcessEnv): Promise<NodeJS.ProcessEnv> {
  const cfn = new CloudFormationClient(awsClientConfig(env));
  try {
    const stack = (await cfn.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0];
    const o = Object.fromEntries((stack?.Outputs ?? []).map((x) => [x.OutputKey ?? '', x.OutputValue ?? '']));
    return {
      TETRAFLEET_STACK_NAME: stackName,
      TETRAFLEET_JOBS_TABLE: o.JobsTableName,
      TETRAFLEET_INSTANCES_TABLE: o.InstancesTableName,
      TETRAFLEET_PLACEMENTS_TABLE: o.PlacementsTableName,
      TETRAFLEET_CONTROL_TABLE: o.ControlTableName,
      TETRAFLEET_SUBMISSIONS_QUEUE_URL: o.SubmissionsQueueUrl,
      TETRAFLEET_REPORTS_QUEUE_URL: o.ReportsQueueUrl,
      TETRAFLEET_EVENTS_QUEUE_URL: o.EventsQueueUrl,
      TETRAFLEET_SUBMISSIONS_DLQ_URL: o.SubmissionsDlqUrl,
      TETRAFLEET_REPORTS_DLQ_URL: o.ReportsDlqUrl,
      TETRAFLEET_EVENTS_DLQ_URL: o.EventsDlqUrl,
      TETRAFLEET_INSTANCE_QUEUE_PREFIX: o.InstanceQueuePrefix,
      TETRAFLEET_CPU_LAUNCH_TEMPLATE_ID: o.CpuLaunchTemplateId,
      TETRAFLEET_GPU_LAUNCH_TEMPLATE_ID: o.GpuLaunchTemplateId,
    };
  } finally {
    cfn.destroy();
  }
}
