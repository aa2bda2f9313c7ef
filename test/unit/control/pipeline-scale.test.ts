import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { LABEL, modelIdFor } from '../../../lib/core/control/pipeline-jobs.ts';
import {
  DRIFT,
  detectDrift,
  driftFloorRate,
  driftTrace,
  scaleOne,
  scalePipelines,
} from '../../../lib/core/control/pipeline-scale.ts';
import { PLAN_SLACK_MAX } from '../../../lib/core/inference/headroom.ts';
import { replicaThreadsOf } from '../../../lib/core/inference/replica.ts';
import { traceFromSpec } from '../../../lib/core/inference/traces.ts';
import { findInstanceType } from '../../../lib/core/model/catalog.ts';
import type { PipelineSpecSchema } from '../../../lib/core/model/pipeline.ts';
import { type PipelineRecord, ServingPlanSchema } from '../../../lib/core/model/pipeline-serving.ts';
import type { PipelineReport } from '../../../lib/core/protocol/pipeline.ts';
import { measuredProfile, pipelineWorld, twoStageSpec } from '../../fakes/fake-pipeline-store.ts';

const DETECT = modelIdFor('/models/detect.onnx');
const CLASSIFY = modelIdFor('/models/classify.onnx');

/** A PLANNING pipeline with every profile stored: CPU types slower, the GPU fastest. */
async function planning(sloP99Ms = 200, spec: Partial<z.input<typeof PipelineSpecSchema>> = {}) {
  const w = pipelineWorld();
  const base: Record<string, number> = { 'c7i.large': 12, 'c7i.xlarge': 7, 'g5.xlarge': 2 };
  for (const model of [DETECT, CLASSIFY])
    for (const [type, ms] of Object.entries(base))
      await w.pipelines.putProfile(measuredProfile(model, type, ms), 0);
  const now = w.clock.now();
  await w.pipelines.create({
    pipelineId: 'vision',
    spec: twoStageSpec({ sloP99Ms, ...spec }),
    status: 'PLANNING',
    createdAt: now,
    updatedAt: now,
    version: 0,
    targets: {},
    targetsAt: 0,
  });
  return w;
}

function reportAt(endMs: number, arrivals: number, p99Ms = 20): PipelineReport {
  return {
    version: 1,
    kind: 'PipelineReport',
    pipelineId: 'vision',
    instanceId: 'i-router',
    intervalStartMs: endMs - 10_000,
    intervalEndMs: endMs,
    arrivals,
    completed: arrivals,
    shed: 0,
    late: 0,
    errors: 0,
    dropped: 0,
    latency: { p50Ms: p99Ms / 2, p90Ms: p99Ms * 0.8, p99Ms, maxMs: p99Ms },
    stages: {},
  };
}

