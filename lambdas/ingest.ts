import { createAwsAdapters } from '../lib/aws/adapters.ts';
import {
  applyHeartbeat,
  applyInstanceGone,
  applyRebalanceRecommendation,
  applySpotWarning,
  applyTaskEvent,
  type IngestDeps as CoreIngestDeps,
  type IngestOutcome,
} from '../lib/core/control/ingest.ts';
import {
  applyPipelineReport,
  applyPipelineTaskEvent,
  applyReplicaRequest,
  type PipelineIngestDeps,
  type PipelineIngestOutcome,
  pruneInstanceEndpoints,
} from '../lib/core/control/pipeline-ingest.ts';
import { applyModelProfile } from '../lib/core/control/pipeline-profiles.ts';
import type { Clock } from '../lib/core/ports.ts';
import { type HandlerConfig, once, readHandlerConfig } from './shared/config.ts';
import { decodeIngestMessage, type IngestMessage } from './shared/ingest-message.ts';
import { jsonLogger, type Logger } from './shared/log.ts';
import { pipelineDeps } from './shared/pipeline-deps.ts';
import { sendToDlq } from './shared/poison.ts';
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
      supersede: heartbeatKey,
      log: deps.log,
    });
}

/**
 * An agent run's heartbeats supersede each other: only the newest in a batch is applied (an older one would
 * be a no-op after it, and before it a read and a write that change nothing the newer one does not). They
 * are ordered by sequence number within one run (bootId), as ingest orders them, not by the agent's clock:
 * two heartbeats may share a millisecond, and the later one may be the DRAINED that ends the instance.
 */
function heartbeatKey(message: IngestMessage): { key: string; order: number } | undefined {
  if (message.source !== 'agent' || message.report.kind !== 'Heartbeat') return undefined;
  const hb = message.report;
  return { key: `heartbeat:${hb.instanceId}:${hb.bootId}`, order: hb.seq };
}

/**
 * Routes one decoded message to the core ingest step that applies it. A task event moves its job first;
 * with `pipelines`, it then updates the pipeline it serves (profiles, serving endpoints), and router
 * reports and tuner requests are applied to their pipelines.
 */
export async function applyIngestMessage(
  message: IngestMessage,
  deps: CoreIngestDeps,
  pipelines?: PipelineIngestDeps,
): Promise<IngestOutcome | PipelineIngestOutcome | 'ignored'> {
  if (message.source === 'ec2') {
    const e = message.event;
    const id = e.detail['instance-id'];
    if (e['detail-type'] === 'EC2 Spot Instance Interruption Warning') return applySpotWarning(id, deps);
    if (e['detail-type'] === 'EC2 Instance Rebalance Recommendation')
      return applyRebalanceRecommendation(id, deps);
    const state = e.detail.state;
    if (state !== 'shutting-down' && state !== 'terminated') return 'ignored';
    const outcome = await applyInstanceGone(id, deps);
    // Only for the fleet's own instances (the rule forwards the whole account's), and also on a
    // redelivery that finds the instance already gone: the prune is idempotent.
    if (pipelines && outcome !== 'unknown') await pruneInstanceEndpoints(id, pipelines);
    return outcome;
  }
  const report = message.report;
  switch (report.kind) {
    case 'TaskEvent': {
      const outcome = await applyTaskEvent(report, deps);
      if (!pipelines || outcome === 'unknown' || outcome === 'foreign') return outcome;
      // A stale start is a stray the job side has just told its instance to stop: never list it.
      if (report.event === 'started' && outcome === 'stale') return outcome;
      const pipelineOutcome = await applyPipelineTaskEvent(report, pipelines);
      return pipelineOutcome === 'applied' ? 'applied' : outcome;
    }
    case 'Heartbeat':
      return applyHeartbeat(report, deps);
    case 'PipelineReport':
      return pipelines ? applyPipelineReport(report, pipelines) : 'ignored';
    case 'ReplicaRequest':
      return pipelines ? applyReplicaRequest(report, pipelines) : 'ignored';
    case 'ModelProfile':
      // Profiling jobs' profiles come in their TaskEvent's output; one sent on its own counts too.
      return pipelines && (await applyModelProfile(report, pipelines)) ? 'applied' : 'ignored';
    default:
      // A model server's latency report: pipeline latency comes from the router's PipelineReport.
      return 'ignored';
  }
}

export function buildIngestHandler(
  config: HandlerConfig,
  clock: Clock = { now: () => Date.now() },
  log = jsonLogger('ingest'),
) {
  const adapters = createAwsAdapters(config.adapters);
  const deps: CoreIngestDeps = {
    jobs: adapters.jobs,
    tasks: adapters.fleetStore,
    instances: adapters.fleetStore,
    channel: adapters.channel,
    fleet: adapters.fleet,
    clock,
    log,
  };
  // With the task records, the pipeline step also checks a serving report comes from its task's instance.
  const pipelines = { ...pipelineDeps(adapters, config, clock, log), tasks: adapters.fleetStore };
  // Both queues feed this handler; poison goes back to the DLQ of the queue it came from.
  const reportsDlq = sendToDlq(adapters.queue(config.dlqs.reports), 'ingest');
  const eventsDlq = sendToDlq(adapters.queue(config.dlqs.events), 'ingest');
  return createIngestHandler({
    apply: async (message) => {
      const outcome = await applyIngestMessage(message, deps, pipelines);
      if (outcome !== 'applied') log.info('ingest made no change', { outcome, kind: kindOf(message) });
    },
    onPoison: (poison) => (/"detail-type"\s*:/.test(poison.body) ? eventsDlq(poison) : reportsDlq(poison)),
    log,
  });
}

function kindOf(message: IngestMessage): string {
  return message.source === 'ec2' ? message.event['detail-type'] : message.report.kind;
}

const live = once(() => buildIngestHandler(readHandlerConfig(process.env)));
export const handler = (event: unknown): Promise<SqsBatchResponse> => live()(event);
