import { TransientError } from '../../lib/core/errors.ts';

/**
 * The step a handler cannot take until its adapter exists. It fails as retryable, so queued messages
 * stay in the queue (and end in its DLQ, where they can be redriven) instead of being dropped unapplied.
 */
export function notWired(what: string): () => Promise<never> {
  return async () => {
    throw new TransientError(`${what} is not wired to its store yet`);
  };
}
