/**
 * The fleet and the report backlog of the ingest benchmark: N RUNNING instances with DISPATCHED tasks,
 * stored through the real stores, and the agents' reports (heartbeats, task started / succeeded) that
 * waited in the reports queue while ingest fell behind. Every report's `at` lies in the past: the
 * newest was sent `newestAgeMs` before the drain starts, the oldest a whole backlog span earlier.
 */
import { EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { AwsAdapters } from '../../lib/aws/adapters.ts';
import type { AwsClientConfig } from '../../lib/aws/client-config.ts';
import { FLEET_TAGS } from '../../lib/aws/ec2-fleet-provider.ts';
import type { TaskRecord } from '../../lib/core/control/task-record.ts';
import { type Job, JobSpecSchema } from '../../lib/core/model/job.ts';
import { mulberry32 } from '../../lib/core/random.ts';

export interface BacklogParams {
  readonly instances: number;
  readonly jobs: number;
  readonly reports: number;
  /** Seconds between one agent's heartbeats (the agent's default is 30). */
  readonly heartbeatSeconds: number;
  /** Age of the newest report when the drain starts. */
  readonly newestAgeMs: number;
  readonly seed: number;
}

export interface Report {
  readonly at: number;
  readonly body: string;
}

export interface Backlog {
  readonly instanceIds: readonly string[];
  readonly jobIds: readonly string[];
  readonly reports: readonly Report[];
  readonly heartbeatsPerInstance: number;
  /** Sent time of the first report and of the last. */
  readonly firstAt: number;
  readonly lastAt: number;
}

const TYPE = 'c7i.large';
const CAPACITY = { vcpu: 2, memoryMiB: 4096, gpus: 0 };

/**
 * Launches the fleet's instances in the emulator's EC2, tagged as the stack's, so the schedule cycle's
 * reconcile finds them in the cloud and judges them by their heartbeats alone.
 */
export async function launchCloudInstances(
  aws: AwsClientConfig,
  stackName: string,
  count: number,
): Promise<string[]> {
  const ec2 = new EC2Client(aws);
  try {
    const out = await ec2.send(
      new RunInstancesCommand({
        ImageId: 'ami-12c6146b',
        InstanceType: TYPE,
        MinCount: count,
        MaxCount: count,
        TagSpecifications: [
          {
            ResourceType: 'instance',
            Tags: [
              { Key: FLEET_TAGS.stack, Value: stackName },
              { Key: FLEET_TAGS.market, Value: 'on-demand' },
            ],
          },
        ],
      }),
    );
    return (out.Instances ?? []).map((i) => i.InstanceId as string);
  } finally {
    ec2.destroy();
  }
}

/**
 * The agents' reports in the order they were sent. Each instance heartbeats every `heartbeatSeconds`
 * (phases spread over the fleet), seq counting up in one agent run; each job's task starts in the first
 * half of the span and succeeds after it, at a random time before the span ends.
 */
export function buildBacklog(p: BacklogParams, instanceIds: readonly string[], drainStart: number): Backlog {
  const rand = mulberry32(p.seed);
  const taskEvents = 2 * p.jobs;
  const heartbeatsPerInstance = Math.max(1, Math.floor((p.reports - taskEvents) / p.instances));
  const intervalMs = p.heartbeatSeconds * 1000;
  const spanMs = heartbeatsPerInstance * intervalMs;
  const lastAt = drainStart - p.newestAgeMs;
  const firstAt = lastAt - spanMs;
  const reports: Report[] = [];
  instanceIds.forEach((instanceId, i) => {
    const phase = Math.round(((i + 1) / p.instances) * intervalMs);
    for (let k = 0; k < heartbeatsPerInstance; k++) {
      const at = firstAt + phase + k * intervalMs;
      reports.push({ at, body: JSON.stringify(heartbeat(instanceId, i, k + 1, at)) });
    }
  });
  const jobIds = Array.from({ length: p.jobs }, (_, j) => `ingest-bench-${j}`);
  jobIds.forEach((jobId, j) => {
    const instanceId = instanceIds[j % instanceIds.length] as string;
    const startedAt = firstAt + Math.round(rand() * spanMs * 0.5);
    const endedAt = startedAt + 1 + Math.round(rand() * (lastAt - startedAt - 1));
    const base = { version: 1, kind: 'TaskEvent', jobId, taskIndex: 0, attempt: 0, instanceId };
    reports.push({ at: startedAt, body: JSON.stringify({ ...base, event: 'started', at: startedAt }) });
    reports.push({
      at: endedAt,
      body: JSON.stringify({
        ...base,
        event: 'succeeded',
        at: endedAt,
        exitCode: 0,
        durationMs: endedAt - startedAt,
      }),
    });
  });
  // Sent order: by time; a started event sorts before its own succeeded event even at the same ms.
  reports.sort((a, b) => a.at - b.at);
  return { instanceIds, jobIds, reports, heartbeatsPerInstance, firstAt, lastAt };
}

function heartbeat(instanceId: string, index: number, seq: number, at: number) {
  return {
    version: 1,
    kind: 'Heartbeat',
    instanceId,
    instanceType: TYPE,
    state: 'RUNNING',
    capacity: CAPACITY,
    free: CAPACITY,
    running: [],
    agentVersion: '0.1.0',
    protocolVersion: 1,
    bootId: `boot-${index}`,
    seq,
    at,
  };
}

/**
 * Stores the fleet as it stood before the backlog: each instance RUNNING with one heartbeat (seq 0) applied
 * on time just before the first report in the queue, and each job PLACED with its task DISPATCHED.
 */
export async function seedFleet(adapters: AwsAdapters, backlog: Backlog): Promise<void> {
  const before = backlog.firstAt - 1000;
  await Promise.all(
    backlog.instanceIds.map(async (id, i) => {
      const queueUrl = await adapters.channel.open(id);
      await adapters.fleetStore.putInstance({
        id,
        type: TYPE,
        market: 'on-demand',
        state: 'RUNNING',
        capacity: CAPACITY,
        launchedAt: before - 600_000,
        lastHeartbeatAt: before,
        heartbeatAppliedAt: before,
        heartbeatBootId: `boot-${i}`,
        heartbeatSeq: 0,
        queueUrl,
        version: 0,
      });
    }),
  );
  const spec = JobSpecSchema.parse({
    name: 'ingest-bench',
    task: { kind: 'command', command: '/bin/true' },
    alternatives: [{ requirement: { vcpu: 0.1, memoryMiB: 128 }, durationSeconds: 60 }],
    utility: { deadlineSeconds: 86_400, value: 10 },
  });
  for (let j = 0; j < backlog.jobIds.length; j += 10) {
    await Promise.all(
      backlog.jobIds.slice(j, j + 10).map(async (id, k) => {
        const job: Job = {
          id,
          spec,
          status: 'PENDING',
          version: 0,
          submittedAt: before - 60_000,
          updatedAt: before - 60_000,
          attempts: 0,
        };
        await adapters.jobs.create(job);
        const task: TaskRecord = {
          jobId: id,
          taskIndex: 0,
          attempt: 0,
          instanceId: backlog.instanceIds[(j + k) % backlog.instanceIds.length] as string,
          state: 'DISPATCHED',
          alternative: 0,
          resources: { vcpu: 0.1, memoryMiB: 128, gpus: 0 },
          gpuIndices: [],
          startAt: before,
          expectedEndAt: before + 3_600_000,
          updatedAt: before,
        };
        await adapters.fleetStore.commitPlacement(job, 'PLACED', [task], before);
      }),
    );
  }
}

/** Sends the backlog to the reports queue in its sent order, ten to a call. */
export async function enqueue(sqs: SQSClient, queueUrl: string, reports: readonly Report[]): Promise<void> {
  for (let i = 0; i < reports.length; i += 10) {
    const Entries = reports.slice(i, i + 10).map((r, k) => ({ Id: String(k), MessageBody: r.body }));
    const out = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries }));
    if ((out.Failed ?? []).length > 0) throw new Error(`enqueue failed: ${JSON.stringify(out.Failed)}`);
  }
}
