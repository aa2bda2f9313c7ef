import type { PipelineRouterOptions } from './pipeline-router-options.ts';
import { concatRows, ReplicaError, type Tensor } from './replica-client.ts';
import type { Item } from './router-query.ts';

/**
 * A batch in flight waits at most batchTimeoutMs, and no longer than its latest deadline plus a margin
 * (an answer just past the deadline is still an answer, counted late); with dropExpired off, deadlines
 * are not enforced and only batchTimeoutMs applies.
 */
export function batchTimeout(
  o: Pick<PipelineRouterOptions, 'dropExpired' | 'batchTimeoutMs' | 'deadlineMarginMs'>,
  batch: readonly Item[],
  now: number,
): number {
  if (!o.dropExpired) return o.batchTimeoutMs;
  const latest = Math.max(...batch.map((i) => i.query.deadline));
  return Math.max(1, Math.min(o.batchTimeoutMs, latest - now + (o.deadlineMarginMs ?? 50)));
}

/** Send the batch's rows, concatenated, to the replica at `url` as one request, failing after `timeoutMs`. */
export function sendBatch(
  o: Pick<PipelineRouterOptions, 'send'>,
  url: string,
  batch: readonly Item[],
  timeoutMs: number,
): Promise<Tensor> {
  let timer: NodeJS.Timeout | undefined;
  // Bounded here as well as in the sender: whatever the sender does, the batch is over by then.
  return new Promise<Tensor>((resolve, reject) => {
    timer = setTimeout(
      () => reject(new ReplicaError(`${url} gave no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    o.send(url, concatRows(batch.map((i) => i.input)), timeoutMs).then(resolve, reject);
  }).finally(() => clearTimeout(timer));
}
