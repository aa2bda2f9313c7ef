import type { Instance } from '../model/instance.ts';
import type { Heartbeat } from '../protocol/heartbeat.ts';

/**
 * How heartbeats of one instance are ordered. The agent's clock orders nothing: a clock set a day ahead
 * would make every later heartbeat look old, two heartbeats can share a millisecond, and a restarted agent's
 * clock may be behind its predecessor's. Instead:
 *
 * - within one agent run (`bootId`), `seq` orders them: a heartbeat is newer when its seq is higher;
 *   the run and seq of the last one applied are kept on the instance (`heartbeatBootId`, `heartbeatSeq`),
 *   written by the same version-conditional update that applies it, so the check and the write are one step;
 * - a heartbeat of another run is a restart and is taken, unless it was sent more than MAX_CLOCK_SKEW_MS
 *   before the last one applied (a straggler of an older run, not a new one);
 * - `at` only says when the instance was last alive, and never later than the ingest clock plus
 *   MAX_CLOCK_SKEW_MS, so a clock running ahead cannot keep a silent instance looking alive.
 */

/** How far an agent's clock may run ahead of (or a restarted agent's behind) the control plane's. */
export const MAX_CLOCK_SKEW_MS = 30_000;

export type HeartbeatOrder = 'newer' | 'duplicate' | 'older-run';

/** Where `hb` stands against the last heartbeat applied to `instance`. */
export function heartbeatOrder(
  instance: Pick<Instance, 'heartbeatBootId' | 'heartbeatSeq' | 'lastHeartbeatAt'>,
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
