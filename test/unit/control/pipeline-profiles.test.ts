import { describe, expect, it } from 'vitest';
import { admitPipeline } from '../../../lib/core/control/pipeline-admit.ts';
import { applyPipelineTaskEvent } from '../../../lib/core/control/pipeline-ingest.ts';
import { modelIdFor, profileJobId } from '../../../lib/core/control/pipeline-jobs.ts';
import { advanceProfiling, profileFromOutput } from '../../../lib/core/control/pipeline-profiles.ts';
import type { ModelProfile } from '../../../lib/core/protocol/inference.ts';
import { SubmitPipelineSchema } from '../../../lib/core/protocol/pipeline.ts';
import { type TaskEvent, TaskEventSchema } from '../../../lib/core/protocol/tasks.ts';
import { pipelineWorld, twoStageSpec } from '../../fakes/fake-pipeline-store.ts';

const DETECT = modelIdFor('/models/detect.onnx');
const CLASSIFY = modelIdFor('/models/classify.onnx');
const TYPES = ['c7i.large', 'c7i.xlarge', 'g5.xlarge'];

function report(modelId: string, instanceType: string, provider: 'cpu' | 'cuda', p99Ms = 12): ModelProfile {
  return {
    version: 1,
    kind: 'ModelProfile',
    modelId,
    instanceType,
    provider,
    measured: true,
    entries: [1, 2, 4].map((b) => ({
      batchSize: b,
      p50Ms: p99Ms * 0.8 * b ** 0.5,
      p99Ms: p99Ms * b ** 0.5,
      throughputQps: (b * 1000) / (p99Ms * b ** 0.5),
      samples: 30,
    })),
  };
}

function event(jobId: string, o: Partial<TaskEvent> = {}): TaskEvent {
  return TaskEventSchema.parse({
    version: 1,
    kind: 'TaskEvent',
    event: 'succeeded',
    jobId,
    taskIndex: 0,
    attempt: 0,
    instanceId: 'i-1',
    at: 1,
    exitCode: 0,
    ...o,
  });
}

/** A stdout tail as the profile CLI leaves it: progress noise, then the pretty-printed profile. */
function stdoutOf(profile: ModelProfile): string {
  return `loading model\nwarming up\n${JSON.stringify(profile, null, 2)}\n`;
}

async function admitted(allowedTypes?: string[]) {
  const w = pipelineWorld(allowedTypes ? { allowedTypes } : {});
  const submission = SubmitPipelineSchema.parse({
    version: 1,
    kind: 'SubmitPipeline',
    pipelineId: 'vision',
    spec: twoStageSpec(),
  });
  await admitPipeline(submission, w.deps);
  /** Reports one profiling job finished with `profile` on stdout (the job store moves it first). */
  const finish = async (modelId: string, type: string, profile: ModelProfile | string) => {
    const id = profileJobId('vision', { modelId, instanceType: type });
    const job = w.jobs.jobs.get(id);
    if (!job) throw new Error(`no job ${id}`);
    w.jobs.jobs.set(id, { ...job, status: 'SUCCEEDED', attempts: 1 });
    const stdout = typeof profile === 'string' ? profile : stdoutOf(profile);
    return applyPipelineTaskEvent(event(id, { output: { stdout, stderr: '', truncated: false } }), w.deps);
  };
  return { ...w, finish };
}

