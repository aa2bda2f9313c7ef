import type { WorkQueue } from '../../lib/core/ports.ts';
import type { PoisonMessage } from './sqs-batch.ts';

/**
 * Sets a poison message aside in the queue's DLQ with its reason and field issues next to the original
 * body, so whoever inspects the DLQ sees why it was refused without re-running validation.
 */
export function sendToDlq(dlq: WorkQueue, source: string): (poison: PoisonMessage) => Promise<void> {
  return (poison) =>
    dlq.send(
      JSON.stringify({
        source,
        messageId: poison.messageId,
        reason: poison.reason,
        issues: poison.issues,
        body: poison.body,
      }),
    );
}
