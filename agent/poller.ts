import type { QueueMessage, WorkQueue } from '../lib/core/ports.ts';
import { errorText, type Logger } from './log.ts';

/**
 * Long-polls the instance's own queue and hands each message to `handle`, one at a time and in the
 * order received. It stops when `signal` aborts (drain): the poll in flight is cut short and messages
 * received after that are still handed over, so the handler can give them back.
 */
export interface PollerOptions {
  readonly queue: WorkQueue;
  readonly handle: (message: QueueMessage) => Promise<void>;
  readonly signal: AbortSignal;
  readonly waitSeconds: number;
  readonly visibilitySeconds: number;
  readonly maxMessages?: number;
  readonly logger: Logger;
  /** Backoff after a failed receive, doubled up to `maxBackoffMs`. */
  readonly backoffMs?: number;
  readonly maxBackoffMs?: number;
}

export async function runPoller(options: PollerOptions): Promise<void> {
  const base = options.backoffMs ?? 500;
  let backoff = base;
  while (!options.signal.aborted) {
    let messages: QueueMessage[];
    try {
      messages = await options.queue.receive({
        maxMessages: options.maxMessages ?? 1,
        waitSeconds: options.waitSeconds,
        visibilityTimeoutSeconds: options.visibilitySeconds,
        abortSignal: options.signal,
      });
      backoff = base;
    } catch (error) {
      options.logger.log('warn', 'receive failed', { error: errorText(error), retryInMs: backoff });
      await abortableDelay(backoff, options.signal);
      backoff = Math.min(backoff * 2, options.maxBackoffMs ?? 30_000);
      continue;
    }
    for (const message of messages) {
      try {
        await options.handle(message);
      } catch (error) {
        // The message stays in flight and comes back after its visibility timeout; keep polling.
        options.logger.log('error', 'message handling failed', {
          messageId: message.id,
          error: errorText(error),
        });
      }
    }
  }
}

/** Resolves after `ms` or as soon as `signal` aborts. */
export function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
