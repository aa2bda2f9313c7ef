import { EdfQueue } from './edf-queue.ts';
import { ReplicaSet } from './replica-set.ts';

/** One stage as the router serves it: its planned batching, central queue, replicas and delay timer. */
export interface Stage<T> {
  readonly index: number;
  readonly id: string;
  maxBatch: number;
  delayMs: number;
  readonly queue: EdfQueue<T>;
  readonly replicas: ReplicaSet;
  /** Queued queries at which arrivals are shed. */
  bound: number;
  timer?: NodeJS.Timeout;
  timerAt: number;
}

/** A stage before the first plan is applied: batch 1, no delay, no replicas. */
export function newStage<T>(index: number, id: string): Stage<T> {
  return {
    index,
    id,
    maxBatch: 1,
    delayMs: 0,
    queue: new EdfQueue<T>(),
    replicas: new ReplicaSet(),
    bound: 1,
    timerAt: Number.POSITIVE_INFINITY,
  };
}

/** What `GET /v1/pipelines/{id}` shows of a stage. */
export function stageStatus<T>(st: Stage<T>, active: number, now: number): Record<string, unknown> {
  const dispatchable = new Set(st.replicas.dispatchable(now).map((r) => r.url));
  return {
    maxBatch: st.maxBatch,
    maxQueueDelayMs: st.delayMs,
    active,
    queueDepth: st.queue.size,
    queueBound: st.bound,
    replicas: st.replicas.urls().map((url) => ({ url, dispatchable: dispatchable.has(url) })),
  };
}
