import { createAwsAdapters } from '../lib/aws/adapters.ts';
import { admitSubmission, rejectSubmission } from '../lib/core/control/admit.ts';
import type { Clock } from '../lib/core/ports.ts';
import { decodeSubmission, type Submission } from '../lib/core/protocol/submission.ts';
import { type HandlerConfig, once, readHandlerConfig } from './shared/config.ts';
import { jsonLogger, type Logger } from './shared/log.ts';
import { sendToDlq } from './shared/poison.ts';
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

/**
 * The real wiring: a job is written with a conditional put; a refused submission is remembered under its
 * job id (so `getJob` explains it) and set aside in the submissions DLQ with its reason.
 */
export function buildAdmitHandler(
  config: HandlerConfig,
  clock: Clock = { now: () => Date.now() },
  log = jsonLogger('admit'),
) {
  const adapters = createAwsAdapters(config.adapters);
  const deps = { jobs: adapters.jobs, clock };
  const toDlq = sendToDlq(adapters.queue(config.dlqs.submissions), 'admit');
  return createAdmitHandler({
    admit: async (submission) => {
      const { created } = await admitSubmission(submission, deps);
      log.info(created ? 'admitted a job' : 'job already admitted', { jobId: submission.jobId });
    },
    onPoison: async (poison) => {
      await rejectSubmission(poison.body, poison.reason, poison.issues, deps);
      await toDlq(poison);
    },
    log,
  });
}

const live = once(() => buildAdmitHandler(readHandlerConfig(process.env)));
export const handler = (event: unknown): Promise<SqsBatchResponse> => live()(event);
