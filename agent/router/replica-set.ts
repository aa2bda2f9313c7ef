import type { ServingEndpoint } from '../../lib/core/model/pipeline-serving.ts';

/**
 * One stage's replicas as the directory lists them, oldest first. The router dispatches to every usable
 * one: the tuner's count and the plan's headroom alike, since each is a running, paid-for
 * replica, and one that takes batches before a burst shortens every queue rather than waiting for the
 * tuner's next tick to be switched on. A replica that failed a batch is skipped for a cool-down.
 */

export interface Replica {
  readonly url: string;
  readonly since: number;
  /** One outstanding batch per replica. */
  busy: boolean;
  /** Not dispatched to before this (performance clock, ms). */
  brokenUntil: number;
}

export class ReplicaSet {
  private list: Replica[] = [];

  /** Replace the listing, keeping each known replica's state. */
  update(endpoints: readonly ServingEndpoint[]): void {
    const known = new Map(this.list.map((r) => [r.url, r]));
    this.list = [...endpoints]
      .sort(
        (a, b) =>
          a.since - b.since ||
          a.jobId.localeCompare(b.jobId) ||
          a.taskIndex - b.taskIndex ||
          a.attempt - b.attempt,
      )
      .map((e) => known.get(e.url) ?? { url: e.url, since: e.since, busy: false, brokenUntil: 0 });
  }

  get size(): number {
    return this.list.length;
  }

  /** The replicas batches may go to now: those not cooling down. */
  dispatchable(now: number): Replica[] {
    return this.list.filter((r) => r.brokenUntil <= now);
  }

  /** A free dispatchable replica, preferring one other than `avoid`. */
  free(now: number, avoid?: ReadonlySet<string>): Replica | undefined {
    const candidates = this.dispatchable(now).filter((r) => !r.busy);
    return candidates.find((r) => !avoid?.has(r.url)) ?? candidates[0];
  }

  has(url: string): boolean {
    return this.list.some((r) => r.url === url);
  }

  urls(): string[] {
    return this.list.map((r) => r.url);
  }
}
