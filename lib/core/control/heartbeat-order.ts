import { z } from 'zod';
import type { Instance } from '../model/instance.ts';
import type { InstancePatch, InstanceStore } from '../ports.ts';
import type { Heartbeat } from '../protocol/heartbeat.ts';

/**
 * How heartbeats of one instance are ordered. The agent's clock orders nothing: a clock set a day ahead
 * would make every later heartbeat look old, two heartbeats can share a millisecond, and a restarted agent's
 * clock may be behind its predecessor's. Instead:
 *
 * - within one agent run (`bootId`), `seq` orders them: a heartbeat is newer when its seq is higher;
 * - a heartbeat of another run is a restart and is taken, unless it was sent more than MAX_CLOCK_SKEW_MS
 *   before the last one applied (a straggler of an older run, not a new one);
 * - `at` only says when the instance was last alive, and never later than the ingest clock plus
 *   MAX_CLOCK_SKEW_MS, so a clock running ahead cannot keep a silent instance looking alive.
 */

/** How far an agent's clock may run ahead of (or a restarted agent's behind) the control plane's. */
export const MAX_CLOCK_SKEW_MS = 30_000;

/** The run and sequence number of the last heartbeat applied, kept on the instance record. */
export const HeartbeatMarkSchema = z.object({
  heartbeatBootId: z.string().min(1).optional(),
  heartbeatSeq: z.number().int().min(0).optional(),
});
export type HeartbeatMark = z.infer<typeof HeartbeatMarkSchema>;

/** An instance record with its heartbeat mark. */
export type MarkedInstance = Instance & HeartbeatMark;

/**
 * The instance store as ingest uses it: the same records, also keeping the heartbeat mark with the
 * version-conditional update that applies the heartbeat, so the order check and the write are one step.
 */
export interface MarkedInstanceStore extends InstanceStore {
  getInstance(id: string): Promise<MarkedInstance | undefined>;
  updateInstance(
    id: string,
    expectedVersion: number,
    patch: InstancePatch & HeartbeatMark,
  ): Promise<MarkedInstance>;
}

export type HeartbeatOrder = 'newer' | 'duplicate' | 'older-run';

/** Where `hb` stands against the last heartbeat applied to `instance`. */
export function heartbeatOrder(
  instance: MarkedInstance,
  hb: Pick<Heartbeat, 'bootId' | 'seq' | 'at'>,
): HeartbeatOrder {
  const { heartbeatBootId: bootId, heartbeatSeq: seq } = instance;
  // A record written before marks were kept: the first heartbeat seen starts the order.
  if (bootId === undefined || seq === undefined) return 'newer';
  if (hb.bootId === bootId) return hb.seq > seq ? 'newer' : 'duplicate';
  const last = instance.lastHeartbeatAt ?? Number.NEGATIVE_INFINITY;
  return hb.at >= last - MAX_CLOCK_SKEW_MS ? 'newer' : 'older-run';
}

/** When the instance was last heard from, as far as liveness goes: `at`, but never beyond now + skew. */
export function livenessAt(at: number, now: number): number {
  return Math.min(at, now + MAX_CLOCK_SKEW_MS);
}
