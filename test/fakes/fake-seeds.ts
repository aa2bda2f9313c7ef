/** Seed data for the control loop's fakes: stored instances, their cloud listings and active tasks. */
import type { TaskRecord } from '../../lib/core/control/task-record.ts';
import { TaskRecordSchema } from '../../lib/core/control/task-record.ts';
import { findInstanceType } from '../../lib/core/model/catalog.ts';
import type { Instance } from '../../lib/core/model/instance.ts';
import { InstanceSchema } from '../../lib/core/model/instance.ts';
import type { Job } from '../../lib/core/model/job.ts';
import type { CloudInstance } from '../../lib/core/ports.ts';
import { type Heartbeat, type HeartbeatInput, HeartbeatSchema } from '../../lib/core/protocol/heartbeat.ts';
import { FakeInstanceChannel } from './fake-cloud.ts';

/** A stored instance of a catalog type, RUNNING with a fresh heartbeat unless overridden. */
export function storedInstance(
  typeName: string,
  over: Partial<Instance> & { id: string; now: number },
): Instance {
  const type = findInstanceType(typeName);
  if (!type) throw new RangeError(`unknown instance type ${typeName}`);
  const { now, ...rest } = over;
  return InstanceSchema.parse({
    type: typeName,
    market: 'on-demand',
    state: 'RUNNING',
    capacity: { vcpu: type.vcpu, memoryMiB: type.memoryMiB, gpus: type.gpus },
    launchedAt: now - 3_600_000,
    readyAt: now - 3_600_000 + type.bootSeconds * 1000,
    lastHeartbeatAt: now - 5000,
    queueUrl: FakeInstanceChannel.urlOf(over.id),
    version: 1,
    ...rest,
  });
}

/** How the cloud lists a stored instance (running by default). */
export function cloudOf(instance: Instance, state: CloudInstance['state'] = 'running'): CloudInstance {
  return {
    id: instance.id,
    type: instance.type,
    market: instance.market,
    launchedAt: instance.launchedAt,
    state,
    tags: {},
  };
}

/** An active task of `job` on `instance`, RUNNING for the job's current attempt unless overridden. */
export function storedTask(
  job: Pick<Job, 'id' | 'attempts'>,
  instance: Pick<Instance, 'id'>,
  over: Partial<TaskRecord> & { now: number },
): TaskRecord {
  const { now, ...rest } = over;
  return TaskRecordSchema.parse({
    jobId: job.id,
    taskIndex: 0,
    attempt: Math.max(0, job.attempts - 1),
    instanceId: instance.id,
    state: 'RUNNING',
    alternative: 0,
    resources: { vcpu: 1, memoryMiB: 1024, gpus: 0 },
    gpuIndices: [],
    startAt: now - 60_000,
    expectedEndAt: now + 600_000,
    updatedAt: now - 60_000,
    ...rest,
  });
}

/** An agent's heartbeat from a c7i.large sent at `at`, idle; `seq` follows `at`, as one agent run's do. */
export function heartbeatOf(
  instanceId: string,
  at: number,
  state: HeartbeatInput['state'] = 'RUNNING',
): Heartbeat {
  return HeartbeatSchema.parse({
    version: 1,
    kind: 'Heartbeat',
    instanceId,
    instanceType: 'c7i.large',
    state,
    capacity: { vcpu: 2, memoryMiB: 4096, gpus: 0 },
    free: { vcpu: 2, memoryMiB: 4096, gpus: 0 },
    running: [],
    agentVersion: '0.1.0',
    protocolVersion: 1,
    bootId: 'b',
    seq: at,
    at,
  });
}
