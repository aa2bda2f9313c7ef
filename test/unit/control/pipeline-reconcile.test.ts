import { describe, expect, it } from 'vitest';
import { configTag, LABEL, routerJobId } from '../../../lib/core/control/pipeline-jobs.ts';
import { reconcilePipeline, warmHeadroom } from '../../../lib/core/control/pipeline-reconcile.ts';
import type { Job } from '../../../lib/core/model/job.ts';
import type { PipelineRecord, ServingPlan } from '../../../lib/core/model/pipeline-serving.ts';
import {
  constructorStageRecord,
  pipelineWorld,
  servingPlan,
  twoStageSpec,
} from '../../fakes/fake-pipeline-store.ts';

/**
 * A stored plan whose sample envelope stays at the planned rate at every window, and whose stages run at
 * ρ = 0.4: that rate needs ⌈20 / (100 · 0.4)⌉ = 1 replica, under the 2 planned, so there is no warm
 * headroom.
 */
function plan(o: Partial<ServingPlan> = {}): ServingPlan {
  const stage = { visitFraction: 1, replicaThroughputQps: 100, plannedReplicas: 2, rho: 0.4 };
  const base = servingPlan({
    config: {
      detect: { instanceType: 'c7i.xlarge', maxBatch: 4, replicas: 2, maxQueueDelayMs: 0 },
      classify: { instanceType: 'c7i.large', maxBatch: 2, replicas: 2, maxQueueDelayMs: 0 },
    },
    costPerHour: 0.5,
    p99Ms: 80,
    stage,
  });
  const sample = { windowsMs: [1000, 60_000], counts: [20, 1200], ratesPerSecond: [20, 20] };
  return { ...base, basis: { ...base.basis, sample }, ...o };
}

async function serving(targets: Record<string, number> = { detect: 2, classify: 2 }, p = plan()) {
  const w = pipelineWorld();
  const record: PipelineRecord = {
    pipelineId: 'vision',
    spec: twoStageSpec(),
    status: 'SERVING',
    createdAt: 0,
    updatedAt: 0,
    version: 3,
    plan: p,
    targets,
    targetsAt: 1,
  };
  await w.pipelines.create(record);
  const live = (role: string, stage?: string) =>
    [...w.jobs.jobs.values()].filter(
      (j: Job) =>
        j.status !== 'CANCELLED' &&
        j.spec.labels[LABEL.role] === role &&
        (stage === undefined || j.spec.labels[LABEL.stage] === stage),
    );
  return { ...w, record, live };
}

