import {
  type TunerDecision,
  type TunerOptions,
  TunerOptionsSchema,
  type TunerState,
  tune,
} from '../../lib/core/inference/tuner.ts';
import { parseOrThrow } from '../../lib/core/model/validate.ts';
import type { Clock } from '../../lib/core/ports.ts';
import { PROTOCOL_VERSION } from '../../lib/core/protocol/envelope.ts';
import { type ReplicaRequest, ReplicaRequestSchema } from '../../lib/core/protocol/pipeline.ts';
import type { PipelineRouter } from './pipeline-router.ts';

/**
 * The tuner beside the router: it records every arrival that is traffic the replicas must carry (a
 * query accepted, or shed at a queue bound; not one refused as malformed or while the pipeline is not
 * serving), stamped with the router's clock (epoch ms), and on each tick runs `tune()` over the live arrivals against the plan's stored basis. A changed count goes to the
 * control plane as a ReplicaRequest, so it provisions the replicas, the plan's warm headroom serving scale-ups
 * above the plan first (servingCount in headroom.ts). A new plan (a
 * re-plan changes `plannedAt`) restarts the tuner from that plan's targets.
 */

export interface TunerLoopDeps {
  readonly router: PipelineRouter;
  readonly pipelineId: string;
  readonly instanceId: string;
  readonly clock: Clock;
  readonly options?: TunerOptions;
  readonly request: (message: ReplicaRequest) => Promise<void>;
  readonly log: (message: string) => void;
}

/** Most arrivals kept (8 MiB): past it the oldest go, whatever their age. */
const MAX_ARRIVALS = 1 << 20;

export class TunerLoop {
  private arrivals = new Float64Array(4096);
  private head = 0;
  private tail = 0;
  private state?: TunerState;
  private plannedAt?: number;
  private readonly keepMs: number;
  private readonly options: TunerOptions;
  /** Every decision that changed a count, oldest first (for status and tests). */
  readonly changes: { at: number; reason: string; targets: Record<string, number>; ratePerSecond: number }[] =
    [];

  constructor(private readonly deps: TunerLoopDeps) {
    const o = parseOrThrow(TunerOptionsSchema, deps.options ?? {}, 'tuner options');
    this.options = o;
    this.keepMs = Math.max(o.historyMs, o.lookbackMs + o.bucketMs);
  }

  /**
   * Stamp one arrival; the times stay sorted even if the wall clock steps back. Arrivals older than the
   * tuner looks at are dropped here too, so the buffer stays bounded whether or not ticks run.
   */
  recordArrival(): void {
    const now = this.deps.clock.now();
    const last = this.tail > this.head ? (this.arrivals[this.tail - 1] as number) : Number.NEGATIVE_INFINITY;
    const t = Math.max(now, last);
    if (this.tail === this.arrivals.length) {
      this.prune(now);
      if (this.tail - this.head >= MAX_ARRIVALS) this.head += this.tail - this.head - MAX_ARRIVALS + 1;
      this.compact();
    }
    this.arrivals[this.tail++] = t;
  }

  /** Arrivals held (those within the tuner's history, after the last prune). */
  get arrivalCount(): number {
    return this.tail - this.head;
  }

  get replicas(): Readonly<Record<string, number>> | undefined {
    return this.state?.replicas;
  }

  /** One tuner step; returns the decision, or undefined while nothing is planned. */
  tick(): TunerDecision | undefined {
    const now = this.deps.clock.now();
    this.prune(now);
    const plan = this.deps.router.servingPlan;
    if (!plan) return undefined;
    if (plan.plannedAt !== this.plannedAt || !this.state) {
      this.plannedAt = plan.plannedAt;
      this.state = { replicas: { ...this.deps.router.active }, lastChangeMs: now };
    }
    const live = this.arrivals.subarray(this.head, this.tail);
    const decision = tune(plan.basis, this.state, live, now, this.options);
    if (decision.reason !== 'scale-up' && decision.reason !== 'scale-down') return decision;
    this.state = decision.state;
    const targets = { ...decision.state.replicas };
    this.deps.router.setActive(targets);
    const ratePerSecond = decision.ratePerSecond ?? 0;
    this.changes.push({ at: now, reason: decision.reason, targets, ratePerSecond });
    this.deps.log(`${decision.reason} to ${JSON.stringify(targets)} at ${ratePerSecond.toFixed(1)} qps`);
    const message = parseOrThrow(
      ReplicaRequestSchema,
      {
        version: PROTOCOL_VERSION,
        kind: 'ReplicaRequest',
        pipelineId: this.deps.pipelineId,
        instanceId: this.deps.instanceId,
        at: Math.floor(now),
        targets,
        reason: decision.reason,
        ratePerSecond,
      },
      'replica request',
    );
    this.deps
      .request(message)
      .catch((error: unknown) => this.deps.log(`replica request not sent: ${String(error)}`));
    return decision;
  }

  private prune(now: number): void {
    const cutoff = now - this.keepMs;
    while (this.head < this.tail && (this.arrivals[this.head] as number) <= cutoff) this.head++;
  }

  /** Move live arrivals to the front, growing the buffer when it is mostly live. */
  private compact(): void {
    const live = this.tail - this.head;
    const grow = live * 2 > this.arrivals.length && this.arrivals.length < MAX_ARRIVALS;
    const size = grow ? this.arrivals.length * 2 : this.arrivals.length;
    const next = new Float64Array(size);
    next.set(this.arrivals.subarray(this.head, this.tail));
    this.arrivals = next;
    this.head = 0;
    this.tail = live;
  }
}
