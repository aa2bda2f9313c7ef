import { decodeIngestMessage, type IngestMessage } from './shared/ingest-message.ts';
import { jsonLogger, type Logger } from './shared/log.ts';
import { notWired } from './shared/not-wired.ts';
import { type PoisonMessage, processSqsBatch, type SqsBatchResponse } from './shared/sqs-batch.ts';

/** What ingest needs: somewhere to apply reports and EC2 events as conditional state transitions. */
export interface IngestDeps {
  readonly apply: (message: IngestMessage) => Promise<void>;
  readonly onPoison?: (poison: PoisonMessage) => Promise<void>;
  readonly log: Logger;
}

/** ingest <- reports and events queues: validate each message and apply it. */
export function createIngestHandler(deps: IngestDeps): (event: unknown) => Promise<SqsBatchResponse> {
  return (event) =>
    processSqsBatch(event, {
      decode: decodeIngestMessage,
      handle: (message) => deps.apply(message),
      onPoison: deps.onPoison,
      log: deps.log,
    });
}

export const handler = createIngestHandler({
  apply: notWired('ingest'),
  log: jsonLogger('ingest'),
});
