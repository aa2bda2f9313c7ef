import { z } from 'zod';
import { InvalidTransitionError } from '../errors.ts';
import { MarketSchema } from './instance-type.ts';
import { ResourcesSchema } from './resources.ts';

export const INSTANCE_STATES = ['PENDING', 'RUNNING', 'DRAINING', 'TERMINATING', 'TERMINATED'] as const;
export const InstanceStateSchema = z.enum(INSTANCE_STATES);
export type InstanceState = z.infer<typeof InstanceStateSchema>;

/**
 * PENDING: launched, agent not yet heard from. DRAINING: takes no new work (spot warning, rebalance
 * recommendation, scale-in).
 */
export const INSTANCE_TRANSITIONS: Readonly<Record<InstanceState, readonly InstanceState[]>> = Object.freeze({
  PENDING: ['RUNNING', 'DRAINING', 'TERMINATING', 'TERMINATED'],
  RUNNING: ['DRAINING', 'TERMINATING', 'TERMINATED'],
  DRAINING: ['TERMINATING', 'TERMINATED'],
  TERMINATING: ['TERMINATED'],
  TERMINATED: [],
});

export function assertInstanceTransition(from: InstanceState, to: InstanceState): void {
  if (!INSTANCE_TRANSITIONS[from].includes(to)) throw new InvalidTransitionError(from, to, 'instance');
}

/** An agent's run id is a UUID (36 characters); the bound keeps a stored record small whatever it sends. */
export const MAX_BOOT_ID_LENGTH = 128;

/** An instance of the fleet. Times are epoch milliseconds. */
export const InstanceSchema = z.object({
  id: z.string().min(1),
  type: z.string().min(1),
  market: MarketSchema,
  state: InstanceStateSchema,
  capacity: ResourcesSchema,
  launchedAt: z.number().int(),
  /** When the agent is expected to take work (launch + boot latency) until it heartbeats. */
  readyAt: z.number().int().optional(),
  lastHeartbeatAt: z.number().int().optional(),
  /**
   * When the control plane applied that heartbeat (its clock). Applied − sent is how late reports reach it,
   * which the schedule credits before it counts an instance as silent.
   */
  heartbeatAppliedAt: z.number().int().optional(),
  /** Last time a task ran or finished here; drives idle termination. */
  lastBusyAt: z.number().int().optional(),
  queueUrl: z.string().optional(),
  /**
   * When EC2's spot interruption warning for it was applied: it then drains, one cordoned after a rebalance
   * recommendation included, and a repeated warning is a no-op.
   */
  interruptionWarnedAt: z.number().int().optional(),
  /**
   * When EC2 recommended rebalancing it (a spot instance at elevated risk). It then takes no new work
   * (DRAINING) while its agent runs on: serving tasks move off, command tasks may finish, and it is retired
   * once idle.
   */
  rebalanceRecommendedAt: z.number().int().optional(),
  /**
   * The agent run (`bootId`) and sequence number of the last heartbeat applied: ingest orders heartbeats by
   * them (control/heartbeat-order.ts). Absent until the first heartbeat, and on records written before
   * they were kept.
   */
  heartbeatBootId: z
    .string()
    .min(1, { error: 'heartbeatBootId must not be empty' })
    .max(MAX_BOOT_ID_LENGTH, { error: `heartbeatBootId must be at most ${MAX_BOOT_ID_LENGTH} characters` })
    .optional(),
  heartbeatSeq: z
    .number()
    .min(0, { error: 'heartbeatSeq must be at least 0' })
    .max(Number.MAX_SAFE_INTEGER, { error: 'heartbeatSeq must be at most 9,007,199,254,740,991' })
    .refine(Number.isInteger, { error: 'heartbeatSeq must be a whole number' })
    .optional(),
  version: z.number().int().min(0).default(0),
});
export type Instance = z.infer<typeof InstanceSchema>;

/**
 * The fields an instance update may set: all but the id and the version (which the update bumps). A store
 * validates a patch with it before writing, so what it writes is what InstanceSchema reads back.
 */
export const InstanceUpdateSchema = InstanceSchema.omit({ id: true, version: true }).partial();
export type InstanceUpdate = z.infer<typeof InstanceUpdateSchema>;
