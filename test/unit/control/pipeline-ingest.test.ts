import { describe, expect, it } from 'vitest';
import {
  applyPipelineReport,
  applyPipelineTaskEvent,
  applyReplicaRequest,
  MAX_REPLICAS_PER_STAGE,
  pruneInstanceEndpoints,
} from '../../../lib/core/control/pipeline-ingest.ts';
import { LABEL } from '../../../lib/core/control/pipeline-jobs.ts';
import { reconcilePipeline } from '../../../lib/core/control/pipeline-reconcile.ts';
import { TaskRecordSchema } from '../../../lib/core/control/task-record.ts';
import { type PipelineRecord, ROUTER_STAGE } from '../../../lib/core/model/pipeline-serving.ts';
import { type ReplicaRequest, ReplicaRequestSchema } from '../../../lib/core/protocol/pipeline.ts';
import { type TaskEvent, TaskEventSchema } from '../../../lib/core/protocol/tasks.ts';
import {
  constructorStageRecord,
  pipelineWorld,
  servingPlan,
  twoStageSpec,
} from '../../fakes/fake-pipeline-store.ts';

async function serving() {
  const w = pipelineWorld();
  const record: PipelineRecord = {
    pipelineId: 'vision',
    spec: twoStageSpec(),
    status: 'SERVING',
    createdAt: 0,
    updatedAt: 0,
    version: 1,
    // ρ = 0.4: the sample's rate fits the planned replica, so no warm headroom is added.
    plan: servingPlan(),
    targets: { detect: 1, classify: 1 },
    targetsAt: 1000,
  };
  await w.pipelines.create(record);
  await reconcilePipeline(record, w.deps);
  const jobOf = (role: string, stageId?: string) => {
    const job = [...w.jobs.jobs.values()].find(
      (j) => j.spec.labels[LABEL.role] === role && (!stageId || j.spec.labels[LABEL.stage] === stageId),
    );
    if (!job) throw new Error(`no ${role} job`);
    return job;
  };
  return { ...w, jobOf };
}

function event(jobId: string, o: Partial<TaskEvent> = {}): TaskEvent {
  return TaskEventSchema.parse({
    version: 1,
    kind: 'TaskEvent',
    event: 'started',
    jobId,
    taskIndex: 0,
    attempt: 0,
    instanceId: 'i-1',
    at: 5000,
    ...o,
  });
}

function request(o: Partial<ReplicaRequest> = {}): ReplicaRequest {
  return ReplicaRequestSchema.parse({
    version: 1,
    kind: 'ReplicaRequest',
    pipelineId: 'vision',
    instanceId: 'i-router',
    at: 2000,
    targets: { detect: 3, classify: 1 },
    reason: 'scale-up',
    ratePerSecond: 60,
    ...o,
  });
}

