import { ValidationError } from '../../lib/core/errors.ts';
import type { QueryFailedError } from './errors.ts';
import type { PipelineRouterOptions } from './pipeline-router-options.ts';
import { ReplicaError } from './replica-client.ts';
import type { Replica } from './replica-set.ts';
import type { Item, Query, Stage } from './router-query.ts';

/** What a failed batch needs of its router: its options, whether it is stopping, and how queries end. */
export interface BatchFailureSink {
  readonly options: Pick<PipelineRouterOptions, 'log' | 'now' | 'dropExpired' | 'replicaCooldownMs'>;
  readonly closed: boolean;
  fail(q: Query, reason: QueryFailedError['reason'], message: string): void;
  reject(q: Query, error: Error): void;
}

/**
 * Settle a failed batch's live queries: failed while stopping; rejected when the replica refused their
 * input; queued again at a smaller byte cap on a 413; otherwise retried once on another replica.
 */
export function batchFailed(
  r: BatchFailureSink,
  st: Stage,
  replica: Replica,
  batch: Item[],
  error: unknown,
): void {
  const o = r.options;
  const message = error instanceof Error ? error.message : String(error);
  o.log(`stage ${st.id} batch of ${batch.length} failed on ${replica.url}: ${message}`);
  const live = batch.filter((item) => !item.query.done);
  if (r.closed) {
    for (const item of live) r.fail(item.query, 'closed', 'router is stopping');
    return;
  }
  if (error instanceof ReplicaError && error.inputRefused) {
    const issues = error.issues.map((i) => ({ path: `stages.${st.id}.${i.path}`, message: i.message }));
    const refused = new ValidationError(
      `input at stage ${st.id}`,
      issues.length > 0 ? issues : [{ path: `stages.${st.id}`, message }],
    );
    for (const item of live) r.reject(item.query, refused);
    return;
  }
  if (error instanceof ReplicaError && error.status === 413) {
    // Each query fits the router's limit but together they passed the replica's: batches at this stage
    // are capped to half of what was refused, and the queries go back unharmed. A query refused alone
    // is over the replica's limit by itself.
    if (live.length === 1) {
      r.fail(live[0]?.query as Query, 'too-large', `stage ${st.id}: ${message}`);
      return;
    }
    const bytes = live.reduce((n, i) => n + i.input.data.byteLength, 0);
    st.maxBatchBytes = Math.min(st.maxBatchBytes, Math.floor(bytes / 2));
    for (const item of live) st.queue.push(item, item.query.deadline, o.now());
    return;
  }
  replica.brokenUntil = o.now() + o.replicaCooldownMs;
  const why = `stage ${st.id} batch failed on ${replica.url}: ${message}`;
  for (const item of live) {
    if (o.dropExpired && item.query.deadline <= o.now())
      r.fail(item.query, 'deadline', `deadline passed: ${why}`);
    else if (item.failedOn) r.fail(item.query, 'replica', `stage ${st.id} failed twice: ${message}`);
    else st.queue.push({ ...item, failedOn: replica.url, lastError: why }, item.query.deadline, o.now());
  }
}