describe('replica reconciliation', () => {
  it('submits each stage its target of replicas and exactly one router', async () => {
    const w = await serving({ detect: 3, classify: 1 });
    const out = await reconcilePipeline(w.record, w.deps);
    expect(out.submitted).toHaveLength(5);
    expect(w.live('replica', 'detect')).toHaveLength(3);
    expect(w.live('replica', 'classify')).toHaveLength(1);
    expect(w.live('router')).toHaveLength(1);
    expect(w.live('replica', 'detect')[0]?.spec.alternatives[0]?.durationSeconds).toBe(3600);
  });

  it('is idempotent: a second or concurrent reconcile adds nothing', async () => {
    const w = await serving();
    const [a, b] = await Promise.all([
      reconcilePipeline(w.record, w.deps),
      reconcilePipeline(w.record, w.deps),
    ]);
    const again = await reconcilePipeline(w.record, w.deps);
    expect(a.submitted.length + b.submitted.length).toBe(5);
    expect(again).toEqual({ submitted: [], cancelled: [] });
    expect(w.live('replica')).toHaveLength(4);
    expect(w.live('router')).toHaveLength(1);
  });

  it('cancels the highest slots when the target falls, keeping a replaced low slot', async () => {
    const w = await serving({ detect: 4, classify: 1 });
    await reconcilePipeline(w.record, w.deps);
    const slotOf = (j: Job) => j.spec.labels[LABEL.slot];
    // Slot 0 fails and is replaced: its new job is the stage's newest.
    const first = w.live('replica', 'detect').find((j) => slotOf(j) === '0');
    if (!first) throw new Error('no slot 0');
    w.jobs.jobs.set(first.id, { ...first, status: 'FAILED' });
    w.clock.t += 5_000;
    const replaced = await reconcilePipeline(w.record, w.deps);
    expect(replaced.submitted).toHaveLength(1);
    const surplus = w
      .live('replica', 'detect')
      .filter((j) => slotOf(j) !== '0' && j.status !== 'FAILED')
      .map((j) => j.id);
    expect(surplus).toHaveLength(3);
    const out = await reconcilePipeline({ ...w.record, targets: { detect: 1, classify: 1 } }, w.deps);
    expect([...out.cancelled].sort()).toEqual(surplus.sort());
    const left = w.live('replica', 'detect').filter((j) => j.status !== 'FAILED');
    expect(left.map((j) => j.id)).toEqual(replaced.submitted);
    expect(w.live('router')).toHaveLength(1);
  });

  it('replaces a replica whose job ended under a new job id', async () => {
    const w = await serving({ detect: 1, classify: 1 });
    await reconcilePipeline(w.record, w.deps);
    const [dead] = w.live('replica', 'detect');
    if (!dead) throw new Error('no replica');
    w.jobs.jobs.set(dead.id, { ...dead, status: 'FAILED' });
    const out = await reconcilePipeline(w.record, w.deps);
    expect(out.submitted).toHaveLength(1);
    expect(out.submitted[0]).not.toBe(dead.id);
    expect(w.jobs.jobs.get(out.submitted[0] as string)?.spec.labels[LABEL.slot]).toBe('0');
  });

  it('replaces a slot that has been replaced many times, reading only a few of its old jobs', async () => {
    const w = await serving({ detect: 1, classify: 1 });
    for (let round = 0; round < 21; round++) {
      await reconcilePipeline(w.record, w.deps);
      for (const j of w.live('replica', 'detect')) w.jobs.jobs.set(j.id, { ...j, status: 'FAILED' });
    }
    const reads = w.jobs.callsOf('get').length;
    const out = await reconcilePipeline(w.record, w.deps);
    expect(out.submitted).toHaveLength(1);
    expect(out.submitted[0]).toMatch(/:0:21$/);
    expect(w.jobs.callsOf('get').length - reads).toBeLessThan(20);
  });

  it('retires replicas of another configuration once the re-planned ones run', async () => {
    const w = await serving({ detect: 1, classify: 1 });
    await reconcilePipeline(w.record, w.deps);
    const replanned = {
      ...w.record,
      plan: plan({
        config: {
          ...plan().config,
          detect: { instanceType: 'g5.xlarge', maxBatch: 8, replicas: 1, maxQueueDelayMs: 0 },
        },
      }),
    };
    const gpuTag = configTag({ instanceType: 'g5.xlarge', maxBatch: 8 });
    const first = await reconcilePipeline(replanned, w.deps);
    expect(first.cancelled).toEqual([]);
    expect(
      w
        .live('replica', 'detect')
        .map((j) => j.spec.labels[LABEL.config])
        .sort(),
    ).toEqual([configTag({ instanceType: 'c7i.xlarge', maxBatch: 4 }), gpuTag].sort());
    const fresh = w.live('replica', 'detect').find((j) => j.spec.labels[LABEL.config] === gpuTag);
    if (!fresh) throw new Error('no new replica');
    w.jobs.jobs.set(fresh.id, { ...fresh, status: 'RUNNING', attempts: 1 });
    const second = await reconcilePipeline(replanned, w.deps);
    expect(second.cancelled).toHaveLength(1);
    expect(w.live('replica', 'detect').map((j) => j.spec.labels[LABEL.config])).toEqual([gpuTag]);
  });

  it('keeps one router when two exist, cancelling the newer', async () => {
    const w = await serving();
    await reconcilePipeline(w.record, w.deps);
    const [router] = w.live('router');
    if (!router) throw new Error('no router');
    const extra = routerJobId('vision', 7);
    w.jobs.jobs.set(extra, { ...router, id: extra, submittedAt: router.submittedAt + 5 });
    const out = await reconcilePipeline(w.record, w.deps);
    expect(out.cancelled).toEqual([extra]);
    expect(w.live('router').map((j) => j.id)).toEqual([router.id]);
  });

  it('cancels every job of a STOPPED pipeline', async () => {
    const w = await serving();
    await reconcilePipeline(w.record, w.deps);
    const out = await reconcilePipeline({ ...w.record, status: 'STOPPED' }, w.deps);
    expect(out.cancelled).toHaveLength(5);
    expect(w.live('replica')).toEqual([]);
    expect(w.live('router')).toEqual([]);
  });

  it('adds warm headroom for a sample that bursts within the boot latency of the stage type', async () => {
    const bursty = plan();
    const sample = { windowsMs: [1000, 60_000], counts: [20, 6000], ratesPerSecond: [20, 100] };
    const p = { ...bursty, basis: { ...bursty.basis, sample } };
    // c7i types boot in 60 s: r_B = 100/s needs ceil(100 / (100 * 0.4)) = 3 replicas where 2 were planned.
    expect(warmHeadroom(p)).toEqual({ detect: 1, classify: 1 });
    const w = await serving({ detect: 2, classify: 2 }, p);
    await reconcilePipeline(w.record, w.deps);
    expect(w.live('replica', 'detect')).toHaveLength(3);
  });

  it('serves a target above the plan from the stored headroom first, launching only past it', async () => {
    const p = { ...plan(), headroom: { detect: 2, classify: 0 } };
    // detect: planned 2, headroom 2. A target of 3 fits in the 4 warm replicas: nothing is launched.
    const w = await serving({ detect: 2, classify: 2 }, p);
    await reconcilePipeline(w.record, w.deps);
    expect(w.live('replica', 'detect')).toHaveLength(4);
    const up = await reconcilePipeline({ ...w.record, targets: { detect: 3, classify: 2 } }, w.deps);
    expect(up.submitted).toEqual([]);
    expect(w.live('replica', 'detect')).toHaveLength(4);
    // A target of 6 is past them: 6 replicas, not 6 + 2.
    const past = await reconcilePipeline({ ...w.record, targets: { detect: 6, classify: 2 } }, w.deps);
    expect(past.submitted).toHaveLength(2);
    expect(w.live('replica', 'detect')).toHaveLength(6);
    // Back to the plan: the headroom stays warm on top of it.
    await reconcilePipeline({ ...w.record, targets: { detect: 2, classify: 2 } }, w.deps);
    expect(w.live('replica', 'detect')).toHaveLength(4);
  });

  it('lets only the warm headroom slots run on spot when the spec asks for spotHeadroom', async () => {
    const p = { ...plan(), headroom: { detect: 2, classify: 0 } };
    const spotOf = (w: Awaited<ReturnType<typeof serving>>) =>
      w
        .live('replica', 'detect')
        .map((j) => [Number(j.spec.labels[LABEL.slot]), j.spec.alternatives[0]?.requirement.spot] as const)
        .sort((a, b) => a[0] - b[0]);
    const w = await serving({ detect: 2, classify: 2 }, p);
    await reconcilePipeline({ ...w.record, spec: { ...w.record.spec, spotHeadroom: true } }, w.deps);
    // Slots 0-1 serve the plan (on-demand), 2-3 are the headroom (spot allowed).
    expect(spotOf(w)).toEqual([
      [0, false],
      [1, false],
      [2, true],
      [3, true],
    ]);
    expect(
      w.live('replica', 'classify').every((j) => j.spec.alternatives[0]?.requirement.spot === false),
    ).toBe(true);
    // A scale-up past the headroom is on-demand again.
    await reconcilePipeline(
      { ...w.record, spec: { ...w.record.spec, spotHeadroom: true }, targets: { detect: 5, classify: 2 } },
      w.deps,
    );
    expect(spotOf(w).at(-1)).toEqual([4, false]);
    // Without the flag, no replica may use spot.
    const plain = await serving({ detect: 2, classify: 2 }, p);
    await reconcilePipeline(plain.record, plain.deps);
    expect(spotOf(plain).every(([, spot]) => spot === false)).toBe(true);
  });

  it('keeps the headroom the plan stores on top of the targets, over the formula', async () => {
    const bursty = plan();
    const sample = { windowsMs: [1000, 60_000], counts: [20, 6000], ratesPerSecond: [20, 100] };
    const p = { ...bursty, basis: { ...bursty.basis, sample }, headroom: { detect: 2, classify: 0 } };
    expect(warmHeadroom(p)).toEqual({ detect: 2, classify: 0 });
    const w = await serving({ detect: 1, classify: 2 }, p);
    await reconcilePipeline(w.record, w.deps);
    expect(w.live('replica', 'detect')).toHaveLength(3);
    expect(w.live('replica', 'classify')).toHaveLength(2);
  });

  it('submits the planned replicas of a stage named constructor that has no target yet', async () => {
    const w = pipelineWorld();
    const record = constructorStageRecord(plan(), 1);
    await w.pipelines.create(record);

    const out = await reconcilePipeline(record, w.deps);

    const stageOf = (id: string) => w.jobs.jobs.get(id)?.spec.labels[LABEL.stage];
    expect(out.submitted.filter((id) => stageOf(id) === 'constructor')).toHaveLength(2);
    expect(out.submitted.filter((id) => stageOf(id) === 'classify')).toHaveLength(1);
  });
});
