import { decodeSubmission, type Submission } from '../lib/core/protocol/submission.ts';
import { jsonLogger, type Logger } from './shared/log.ts';
import { notWired } from './shared/not-wired.ts';
import { type PoisonMessage, processSqsBatch, type SqsBatchResponse } from './shared/sqs-batch.ts';

/** What admit needs from the outside: a place to record the job (a conditional put on the jobs table). */
export interface AdmitDeps {
  readonly admit: (submission: Submission) => Promise<void>;
  readonly onPoison?: (poison: PoisonMessage) => Promise<void>;
  readonly log: Logger;
}

/** admit <- submissions queue: validate each SubmitJob and record it once. */
export function createAdmitHandler(deps: AdmitDeps): (event: unknown) => Promise<SqsBatchResponse> {
  return (event) =>
    processSqsBatch(event, {
      decode: decodeSubmission,
      handle: (submission) => deps.admit(submission),
      onPoison: deps.onPoison,
      log: deps.log,
    });
}

export const handler = createAdmitHandler({
  admit: notWired('admit'),
  log: jsonLogger('admit'),
});
