import type { AwsAdapters } from '../../lib/aws/adapters.ts';
import type { PipelineScaleDeps } from '../../lib/core/control/pipeline-scale.ts';
import type { Clock, Logger } from '../../lib/core/ports.ts';
import type { HandlerConfig } from './config.ts';

/** What the pipeline steps of ingest and scale need, over the shared adapters. */
export function pipelineDeps(
  adapters: AwsAdapters,
  config: Pick<HandlerConfig, 'instanceTypes'>,
  clock: Clock,
  log: Logger,
): PipelineScaleDeps {
  return {
    pipelines: adapters.pipelines,
    jobs: adapters.jobs,
    clock,
    allowedTypes: config.instanceTypes,
    log,
  };
}
