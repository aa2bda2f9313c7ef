import { describe, expect, it } from 'vitest';
import {
  admitPipeline,
  pipelineIdOf,
  rejectPipelineSubmission,
} from '../../../lib/core/control/pipeline-admit.ts';
import { LABEL, modelIdFor, profileJobId, profilingTypes } from '../../../lib/core/control/pipeline-jobs.ts';
import { type SubmitPipeline, SubmitPipelineSchema } from '../../../lib/core/protocol/pipeline.ts';
import { measuredProfile, pipelineWorld, twoStageSpec } from '../../fakes/fake-pipeline-store.ts';

function submission(o: Partial<SubmitPipeline> = {}): SubmitPipeline {
  return SubmitPipelineSchema.parse({
    version: 1,
    kind: 'SubmitPipeline',
    pipelineId: 'vision',
    spec: twoStageSpec(),
    ...o,
  });
}

const DETECT = modelIdFor('/models/detect.onnx');
const CLASSIFY = modelIdFor('/models/classify.onnx');

describe('pipeline admission', () => {
  it('stores a PROFILING pipeline and submits one pinned FIFO profiling job per model and type', async () => {
    const w = pipelineWorld();
    const result = await admitPipeline(submission(), w.deps);
    expect(result).toMatchObject({ outcome: 'admitted', profileJobs: 6, record: { status: 'PROFILING' } });
    const jobs = [...w.jobs.jobs.values()];
    expect(jobs.map((j) => j.spec.labels[LABEL.instanceType]).sort()).toEqual(
      ['c7i.large', 'c7i.large', 'c7i.xlarge', 'c7i.xlarge', 'g5.xlarge', 'g5.xlarge'].sort(),
    );
    const gpu = w.jobs.jobs.get(profileJobId('vision', { modelId: DETECT, instanceType: 'g5.xlarge' }));
    expect(gpu?.spec.policy).toBe('fifo');
    expect(gpu?.spec.alternatives[0]?.requirement).toMatchObject({
      gpus: 1,
      gpuModel: 'A10G',
      instanceTypes: ['g5.xlarge'],
    });
    expect(gpu?.spec.task).toMatchObject({
      kind: 'command',
      command: '/bin/sh',
      args: ['-c', expect.stringContaining('$TETRAFLEET_PROFILE_CLI'), '/models/detect.onnx', DETECT],
    });
    // Profiled on the threads a replica of the type runs with: a g5.xlarge replica reserves 4 vCPUs.
    expect(gpu?.spec.task.kind === 'command' && gpu.spec.task.args[1]).toContain(' --threads 4 ');
    const cpu = w.jobs.jobs.get(profileJobId('vision', { modelId: DETECT, instanceType: 'c7i.large' }));
    expect(cpu?.spec.task.kind === 'command' && cpu.spec.task.args[1]).toContain(' --threads 2 ');
    expect(gpu?.spec.labels).toMatchObject({ [LABEL.pipeline]: 'vision', [LABEL.role]: 'profile' });
  });

  it('goes straight to PLANNING without jobs when every profile is stored', async () => {
    const w = pipelineWorld();
    for (const model of [DETECT, CLASSIFY])
      for (const type of ['c7i.large', 'c7i.xlarge', 'g5.xlarge'])
        await w.pipelines.putProfile(measuredProfile(model, type, 10), 0);
    const result = await admitPipeline(submission(), w.deps);
    expect(result).toMatchObject({ outcome: 'admitted', profileJobs: 0, record: { status: 'PLANNING' } });
    expect(w.jobs.jobs.size).toBe(0);
  });

  it('is idempotent on the pipeline id and on the idempotency key', async () => {
    const w = pipelineWorld();
    await admitPipeline(submission({ idempotencyKey: 'k1' }), w.deps);
    const again = await admitPipeline(submission({ idempotencyKey: 'k1' }), w.deps);
    const otherId = await admitPipeline(submission({ pipelineId: 'vision-2', idempotencyKey: 'k1' }), w.deps);
    expect(again.outcome).toBe('duplicate');
    expect(otherId).toMatchObject({ outcome: 'duplicate', record: { pipelineId: 'vision' } });
    expect(w.jobs.jobs.size).toBe(6);
    expect(w.pipelines.records.size).toBe(1);
  });

  it('fails when a stage model does not exist, naming the stage field and the uri', async () => {
    const w = pipelineWorld({ models: ['/models/detect.onnx'] });
    const result = await admitPipeline(submission(), w.deps);
    expect(result).toMatchObject({
      outcome: 'refused',
      issues: [
        { path: 'spec.stages.1.model.uri', message: expect.stringContaining('/models/classify.onnx') },
      ],
    });
    expect(w.pipelines.rejections.get('vision')?.issues[0]?.path).toBe('spec.stages.1.model.uri');
    expect(w.pipelines.records.size).toBe(0);
    expect(w.jobs.jobs.size).toBe(0);
  });

  it('fails when a stage names an instance type the stack does not allow, listing the allowed ones', async () => {
    const w = pipelineWorld();
    const spec = twoStageSpec({
      stages: [
        { id: 'detect', model: { uri: '/models/detect.onnx' }, instanceTypes: ['p5.48xlarge'] },
        { id: 'classify', model: { uri: '/models/classify.onnx' }, instanceTypes: ['no.such'] },
      ],
    });
    const result = await admitPipeline(submission({ spec }), w.deps);
    expect(result.outcome).toBe('refused');
    if (result.outcome !== 'refused') return;
    expect(result.issues).toEqual([
      {
        path: 'spec.stages.0.instanceTypes.0',
        message:
          'instance type p5.48xlarge is not allowed by the stack; allowed are c7i.large, c7i.xlarge, g5.xlarge',
      },
      {
        path: 'spec.stages.1.instanceTypes.0',
        message: 'unknown instance type no.such; allowed types are c7i.large, c7i.xlarge, g5.xlarge',
      },
    ]);
  });

  it('fails when the slo is below the fastest batch-1 latency of the longest path on known profiles', async () => {
    const w = pipelineWorld();
    for (const type of ['c7i.large', 'c7i.xlarge', 'g5.xlarge']) {
      await w.pipelines.putProfile(measuredProfile(DETECT, type, type === 'g5.xlarge' ? 40 : 90), 0);
      await w.pipelines.putProfile(measuredProfile(CLASSIFY, type, type === 'g5.xlarge' ? 30 : 70), 0);
    }
    const result = await admitPipeline(submission({ spec: twoStageSpec({ sloP99Ms: 60 }) }), w.deps);
    expect(result).toMatchObject({
      outcome: 'refused',
      issues: [
        {
          path: 'spec.sloP99Ms',
          message:
            'slo of 60 ms is below the 70 ms batch-1 latency of the longest path on the fastest profiled hardware',
        },
      ],
    });
  });

  it('records a poison submission under its pipeline id, but never over an admitted pipeline', async () => {
    const w = pipelineWorld();
    const bad = JSON.stringify({ version: 1, kind: 'SubmitPipeline', pipelineId: 'broken', spec: {} });
    expect(await rejectPipelineSubmission(bad, 'spec.name: required', [], w.deps)).toBe(true);
    expect(w.pipelines.rejections.get('broken')?.reason).toBe('spec.name: required');
    await admitPipeline(submission(), w.deps);
    const resend = JSON.stringify({ version: 1, kind: 'SubmitPipeline', pipelineId: 'vision' });
    expect(await rejectPipelineSubmission(resend, 'bad', [], w.deps)).toBe(false);
    expect(pipelineIdOf(JSON.stringify({ kind: 'SubmitJob', pipelineId: 'x' }))).toBeUndefined();
  });
});

