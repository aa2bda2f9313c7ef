import { createAwsAdapters } from '../lib/aws/adapters.ts';
import { admitSubmission, rejectSubmission } from '../lib/core/control/admit.ts';
import {
  admitPipeline,
  type PipelineAdmitDeps,
  rejectPipelineSubmission,
} from '../lib/core/control/pipeline-admit.ts';
import { ValidationError } from '../lib/core/errors.ts';
import type { Clock } from '../lib/core/ports.ts';
import { decodeQueuedSubmission, type QueuedSubmission } from '../lib/core/protocol/submission.ts';
import { type HandlerConfig, once, readHandlerConfig } from './shared/config.ts';
import { jsonLogger, type Logger } from './shared/log.ts';
import { sendToDlq } from './shared/poison.ts';
import { type PoisonMessage, processSqsBatch, type SqsBatchResponse } from './shared/sqs-batch.ts';

/** What admit needs from the outside: a place to record each job or pipeline (conditional puts). */
export interface AdmitDeps {
  readonly admit: (submission: QueuedSubmission) => Promise<void>;
  readonly onPoison?: (poison: PoisonMessage) => Promise<void>;
  readonly log: Logger;
}

/** admit <- submissions queue: validate each SubmitJob or SubmitPipeline and record it once. */
export function createAdmitHandler(deps: AdmitDeps): (event: unknown) => Promise<SqsBatchResponse> {
  return (event) =>
    processSqsBatch(event, {
      decode: decodeQueuedSubmission,
      handle: (submission) => deps.admit(submission),
      onPoison: deps.onPoison,
      log: deps.log,
    });
}

/**
 * The real wiring: a job is written with a conditional put; a pipeline is checked (models, types, SLO),
 * stored and its profiling jobs submitted. A refused submission is remembered under its job or pipeline
 * id (so `getJob` / `getPipeline` explain it) and set aside in the submissions DLQ with its reason.
 */
export function buildAdmitHandler(
  config: HandlerConfig,
  clock: Clock = { now: () => Date.now() },
  log = jsonLogger('admit'),
) {
  const adapters = createAwsAdapters(config.adapters);
  const deps = { jobs: adapters.jobs, clock };
  const pipelineDeps: PipelineAdmitDeps = {
    pipelines: adapters.pipelines,
    jobs: adapters.jobs,
    models: adapters.models,
    clock,
    allowedTypes: config.instanceTypes,
    log,
  };
  const toDlq = sendToDlq(adapters.queue(config.dlqs.submissions), 'admit');
  return createAdmitHandler({
    admit: async (submission) => {
      if (submission.kind === 'SubmitPipeline') {
        const result = await admitPipeline(submission, pipelineDeps);
        // A refusal is for good: as poison it goes to the DLQ with its reason, like a bad job spec.
        if (result.outcome === 'refused') throw new ValidationError('pipeline submission', result.issues);
        if (result.outcome === 'duplicate')
          log.info('pipeline already admitted', { pipelineId: submission.pipelineId });
        return;
      }
      const { created, job } = await admitSubmission(submission, deps);
      if (created) log.info('admitted a job', { jobId: submission.jobId });
      else if (job.id === submission.jobId) log.info('job already admitted', { jobId: submission.jobId });
      // admitSubmission recorded the refusal under the new id, where getJob finds it.
      else
        log.warn('refused a job: its idempotencyKey is taken', {
          jobId: submission.jobId,
          field: 'idempotencyKey',
          usedBy: job.id,
        });
    },
    onPoison: async (poison) => {
      const pipeline = await rejectPipelineSubmission(poison.body, poison.reason, poison.issues, {
        pipelines: adapters.pipelines,
        clock,
      });
      if (!pipeline) await rejectSubmission(poison.body, poison.reason, poison.issues, deps);
      await toDlq(poison);
    },
    log,
  });
}

const live = once(() => buildAdmitHandler(readHandlerConfig(process.env)));
export const handler = (event: unknown): Promise<SqsBatchResponse> => live()(event);
