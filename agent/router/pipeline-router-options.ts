import type { BatchSender } from './replica-client.ts';

export interface PipelineRouterOptions {
  readonly pipelineId: string;
  readonly send: BatchSender;
  /** Monotonic ms for latency and queue delays (performance.now). */
  readonly now: () => number;
  /** Seed of the per-edge routing draws. */
  readonly seed: number;
  /** Queued queries per stage beyond which arrivals are shed; default: about one SLO of work. */
  readonly queueBound?: number;
  readonly dropExpired: boolean;
  readonly batchTimeoutMs: number;
  readonly replicaCooldownMs: number;
  readonly retryAfterSeconds: number;
  /** How long past its latest deadline a batch in flight is still waited for. @default 50 */
  readonly deadlineMarginMs?: number;
  /** Largest batch body; a replica's 413 lowers a stage's own. @default MAX_BINARY_BODY_BYTES */
  readonly maxBatchBytes?: number;
  /** Told of every query that counts as traffic: accepted, or shed for capacity. */
  readonly onArrival?: () => void;
  readonly onBatch?: BatchObserver;
  readonly log: (message: string) => void;
}

/**
 * One answered batch: its stage, size, when it was sent (`now()` ms) and its round trip. For a caller that
 * needs the batches in time order (the estimator-against-live test replays them), where the router's own
 * statistics keep only their distribution.
 */
export type BatchObserver = (stageId: string, size: number, sentAtMs: number, ms: number) => void;
