import { z } from 'zod';
import { MAX_BOOT_ID_LENGTH } from '../model/instance.ts';
import { ResourcesSchema } from '../model/resources.ts';
import { envelope } from './envelope.ts';

/**
 * RUNNING: takes work. DRAINING: takes no new work and finishes or hands back what runs.
 * DRAINED: the final report; nothing runs and the agent is exiting.
 */
export const AGENT_STATES = ['RUNNING', 'DRAINING', 'DRAINED'] as const;
export const AgentStateSchema = z.enum(AGENT_STATES, {
  error: `state must be one of ${AGENT_STATES.join(', ')}`,
});
export type AgentState = z.infer<typeof AgentStateSchema>;

/** One GPU as the agent found it (nvidia-smi), or as declared when there is no driver. */
export const GpuInfoSchema = z.object({
  index: z.number().int().min(0),
  name: z.string().min(1),
  memoryMiB: z.number().int().min(0).optional(),
});
export type GpuInfo = z.infer<typeof GpuInfoSchema>;

/** A task the agent runs (or holds until it fits) when it sends the heartbeat. */
export const RunningTaskRefSchema = z.object({
  jobId: z.string().min(1),
  taskIndex: z.number().int().min(0),
  attempt: z.number().int().min(0),
});
export type RunningTaskRef = z.infer<typeof RunningTaskRefSchema>;

/**
 * The agent's announcement (sequence 0, sent at start-up) and its periodic liveness report. The ingest
 * side orders heartbeats of one agent run by `seq` and tells runs apart by `bootId`, so a late or
 * duplicated heartbeat never rolls the instance's state back.
 */
export const HeartbeatSchema = envelope('Heartbeat', {
  instanceId: z.string().min(1, { error: 'instanceId must not be empty' }),
  /** EC2 instance type, e.g. `g5.xlarge`; the local fleet uses the type it emulates. */
  instanceType: z.string().min(1, { error: 'instanceType must not be empty' }),
  state: AgentStateSchema,
  /** What the agent offers in total. */
  capacity: ResourcesSchema,
  /** Capacity not reserved by running tasks. */
  free: ResourcesSchema,
  /** GPU indices not given to any running task. */
  freeGpuIndices: z.array(z.number().int().min(0)).default([]),
  /** GPUs found on the instance. */
  gpus: z.array(GpuInfoSchema).default([]),
  /** Tasks running now. */
  running: z.array(RunningTaskRefSchema),
  /** Tasks received and waiting locally for capacity. */
  waiting: z.array(RunningTaskRefSchema).default([]),
  /** Version of the agent program. */
  agentVersion: z.string().min(1),
  /** Protocol version the agent speaks (the envelope version it reads and writes). */
  protocolVersion: z.number().int().min(1),
  /** Random id of this agent process; a restart gets a new one and `seq` starts again at 0. */
  bootId: z
    .string()
    .min(1)
    .max(MAX_BOOT_ID_LENGTH, { error: `bootId must be at most ${MAX_BOOT_ID_LENGTH} characters` }),
  /** Increases by one with every heartbeat of one agent process, starting at 0. */
  seq: z.number().int().min(0),
  /** When it was sent, epoch milliseconds. */
  at: z.number().int(),
  /** The queue the agent polls, so the scheduler can check it is addressing the right one. */
  queueUrl: z.string().min(1).optional(),
});
export type Heartbeat = z.output<typeof HeartbeatSchema>;
export type HeartbeatInput = z.input<typeof HeartbeatSchema>;