describe('profile ingestion', () => {
  it('reads the last ModelProfile of a stdout tail, pretty-printed after progress lines', () => {
    const p = report('m', 'c7i.large', 'cpu');
    expect(profileFromOutput(stdoutOf(p))?.entries).toHaveLength(3);
    expect(profileFromOutput(JSON.stringify(p))?.modelId).toBe('m');
    expect(profileFromOutput('no profile here\n{"not": "a profile"}')).toBeUndefined();
  });

  it('stores a CPU type profile as measured under the job pair, whatever type the agent reported', async () => {
    const w = await admitted();
    await w.finish(DETECT, 'c7i.large', report(DETECT, 'unknown', 'cpu'));
    const [stored] = await w.pipelines.profilesOf(DETECT);
    expect(stored).toMatchObject({ instanceType: 'c7i.large', source: { kind: 'measured' } });
    expect(stored?.points[0]?.latencyMs).toBeCloseTo(12);
  });

  it('stores a GPU type profile measured on CUDA as measured', async () => {
    const w = await admitted();
    await w.finish(DETECT, 'g5.xlarge', report(DETECT, 'g5.xlarge', 'cuda', 2));
    const stored = (await w.pipelines.profilesOf(DETECT)).find((p) => p.instanceType === 'g5.xlarge');
    expect(stored?.source.kind).toBe('measured');
  });

  it('never stores a GPU type profiled on CPU as measured, and derives it once a CPU profile exists', async () => {
    const w = await admitted();
    await w.finish(DETECT, 'g5.xlarge', report(DETECT, 'g5.xlarge', 'cpu', 12));
    expect(await w.pipelines.profilesOf(DETECT)).toEqual([]);
    await w.finish(DETECT, 'c7i.xlarge', report(DETECT, 'c7i.xlarge', 'cpu', 10));
    const gpu = (await w.pipelines.profilesOf(DETECT)).find((p) => p.instanceType === 'g5.xlarge');
    expect(gpu?.source).toMatchObject({ kind: 'derived', fromInstanceType: 'c7i.xlarge' });
    if (gpu?.source.kind !== 'derived') return;
    expect(gpu.source.derivation).toContain('A10G');
    expect(gpu.points[0]?.latencyMs).toBeCloseTo(10 / gpu.source.factor);
  });

  it('derives a GPU type profiled on CPU from a GPU measurement of the same model, when one is stored', async () => {
    const w = await admitted(['c7i.large', 'g5.xlarge', 'g6.xlarge']);
    await w.finish(DETECT, 'c7i.large', report(DETECT, 'c7i.large', 'cpu', 10));
    await w.finish(DETECT, 'g5.xlarge', report(DETECT, 'g5.xlarge', 'cuda', 2));
    await w.finish(DETECT, 'g6.xlarge', report(DETECT, 'g6.xlarge', 'cpu', 10));
    const l4 = (await w.pipelines.profilesOf(DETECT)).find((p) => p.instanceType === 'g6.xlarge');
    expect(l4?.source).toMatchObject({ kind: 'derived', fromInstanceType: 'g5.xlarge' });
    if (l4?.source.kind !== 'derived') return;
    expect(l4.source.derivation).toMatch(/30.3 vs 31.2 TFLOPS/);
    expect(l4.points[0]?.latencyMs).toBeCloseTo(2 / l4.source.factor);
  });

  it('moves the pipeline to PLANNING when the last profile arrives', async () => {
    const w = await admitted();
    for (const model of [DETECT, CLASSIFY])
      for (const type of TYPES) {
        expect((await w.pipelines.get('vision'))?.status).toBe('PROFILING');
        await w.finish(model, type, report(model, type, type === 'g5.xlarge' ? 'cuda' : 'cpu'));
      }
    expect(await w.pipelines.get('vision')).toMatchObject({
      status: 'PLANNING',
      version: expect.any(Number),
    });
    expect((await w.pipelines.profilesOf(CLASSIFY)).map((p) => p.instanceType).sort()).toEqual(TYPES);
  });

  it('refuses the pipeline when a profiling job succeeds without printing a profile', async () => {
    const w = await admitted();
    await w.finish(DETECT, 'c7i.large', 'segmentation fault? no: just nothing useful\n');
    expect(await w.pipelines.get('vision')).toMatchObject({
      status: 'REFUSED',
      reason: expect.stringContaining('printed no ModelProfile'),
    });
  });

  it('refuses the pipeline when a profiling job fails for good, with the job error as reason', async () => {
    const w = await admitted();
    const id = profileJobId('vision', { modelId: CLASSIFY, instanceType: 'c7i.large' });
    const job = w.jobs.jobs.get(id);
    if (!job) throw new Error('no job');
    w.jobs.jobs.set(id, {
      ...job,
      status: 'FAILED',
      attempts: 1,
      error: { code: 'EXIT', message: 'task 0 exited with code 2' },
    });
    await applyPipelineTaskEvent(event(id, { event: 'failed', exitCode: 2, reason: 'exit' }), w.deps);
    expect(await w.pipelines.get('vision')).toMatchObject({
      status: 'REFUSED',
      reason: expect.stringContaining('exited with code 2'),
    });
  });

  it('keeps waiting while a failed profiling job may still be retried', async () => {
    const w = await admitted();
    const id = profileJobId('vision', { modelId: CLASSIFY, instanceType: 'c7i.large' });
    await applyPipelineTaskEvent(event(id, { event: 'failed', exitCode: 2, reason: 'exit' }), w.deps);
    expect((await advanceProfiling('vision', w.deps))?.status).toBe('PROFILING');
  });
});
