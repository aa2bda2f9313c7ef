import { ConflictError } from '../errors.ts';
import type { Job } from '../model/job.ts';
import { isTerminal } from '../model/job-state.ts';
import { type PipelineRecord, ROUTER_STAGE, type ServingEndpoint } from '../model/pipeline-serving.ts';
import type { TaskStore } from '../ports.ts';
import type { PipelineReport, ReplicaRequest } from '../protocol/pipeline.ts';
import type { TaskEvent } from '../protocol/tasks.ts';
import { own } from './own.ts';
import { isPipelineJob, LABEL } from './pipeline-jobs.ts';
import { applyProfileEvent } from './pipeline-profiles.ts';
import { reconcilePipeline } from './pipeline-reconcile.ts';
import type { PipelineScaleDeps } from './pipeline-scale.ts';

/**
 * The pipeline side of ingest, applied after the job side (lib/core/control/ingest.ts) has moved the job:
 * - a profiling job's outcome stores its profile or refuses the pipeline (pipeline-profiles.ts);
 * - a serving task (a `model` task of a pipeline stage, or a `router` task, of a job the pipeline created)
 *   that reports `started` with its URL joins the serving directory, and leaves it on any terminal event or
 *   when its instance is gone (pruneInstanceEndpoints); a replica that ended is replaced by reconciling at
 *   once;
 * - a router's PipelineReport is kept among the latest; a tuner's ReplicaRequest newer than the targets
 *   sets them (conditional on the record's version, each clamped to MAX_REPLICAS_PER_STAGE) and reconciles
 *   replica jobs at once.
 */
export interface PipelineIngestDeps extends PipelineScaleDeps {
  /**
   * Task records, to check that a report comes from the instance its task is placed on. Without them a
   * report's instance is taken on trust (the job side of ingest, which has them, has already refused it).
   */
  readonly tasks?: Pick<TaskStore, 'tasksOfJob'>;
}

/**
 * The most replicas a tuner may ask for one stage: the planner's own ceiling per stage
 * (maxReplicasPerStage, 64 by default in lib/core/inference/planner-context.ts). A request above it is
 * clamped, with a log line; the stage's warm headroom comes on top, as for any target.
 */
export const MAX_REPLICAS_PER_STAGE = 64;

export type PipelineIngestOutcome = 'applied' | 'ignored' | 'stale' | 'unknown';

export async function applyPipelineTaskEvent(
  event: TaskEvent,
  deps: PipelineIngestDeps,
): Promise<PipelineIngestOutcome> {
  const job = await deps.jobs.get(event.jobId);
  if (!job) return 'unknown';
  if (!isPipelineJob(job)) return 'ignored';
  if (job.spec.labels[LABEL.role] === 'profile') {
    const outcome = await applyProfileEvent(job, event, deps);
    return outcome === 'ignored' ? 'ignored' : 'applied';
  }
  const where = servingStage(job);
  if (!where) return 'ignored';
  if (!(await placedOnReporter(event, deps))) return 'stale';
  const key = { ...where, jobId: job.id, taskIndex: event.taskIndex, attempt: event.attempt };
  if (event.event === 'started') {
    // A start reported by an older attempt, or of a job already ended, is a server that is already gone.
    if (!event.endpoint || event.attempt !== job.attempts - 1 || isTerminal(job.status)) return 'stale';
    const endpoint: ServingEndpoint = {
      ...key,
      instanceId: event.instanceId,
      url: event.endpoint,
      since: event.at,
    };
    await deps.pipelines.putEndpoint(endpoint);
    return 'applied';
  }
  await deps.pipelines.deleteEndpoint(key);
  const record = await deps.pipelines.get(where.pipelineId);
  const now = await deps.jobs.get(job.id);
  if (record?.status === 'SERVING' && now && isTerminal(now.status)) await reconcilePipeline(record, deps);
  return 'applied';
}

/**
 * An instance is gone (terminated, or shutting down): its serving tasks will never report their end, so
 * every endpoint it listed leaves the serving directory now, before a router keeps trying a dead URL.
 * Returns how many were removed.
 */
export async function pruneInstanceEndpoints(
  instanceId: string,
  deps: Pick<PipelineIngestDeps, 'pipelines'>,
): Promise<number> {
  let removed = 0;
  for (const record of await deps.pipelines.list()) {
    if (record.status !== 'SERVING') continue;
    const serving = await deps.pipelines.getServing(record.pipelineId);
    for (const e of serving?.endpoints ?? []) {
      if (e.instanceId !== instanceId) continue;
      await deps.pipelines.deleteEndpoint(e);
      removed++;
    }
  }
  return removed;
}