describe('pipeline ingest', () => {
  it('lists a started replica and router under their stages, and removes them when they end', async () => {
    const w = await serving();
    const replica = w.jobOf('replica', 'detect');
    const router = w.jobOf('router');
    for (const job of [replica, router]) w.jobs.jobs.set(job.id, { ...job, status: 'RUNNING', attempts: 1 });
    await applyPipelineTaskEvent(event(replica.id, { endpoint: 'http://10.0.0.5:8081' }), w.deps);
    await applyPipelineTaskEvent(event(router.id, { endpoint: 'http://10.0.0.6:8080' }), w.deps);
    await applyPipelineTaskEvent(event(router.id, { endpoint: 'http://10.0.0.6:8080' }), w.deps);
    const served = await w.pipelines.getServing('vision');
    expect(served?.endpoints.map((e) => [e.stageId, e.url]).sort()).toEqual([
      [ROUTER_STAGE, 'http://10.0.0.6:8080'],
      ['detect', 'http://10.0.0.5:8081'],
    ]);
    await applyPipelineTaskEvent(event(replica.id, { event: 'cancelled', reason: 'cancel' }), w.deps);
    expect((await w.pipelines.getServing('vision'))?.endpoints.map((e) => e.stageId)).toEqual([ROUTER_STAGE]);
  });

  it('drops the endpoints of an instance that is gone, and only those', async () => {
    const w = await serving();
    const detect = w.jobOf('replica', 'detect');
    const classify = w.jobOf('replica', 'classify');
    for (const job of [detect, classify]) w.jobs.jobs.set(job.id, { ...job, status: 'RUNNING', attempts: 1 });
    await applyPipelineTaskEvent(
      event(detect.id, { endpoint: 'http://10.0.0.5:8081', instanceId: 'i-gone' }),
      w.deps,
    );
    await applyPipelineTaskEvent(
      event(classify.id, { endpoint: 'http://10.0.0.7:8081', instanceId: 'i-up' }),
      w.deps,
    );
    expect(await pruneInstanceEndpoints('i-gone', w.deps)).toBe(1);
    expect(await pruneInstanceEndpoints('i-gone', w.deps)).toBe(0);
    const left = (await w.pipelines.getServing('vision'))?.endpoints ?? [];
    expect(left.map((e) => [e.stageId, e.instanceId])).toEqual([['classify', 'i-up']]);
  });

  it('ignores a start reported by an older attempt of a replica', async () => {
    const w = await serving();
    const replica = w.jobOf('replica', 'detect');
    w.jobs.jobs.set(replica.id, { ...replica, status: 'RUNNING', attempts: 2 });
    const outcome = await applyPipelineTaskEvent(event(replica.id, { endpoint: 'http://old:1' }), w.deps);
    expect(outcome).toBe('stale');
    expect((await w.pipelines.getServing('vision'))?.endpoints).toEqual([]);
  });

  it('sets targets from a newer replica request and submits the replicas at once', async () => {
    const w = await serving();
    expect(await applyReplicaRequest(request(), w.deps)).toBe('applied');
    expect(await w.pipelines.get('vision')).toMatchObject({
      targets: { detect: 3, classify: 1 },
      targetsAt: 2000,
    });
    const detect = [...w.jobs.jobs.values()].filter(
      (j) => j.spec.labels[LABEL.stage] === 'detect' && j.status !== 'CANCELLED',
    );
    expect(detect).toHaveLength(3);
  });

  it('ignores a replica request older than the targets, and one for a stage not in the plan', async () => {
    const w = await serving();
    expect(await applyReplicaRequest(request({ at: 500 }), w.deps)).toBe('stale');
    await applyReplicaRequest(request({ at: 3000, targets: { detect: 2, nosuch: 9 } }), w.deps);
    expect((await w.pipelines.get('vision'))?.targets).toEqual({ detect: 2, classify: 1 });
  });

  it('keeps router reports of known pipelines only', async () => {
    const w = await serving();
    const report = {
      version: 1 as const,
      kind: 'PipelineReport' as const,
      pipelineId: 'vision',
      instanceId: 'i-router',
      intervalStartMs: 0,
      intervalEndMs: 5000,
      arrivals: 100,
      completed: 99,
      shed: 1,
      late: 0,
      errors: 0,
      dropped: 0,
      latency: { p50Ms: 10, p90Ms: 20, p99Ms: 40, maxMs: 50 },
      stages: {},
    };
    expect(await applyPipelineReport(report, w.deps)).toBe('applied');
    expect(await applyPipelineReport({ ...report, pipelineId: 'other' }, w.deps)).toBe('unknown');
    expect(await w.pipelines.recentReports('vision', 5)).toHaveLength(1);
  });

  it('clamps a replica target above the most a stage may have, and logs it', async () => {
    const w = await serving();
    const lines: { message: string; fields?: Record<string, unknown> }[] = [];
    const log = {
      info: () => {},
      error: () => {},
      warn: (message: string, fields?: Record<string, unknown>) => lines.push({ message, fields }),
    };

    await applyReplicaRequest(request({ targets: { detect: 2000, classify: 1 } }), { ...w.deps, log });

    expect((await w.pipelines.get('vision'))?.targets).toEqual({
      detect: MAX_REPLICAS_PER_STAGE,
      classify: 1,
    });
    const detect = [...w.jobs.jobs.values()].filter(
      (j) => j.spec.labels[LABEL.stage] === 'detect' && j.status !== 'CANCELLED',
    );
    expect(detect).toHaveLength(MAX_REPLICAS_PER_STAGE);
    expect(lines).toContainEqual({
      message: 'clamped a replica target to the most a stage may have',
      fields: expect.objectContaining({ stageId: 'detect', asked: 2000, max: MAX_REPLICAS_PER_STAGE }),
    });
  });

  it('keeps a user job out of the serving directory though its task names a pipeline stage', async () => {
    const w = await serving();
    const replica = w.jobOf('replica', 'detect');
    // A job the pipeline did not create, whatever its task and labels claim.
    const forged = { ...replica, id: 'user-job', status: 'RUNNING' as const, attempts: 1 };
    w.jobs.jobs.set(forged.id, forged);

    expect(await applyPipelineTaskEvent(event(forged.id, { endpoint: 'http://evil:1' }), w.deps)).toBe(
      'ignored',
    );

    expect((await w.pipelines.getServing('vision'))?.endpoints).toEqual([]);
  });

  it('does not list a server started for a replica job that already ended', async () => {
    const w = await serving();
    const replica = w.jobOf('replica', 'detect');
    w.jobs.jobs.set(replica.id, { ...replica, status: 'CANCELLED', attempts: 1 });

    expect(await applyPipelineTaskEvent(event(replica.id, { endpoint: 'http://late:1' }), w.deps)).toBe(
      'stale',
    );

    expect((await w.pipelines.getServing('vision'))?.endpoints).toEqual([]);
  });

  it('does not list a server reported by an instance its task is not placed on', async () => {
    const w = await serving();
    const replica = w.jobOf('replica', 'detect');
    w.jobs.jobs.set(replica.id, { ...replica, status: 'RUNNING', attempts: 1 });
    const tasks = {
      tasksOfJob: async () => [
        TaskRecordSchema.parse({
          jobId: replica.id,
          taskIndex: 0,
          attempt: 0,
          instanceId: 'i-placed',
          state: 'RUNNING',
          alternative: 0,
          resources: { vcpu: 1, memoryMiB: 1024, gpus: 0 },
          startAt: 0,
          expectedEndAt: 1,
          updatedAt: 0,
        }),
      ],
    };

    const outcome = await applyPipelineTaskEvent(
      event(replica.id, { endpoint: 'http://elsewhere:1', instanceId: 'i-other' }),
      { ...w.deps, tasks },
    );

    expect(outcome).toBe('stale');
    expect((await w.pipelines.getServing('vision'))?.endpoints).toEqual([]);
  });
});

describe('pipeline ingest: a stage named like an Object property', () => {
  it('keeps the targets of a stage named constructor that a replica request leaves out', async () => {
    const w = pipelineWorld();
    const record = constructorStageRecord(servingPlan(), 1000);
    await w.pipelines.create(record);

    const outcome = await applyReplicaRequest(
      request({ pipelineId: 'proto', targets: { classify: 2 } }),
      w.deps,
    );

    expect(outcome).toBe('applied');
    expect((await w.pipelines.get('proto'))?.targets).toEqual({ constructor: 1, classify: 2 });
    const constructorReplicas = [...w.jobs.jobs.values()].filter(
      (j) => j.spec.labels[LABEL.stage] === 'constructor' && j.spec.labels[LABEL.role] === 'replica',
    );
    expect(constructorReplicas).toHaveLength(1);
  });
});
