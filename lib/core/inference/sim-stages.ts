import { ValidationError } from '../errors.ts';
import { parseOrThrow } from '../model/validate.ts';
import { DeadlineQueue } from './heaps.ts';
import { serviceTable, spreadTable } from './profiles.ts';
import { type SimulationInput, StageConfigSchema } from './sim-types.ts';
import type { Topology } from './topology.ts';

/** Per-stage replica and queue state of the estimator (sim-engine.ts), built from the configuration. */

export interface StageState {
  readonly service: Float64Array;
  /** Per batch size, the profile's spread of batch times (multiples of `service`), where it has one. */
  readonly spread: readonly (Float64Array | undefined)[];
  readonly maxBatch: number;
  readonly delayMs: number;
  free: number;
  readonly queue: DeadlineQueue;
  /** Time of the earliest pending delay timer, Infinity if none. */
  timerAt: number;
  batches: number;
  served: number;
  /** Replicas running a batch. */
  busy: number;
  /** Busy replicas that leave when their batch is done. */
  retiring: number;
  /** Replicas asked for, not yet serving (activation events pending minus cancelled). */
  activating: number;
  /** Pending activation events to ignore: their replicas were removed before they started. */
  cancelled: number;
  /** Queries that entered the queue so far. */
  entered: number;
}

export function prepareStages(input: SimulationInput, topo: Topology): StageState[] {
  return topo.ids.map((id) => {
    const raw = input.config[id];
    if (!raw)
      throw new ValidationError('pipeline config', [
        {
          path: id,
          message: `no configuration for stage ${id}; configured: ${Object.keys(input.config).join(', ')}`,
        },
      ]);
    const c = parseOrThrow(StageConfigSchema, raw, `config of stage ${id}`);
    const profile = input.profileOf(id, c.instanceType);
    return {
      service: serviceTable(profile, c.maxBatch),
      spread: spreadTable(profile, c.maxBatch),
      maxBatch: c.maxBatch,
      delayMs: c.maxQueueDelayMs,
      free: c.replicas,
      queue: new DeadlineQueue(),
      timerAt: Number.POSITIVE_INFINITY,
      batches: 0,
      served: 0,
      busy: 0,
      retiring: 0,
      activating: 0,
      cancelled: 0,
      entered: 0,
    };
  });
}