/**
 * The pipeline and stage a serving job's endpoint is listed under, if it is one: a replica or router job the
 * pipeline's own code created (isPipelineJob), whose task names the same pipeline and stage as its labels.
 * A task that merely names a pipeline joins nothing.
 */
export function servingStage(
  job: Pick<Job, 'id' | 'spec'>,
): { pipelineId: string; stageId: string } | undefined {
  if (!isPipelineJob(job)) return undefined;
  const labels = job.spec.labels;
  const task = job.spec.task;
  if (task.kind === 'router' && labels[LABEL.role] === 'router' && labels[LABEL.pipeline] === task.pipelineId)
    return { pipelineId: task.pipelineId, stageId: ROUTER_STAGE };
  if (
    task.kind === 'model' &&
    task.pipelineId &&
    task.stageId &&
    labels[LABEL.role] === 'replica' &&
    labels[LABEL.pipeline] === task.pipelineId &&
    labels[LABEL.stage] === task.stageId
  )
    return { pipelineId: task.pipelineId, stageId: task.stageId };
  return undefined;
}

/** False when the task records say the task runs on another instance than the one reporting it. */
async function placedOnReporter(event: TaskEvent, deps: PipelineIngestDeps): Promise<boolean> {
  if (!deps.tasks) return true;
  const record = (await deps.tasks.tasksOfJob(event.jobId)).find(
    (t) => t.taskIndex === event.taskIndex && t.attempt === event.attempt,
  );
  if (!record || record.instanceId === event.instanceId) return true;
  deps.log?.warn('ignored a serving report from an instance the task is not placed on', {
    jobId: event.jobId,
    reportedBy: event.instanceId,
    placedOn: record.instanceId,
  });
  return false;
}

export async function applyPipelineReport(
  report: PipelineReport,
  deps: Pick<PipelineIngestDeps, 'pipelines'>,
): Promise<PipelineIngestOutcome> {
  const record = await deps.pipelines.get(report.pipelineId);
  if (!record) return 'unknown';
  await deps.pipelines.putReport(report);
  return 'applied';
}

/** A tuner's request: newer than the targets, for a SERVING pipeline, sets them and reconciles. */
export async function applyReplicaRequest(
  request: ReplicaRequest,
  deps: PipelineIngestDeps,
): Promise<PipelineIngestOutcome> {
  for (let attempt = 0; ; attempt++) {
    const record = await deps.pipelines.get(request.pipelineId);
    if (!record) return 'unknown';
    if (record.status !== 'SERVING' || !record.plan) return 'ignored';
    if (request.at <= record.targetsAt) return 'stale';
    const targets = targetsFor(record, request.targets, deps.log);
    let updated: PipelineRecord;
    try {
      updated = await deps.pipelines.update(
        record.pipelineId,
        record.version,
        { targets, targetsAt: request.at },
        deps.clock.now(),
      );
    } catch (error) {
      if (!(error instanceof ConflictError) || attempt >= 4) throw error;
      continue;
    }
    deps.log?.info('replica targets set by the tuner', {
      pipelineId: record.pipelineId,
      reason: request.reason,
      targets,
    });
    await reconcilePipeline(updated, deps);
    return 'applied';
  }
}

/**
 * Only the plan's stages; a stage the request leaves out keeps its current target, and none goes above
 * MAX_REPLICAS_PER_STAGE.
 */
function targetsFor(
  record: PipelineRecord,
  wanted: Readonly<Record<string, number>>,
  log: PipelineIngestDeps['log'],
): Record<string, number> {
  const out: Record<string, number> = {};
  const config = record.plan?.config ?? {};
  for (const stageId of Object.keys(config)) {
    const target =
      own(wanted, stageId) ?? own(record.targets, stageId) ?? own(config, stageId)?.replicas ?? 1;
    if (target > MAX_REPLICAS_PER_STAGE)
      log?.warn('clamped a replica target to the most a stage may have', {
        pipelineId: record.pipelineId,
        stageId,
        asked: target,
        max: MAX_REPLICAS_PER_STAGE,
      });
    out[stageId] = Math.min(target, MAX_REPLICAS_PER_STAGE);
  }
  return out;
}
