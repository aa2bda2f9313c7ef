import type { FieldIssue } from '../../lib/core/errors.ts';
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
  /** Largest batch body sent to a replica: its body limit, lowered when a replica refuses one as too large. */
  maxBatchBytes: number;
  /** The model's input shape where a replica told it (entry stages): checked at the door. */
  inputShape?: InputShape;
  timer?: NodeJS.Timeout;
  timerAt: number;
}

/** A model input's dims as the model server lists them: a number, or a symbolic name (or -1) for any. */
export type InputShape = readonly (number | string)[];

/** A stage before the first plan is applied: batch 1, no delay, no replicas. */
export function newStage<T>(index: number, id: string, maxBatchBytes: number): Stage<T> {
  return {
    index,
    id,
    maxBatch: 1,
    delayMs: 0,
    queue: new EdfQueue<T>(),
    replicas: new ReplicaSet(),
    bound: 1,
    maxBatchBytes,
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

/** How a query's dims miss the stage's known model input shape (the batch dimension is the router's). */
export function shapeIssues<T>(st: Stage<T>, dims: readonly number[]): FieldIssue[] {
  const shape = st.inputShape;
  if (!shape || shape.length === 0) return [];
  const model = `stage ${st.id}'s model takes [${shape.join(', ')}]`;
  if (dims.length !== shape.length)
    return [{ path: 'dims', message: `must have ${shape.length} dimensions (${model}), got ${dims.length}` }];
  return shape.flatMap((want, d) =>
    d > 0 && typeof want === 'number' && want > 0 && dims[d] !== want
      ? [{ path: `dims.${d}`, message: `must be ${want} (${model}), got ${dims[d]}` }]
      : [],
  );
}