describe('profiling types', () => {
  it('profiles the two cheapest CPU types and one type of each of the two cheapest GPU models by default', () => {
    const allowed = [
      'c7i.4xlarge',
      'c7i.large',
      'm7i.large',
      'g5.xlarge',
      'g5.2xlarge',
      'g6.xlarge',
      'g4dn.xlarge',
    ];
    expect(profilingTypes({}, allowed)).toEqual(['c7i.large', 'm7i.large', 'g4dn.xlarge', 'g6.xlarge']);
  });

  it('profiles exactly the types a stage names', () => {
    expect(profilingTypes({ instanceTypes: ['g5.xlarge', 'g5.xlarge'] }, [])).toEqual(['g5.xlarge']);
  });

  it('records under a second pipeline id that its idempotency key belongs to the first pipeline', async () => {
    const w = pipelineWorld();
    await admitPipeline(submission({ idempotencyKey: 'deploy-1' }), w.deps);

    const second = await admitPipeline(
      submission({ pipelineId: 'vision-two', idempotencyKey: 'deploy-1' }),
      w.deps,
    );

    expect(second).toMatchObject({ outcome: 'duplicate', record: { pipelineId: 'vision' } });
    expect(await w.pipelines.get('vision-two')).toBeUndefined();
    expect(await w.pipelines.getRejection('vision-two')).toMatchObject({
      reason: 'idempotency key deploy-1 already used by pipeline vision',
      issues: [
        { path: 'idempotencyKey', message: 'idempotency key deploy-1 already used by pipeline vision' },
      ],
    });
    expect(await w.pipelines.getRejection('vision')).toBeUndefined();
  });
});