describe('scale step', () => {
  it('plans a PLANNING pipeline, stores plan, basis and targets, and submits its replicas and router', async () => {
    const w = await planning();
    const out = await scaleOne((await w.pipelines.get('vision')) as PipelineRecord, w.deps);
    const record = await w.pipelines.get('vision');
    expect(out.planned).toBe(1);
    expect(record?.status).toBe('SERVING');
    const plan = record?.plan;
    expect(plan && Object.keys(plan.config).sort()).toEqual(['classify', 'detect']);
    expect(plan?.p99Ms).toBeLessThanOrEqual(200);
    expect(plan?.basis.planningRatePerSecond).toBeGreaterThan(15);
    // The plan's one replica per stage is far from busy at the sample's rate: the estimator shows it
    // holds the bound's surge, and the stored basis gives the tuner that slack.
    expect(plan?.basis.slack).toBe(PLAN_SLACK_MAX);
    expect(ServingPlanSchema.parse(plan).basis.slack).toBe(plan?.basis.slack);
    expect(record?.targets).toEqual({
      detect: plan?.config.detect?.replicas,
      classify: plan?.config.classify?.replicas,
    });
    const jobs = [...w.jobs.jobs.values()];
    expect(jobs.filter((j) => j.spec.labels[LABEL.role] === 'router')).toHaveLength(1);
    // The plan carries its serving headroom, and each stage runs its target plus that headroom.
    expect(plan?.headroom && Object.keys(plan.headroom).sort()).toEqual(['classify', 'detect']);
    const detect = jobs.filter((j) => j.spec.labels[LABEL.stage] === 'detect');
    expect(detect.length).toBe((plan?.config.detect?.replicas ?? 0) + (plan?.headroom?.detect ?? -1));
    expect(detect[0]?.spec).toMatchObject({
      policy: 'slo-service',
      task: { kind: 'model', pipelineId: 'vision', stageId: 'detect', maxQueueDelayMs: 0 },
    });
    // Every replica runs on the threads of the vCPUs it reserves, as its profile was measured.
    const replicas = jobs.filter((j) => j.spec.labels[LABEL.role] === 'replica');
    expect(replicas.length).toBeGreaterThan(0);
    for (const job of replicas) {
      const type = findInstanceType(job.spec.labels[LABEL.instanceType] ?? '');
      if (!type) throw new Error(`replica ${job.id} names no catalog type`);
      expect(job.spec.task).toMatchObject({ kind: 'model', intraOpThreads: replicaThreadsOf(type) });
      expect(replicaThreadsOf(type)).toBe(job.spec.alternatives[0]?.requirement.vcpu);
    }
  });

  it('refuses with a reason, rather than failing every step, a sample that draws no arrival', async () => {
    // Valid (30 arrivals expected) but so bursty that this seed draws none within the duration.
    const sampleTrace = {
      kind: 'gamma' as const,
      ratePerSecond: 0.01,
      cv: 100,
      durationSeconds: 3000,
      seed: 26,
    };
    expect(traceFromSpec(sampleTrace)).toHaveLength(0);
    const w = await planning(200, { sampleTrace });
    await scaleOne((await w.pipelines.get('vision')) as PipelineRecord, w.deps);
    const record = await w.pipelines.get('vision');
    expect(record?.status).toBe('REFUSED');
    expect(record?.reason).toContain('the sample trace drew no arrivals');
  });

  it('names as derived exactly the stages whose served hardware has a derived profile', async () => {
    const w = await planning();
    // The smallest CPU type's profiles become derived ones (from the larger CPU type's measurement).
    for (const model of [DETECT, CLASSIFY]) {
      const small = (await w.pipelines.profilesOf(model)).find((p) => p.instanceType === 'c7i.large');
      if (!small) throw new Error('no c7i.large profile');
      await w.pipelines.putProfile(
        {
          ...small,
          source: { kind: 'derived', fromInstanceType: 'c7i.xlarge', factor: 0.56, derivation: 'assumed' },
        },
        0,
      );
    }
    await scaleOne((await w.pipelines.get('vision')) as PipelineRecord, w.deps);
    const plan = (await w.pipelines.get('vision'))?.plan;
    if (!plan) throw new Error('no plan');
    const onDerived = Object.entries(plan.config)
      .filter(([, c]) => c.instanceType === 'c7i.large')
      .map(([id]) => id);
    expect(onDerived.length).toBeGreaterThan(0);
    expect([...plan.derivedStages].sort()).toEqual(onDerived.sort());
  });

  /** Plans a two-stage pipeline on one CPU type at 40 ms a query (batch 1): the 20 q/s sample fits the plan, a surge does not. */
  const planOnCpu = async (over: { surgeFactor: number; spotHeadroom?: boolean }) => {
    const w = pipelineWorld();
    for (const model of [DETECT, CLASSIFY])
      await w.pipelines.putProfile(measuredProfile(model, 'c7i.large', 40), 0);
    const only = ['c7i.large'];
    await w.pipelines.create({
      pipelineId: 'vision',
      spec: twoStageSpec({
        ...over,
        stages: [
          { id: 'detect', model: { uri: '/models/detect.onnx' }, instanceTypes: only },
          { id: 'classify', model: { uri: '/models/classify.onnx' }, instanceTypes: only },
        ],
      }),
      status: 'PLANNING',
      createdAt: 0,
      updatedAt: 0,
      version: 0,
      targets: {},
      targetsAt: 0,
    });
    await scaleOne((await w.pipelines.get('vision')) as PipelineRecord, w.deps);
    const record = await w.pipelines.get('vision');
    const replicas = [...w.jobs.jobs.values()].filter((j) => j.spec.labels[LABEL.role] === 'replica');
    const headroom = Object.values(record?.plan?.headroom ?? {}).reduce((n, k) => n + k, 0);
    const planned = Object.values(record?.plan?.config ?? {}).reduce((n, c) => n + c.replicas, 0);
    // The stage jobs are the plan's replicas plus its headroom.
    expect(replicas).toHaveLength(planned + headroom);
    const onSpot = replicas.filter((j) => j.spec.alternatives[0]?.requirement.spot).length;
    return { headroom, onSpot };
  };

  it("sizes the headroom for the spec's surge factor", async () => {
    expect((await planOnCpu({ surgeFactor: 1 })).headroom).toBe(0);
    const surge = await planOnCpu({ surgeFactor: 8 });
    expect(surge.headroom).toBeGreaterThan(0);
    expect(surge.onSpot).toBe(0);
  });

  it('lets exactly the headroom replicas use spot when the spec asks for spotHeadroom', async () => {
    const { headroom, onSpot } = await planOnCpu({ surgeFactor: 8, spotHeadroom: true });
    expect(headroom).toBeGreaterThan(0);
    expect(onSpot).toBe(headroom);
  });

  it('refuses a PLANNING pipeline whose slo no configuration meets, with the planner reason', async () => {
    const w = await planning(3);
    const out = await scaleOne((await w.pipelines.get('vision')) as PipelineRecord, w.deps);
    expect(out.refused).toBe(1);
    expect(await w.pipelines.get('vision')).toMatchObject({
      status: 'REFUSED',
      reason: expect.stringContaining('slo of 3 ms is below'),
    });
    expect(w.jobs.jobs.size).toBe(0);
  });

  it('re-plans after arrivals stay above twice the planned rate for the sustained period', async () => {
    const w = await planning();
    await scalePipelines(w.deps);
    const before = (await w.pipelines.get('vision')) as PipelineRecord;
    w.clock.t += DRIFT.sustainedMs + 60_000;
    for (let end = w.clock.t - DRIFT.sustainedMs; end <= w.clock.t; end += 10_000)
      await w.pipelines.putReport(reportAt(end, 10 * 200));
    const out = await scalePipelines(w.deps);
    const after = (await w.pipelines.get('vision')) as PipelineRecord;
    expect(out.replanned).toBe(1);
    expect(after.reason).toContain('re-planned: arrivals 200/s stayed above 2x');
    expect(after.plan?.basis.planningRatePerSecond).toBeGreaterThan(150);
    expect(after.version).toBeGreaterThan(before.version);
    expect(before.plan?.basis.planningRatePerSecond).toBeLessThan(30);
    expect(after.plan?.plannedAt).toBe(w.clock.t);
  });

  it('plans an idle pipeline for a sample that holds arrivals, and not again once at that floor', () => {
    const now = 10 * DRIFT.sustainedMs;
    const at = (rate: number) =>
      ({
        spec: twoStageSpec(),
        plan: { plannedAt: 0, basis: { planningRatePerSecond: rate } },
      }) as unknown as PipelineRecord;
    const idle = Array.from({ length: 30 }, (_, i) => reportAt(now - i * 10_000, 0));
    const drift = detectDrift(at(20), idle, now);
    expect(drift).toMatchObject({ drift: true, ratePerSecond: 0 });
    const trace = driftTrace(at(20), 0);
    if (trace.kind !== 'gamma') throw new Error('a drift sample is a gamma trace');
    // The re-plan's sample holds 30 arrivals, however idle the pipeline was.
    expect(trace.ratePerSecond * trace.durationSeconds).toBeCloseTo(30, 9);
    const floor = driftFloorRate(at(20));
    expect(trace.ratePerSecond).toBe(floor);
    expect(detectDrift(at(floor), idle, now).drift).toBe(false);
  });

  it('does not re-plan on a short burst, nor while the plan is young', () => {
    const now = 10 * DRIFT.sustainedMs;
    const record = {
      spec: twoStageSpec(),
      plan: { plannedAt: 0, basis: { planningRatePerSecond: 20 } },
    } as unknown as PipelineRecord;
    const steady = Array.from({ length: 30 }, (_, i) => reportAt(now - i * 10_000, 2000));
    expect(detectDrift(record, steady, now).drift).toBe(true);
    // Thirty seconds of high traffic is a burst for the tuner, not drift.
    expect(detectDrift(record, steady.slice(0, 3), now).drift).toBe(false);
    const mixed = steady.map((r, i) => (i % 2 === 0 ? r : reportAt(r.intervalEndMs, 300)));
    expect(detectDrift(record, mixed, now).drift).toBe(false);
    const young = { ...record, plan: { ...record.plan, plannedAt: now - 1000 } } as PipelineRecord;
    expect(detectDrift(young, steady, now).drift).toBe(false);
    const slow = steady.map((r) => reportAt(r.intervalEndMs, 1500, 500));
    expect(
      detectDrift(
        { ...record, plan: { ...record.plan, basis: { planningRatePerSecond: 150 } } } as PipelineRecord,
        slow,
        now,
      ),
    ).toMatchObject({
      drift: true,
      reason: 'live p99 stayed above the slo of 200 ms',
    });
  });
});
