import { describe, expect, it } from 'vitest';
import {
  parsePipelineFile,
  pipelineStatusCommand,
  pipelineStopCommand,
  pipelineSubmitCommand,
  planText,
} from '../../../lib/cli/commands/pipeline.ts';
import { pipelineListCommand } from '../../../lib/cli/commands/pipeline-list.ts';
import { CliUsageError, EXIT, WaitGaveUpError } from '../../../lib/cli/errors.ts';
import { JobFileError } from '../../../lib/cli/job-file.ts';
import { exitCodeOf } from '../../../lib/cli/run.ts';
import type { CliSource } from '../../../lib/cli/source.ts';
import { NotFoundError } from '../../../lib/core/errors.ts';
import { type PipelineRecord, ROUTER_STAGE } from '../../../lib/core/model/pipeline-serving.ts';
import type { PipelineView } from '../../../lib/sdk/client-options.ts';
import { PipelineRejectedError, PipelineWaitTimeoutError } from '../../../lib/sdk/errors.ts';
import { servingPlan, twoStageSpec } from '../../fakes/fake-pipeline-store.ts';

const NOW = 1_764_000_600_000;

const record: PipelineRecord = {
  pipelineId: 'vision',
  spec: twoStageSpec(),
  status: 'SERVING',
  reason: 'planned',
  createdAt: NOW - 600_000,
  updatedAt: NOW - 60_000,
  version: 4,
  plan: servingPlan({
    config: {
      detect: { instanceType: 'g5.xlarge', maxBatch: 8, replicas: 2, maxQueueDelayMs: 0 },
      classify: { instanceType: 'c7i.large', maxBatch: 4, replicas: 1, maxQueueDelayMs: 0 },
    },
    costPerHour: 2.1,
    p99Ms: 140.25,
    visitFractions: { detect: 1, classify: 0.5 },
    derivedStages: ['detect'],
    headroom: { detect: 1, classify: 0 },
    stage: { visitFraction: 1, replicaThroughputQps: 100, plannedReplicas: 2, rho: 0.1 },
    plannedAt: NOW - 60_000,
  }),
  targets: { detect: 3, classify: 1 },
  targetsAt: NOW - 30_000,
};

const view: PipelineView = {
  record,
  report: {
    version: 1,
    kind: 'PipelineReport',
    pipelineId: 'vision',
    instanceId: 'i-router',
    intervalStartMs: NOW - 15_000,
    intervalEndMs: NOW - 5000,
    arrivals: 250,
    completed: 240,
    shed: 2,
    late: 1,
    errors: 0,
    dropped: 0,
    latency: { p50Ms: 40, p90Ms: 90, p99Ms: 131.5, maxMs: 160 },
    stages: {},
  },
  endpoints: [
    {
      pipelineId: 'vision',
      stageId: ROUTER_STAGE,
      jobId: 'pl:vision:router:0',
      taskIndex: 0,
      attempt: 0,
      instanceId: 'i-1',
      url: 'http://10.0.0.4:8080',
      since: NOW - 50_000,
    },
  ],
};

/**
 * A CliSource whose client answers from memory and records what it was asked: a local cloud's (it has an
 * emulator endpoint), or with `onAws` a stack on AWS (none).
 */
function source(pipelines: Record<string, PipelineView> = { vision: view }, onAws = false) {
  const endpoint = onAws ? undefined : 'http://127.0.0.1:5000';
  const calls: string[] = [];
  const client = {
    submitPipeline: async (spec: { name: string }, o: { pipelineId?: string }) => {
      calls.push(`submit ${spec.name}`);
      return { pipelineId: o.pipelineId ?? `${spec.name}-1234abcd` };
    },
    getPipeline: async (id: string) => {
      if (id === 'refused')
        throw new PipelineRejectedError(
          id,
          'ValidationError: invalid pipeline submission: stages.0.model.uri: model s3://m/a.onnx not found',
          [
            { path: 'stages.0.model.uri', message: 'model s3://m/a.onnx not found' },
            { path: 'sloP99Ms', message: 'slo 1 ms is below the fastest batch-1 path (4 ms)' },
          ],
        );
      return pipelines[id];
    },
    listPipelines: async () => Object.values(pipelines).map((v) => v.record),
    listPipelineRejections: async () => [],
    stopPipeline: async (id: string) => {
      calls.push(`stop ${id}`);
      return { ...(pipelines[id] as PipelineView).record, status: 'STOPPED' };
    },
    waitForPipeline: async (id: string, o: { timeoutMs?: number }) => {
      if (id === 'slow') throw new PipelineWaitTimeoutError(id, 'SERVING', undefined, o.timeoutMs ?? 0);
      if (id === 'profiling')
        throw new PipelineWaitTimeoutError(id, 'SERVING', 'PROFILING', o.timeoutMs ?? 0);
      return (pipelines[id] as PipelineView).record;
    },
  };
  return { calls, source: { client, endpoint, close: () => {} } as unknown as CliSource };
}

/** The JobFileError that parsing `yaml` as vision.yaml throws. */
function refusal(yaml: string): JobFileError {
  try {
    parsePipelineFile(yaml, 'vision.yaml');
  } catch (e) {
    if (e instanceof JobFileError) return e;
    throw e;
  }
  throw new Error('expected the file to be refused');
}

describe('tetrafleet pipeline', () => {
  it('fails when a pipeline file has a cycle or bad fields, naming each field with its line', () => {
    const yaml = [
      'name: vision',
      'sloP99Ms: -5',
      'stages:',
      '  - id: a',
      '    model: { uri: /m/a.onnx }',
      '  - id: b',
      '    model: { uri: /m/b.onnx }',
      'edges:',
      '  - { from: a, to: b }',
      '  - { from: b, to: a }',
    ].join('\n');
    const error = refusal(yaml);
    const issues = error.issues.map((i) => [i.path, i.line]);
    expect(issues).toEqual([
      ['sloP99Ms', 2],
      ['edges', 9],
    ]);
    expect(error.message).toContain('vision.yaml:9:3: edges: edges form a cycle: a -> b -> a');
  });

  it('fails when a pipeline file has unknown fields, saying which field was meant, with its line', () => {
    const yaml = [
      'name: vision',
      'sloMs: 150',
      'stages:',
      '  - id: a',
      '    model: { uri: /m/a.onnx, input: x }',
      'edges: []',
    ].join('\n');
    const error = refusal(yaml);
    expect(error.message.split('\n')).toEqual([
      'vision.yaml:1:1: sloP99Ms: sloP99Ms is required (expected number)',
      'vision.yaml:2:1: sloMs: unknown field; did you mean sloP99Ms?',
      'vision.yaml:5:30: stages.0.model.input: unknown field; did you mean inputName?',
    ]);
  });

  it('submits a valid file and prints how to follow it', async () => {
    const { source: s, calls } = source();
    const parsed = parsePipelineFile(
      JSON.stringify({ name: 'vision', sloP99Ms: 150, stages: [{ id: 'a', model: { uri: '/m/a.onnx' } }] }),
    );
    const out = await pipelineSubmitCommand(s, parsed);
    expect(calls).toEqual(['submit vision']);
    expect(out.data).toEqual({ pipelineId: 'vision-1234abcd', name: 'vision' });
    expect(out.text).toContain('tetrafleet pipeline status vision-1234abcd');
  });

  it('fails when a spec for a stack on AWS names local model files, saying how to upload them, sending nothing', async () => {
    const { source: s, calls } = source({}, true);
    const parsed = parsePipelineFile(
      JSON.stringify({
        name: 'vision',
        sloP99Ms: 150,
        stages: [
          { id: 'a', model: { uri: '/m/a.onnx' } },
          { id: 'b', model: { uri: 's3://models/b.onnx' } },
          { id: 'c', model: { uri: '/m/c.onnx' } },
          { id: 'd', model: { uri: '/m/a.onnx' } },
        ],
      }),
      'vision.yaml',
    );
    const error = await pipelineSubmitCommand(s, parsed).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JobFileError);
    expect((error as JobFileError).issues.map((i) => i.path)).toEqual([
      'stages.0.model.uri',
      'stages.2.model.uri',
      'stages.3.model.uri',
    ]);
    expect((error as JobFileError).message).toContain(
      'vision.yaml: stages.0.model.uri: /m/a.onnx is a path on this machine',
    );
    expect((error as JobFileError).message).toContain('pass --upload-models s3://BUCKET/PREFIX');
    expect(calls).toEqual([]);
  });

  it('shows the plan per stage with measured and derived profiles, targets, live latency and the router', async () => {
    const out = await pipelineStatusCommand(source().source, 'vision', NOW);
    expect(out.text).toContain('status      SERVING: planned');
    expect(out.text).toContain('slo         p99 200 ms, 2 stages, 1 edge, owner');
    expect(out.text).toMatch(/detect\s+g5\.xlarge\s+derived\s+8\s+2\s+3\s+1\s+100%/);
    expect(out.text).toMatch(/classify\s+c7i\.large\s+measured\s+4\s+1\s+1\s+0\s+50%/);
    expect(out.text).toContain("tuner       scales up past 1.00x the sample's rates");
    const plan = record.plan as NonNullable<PipelineRecord['plan']>;
    const slack = { ...record, plan: { ...plan, basis: { ...plan.basis, slack: 1.5 } } };
    expect(planText(slack)).toContain("scales up past 1.50x the sample's rates");
    const { headroom: _, ...withoutHeadroom } = plan;
    expect(planText({ ...record, plan: withoutHeadroom })).toMatch(/detect.*\s-\s+100%/);
    // Warm replicas that may run on spot say so; a stage without any shows 0.
    const spot = planText({ ...record, spec: { ...record.spec, spotHeadroom: true } });
    expect(spot).toMatch(/detect\s+g5\.xlarge\s+derived\s+8\s+2\s+3\s+1 spot\s+100%/);
    expect(spot).toMatch(/classify\s+c7i\.large\s+measured\s+4\s+1\s+1\s+0\s+50%/);
    expect(out.text).toContain('25.0 arrivals/s, p99 131.5 ms');
    expect(out.text).toContain('router      http://10.0.0.4:8080/v1/pipelines/vision/infer');
    expect((out.data as PipelineView).record.pipelineId).toBe('vision');
  });

  it('fails with not found for a pipeline that does not exist', async () => {
    await expect(pipelineStatusCommand(source().source, 'nope')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('lists pipelines with status, slo and cost', async () => {
    const out = await pipelineListCommand(source().source, NOW);
    expect(out.data.pipelines).toEqual([
      expect.objectContaining({ id: 'vision', status: 'SERVING', sloP99Ms: 200, costPerHour: 2.1 }),
    ]);
    expect(out.text).toMatch(/vision\s+vision\s+SERVING\s+200 ms\s+2\s+2\.100/);
    expect(out.text).not.toContain('REASON');
  });

  it('stops a serving pipeline and leaves an ended one alone', async () => {
    const { source: s, calls } = source({
      vision: view,
      old: { ...view, record: { ...record, pipelineId: 'old', status: 'REFUSED' } },
    });
    expect((await pipelineStopCommand(s, 'vision')).data.outcome).toBe('stopped');
    expect((await pipelineStopCommand(s, 'old')).data.outcome).toBe('already-ended');
    expect(calls).toEqual(['stop vision']);
  });

  const oneStage = () =>
    parsePipelineFile(
      JSON.stringify({ name: 'vision', sloP99Ms: 150, stages: [{ id: 'a', model: { uri: '/m/a.onnx' } }] }),
    );

  it.each([
    [
      'SERVING',
      'pipeline vision already exists (SERVING); choose another --id, or stop it and submit under a new id',
    ],
    ['STOPPED', 'pipeline vision already exists (STOPPED); choose another --id'],
  ] as const)('fails with exit 2 when --id names a %s pipeline, sending nothing', async (status, message) => {
    const { source: s, calls } = source({ vision: { ...view, record: { ...record, status } } });
    const error = await pipelineSubmitCommand(s, oneStage(), { pipelineId: 'vision' }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CliUsageError);
    expect((error as Error).message).toBe(message);
    expect(exitCodeOf(error)).toBe(EXIT.usage);
    expect(calls).toEqual([]);
  });

  it('submits under the id of a refused submission, which holds no record', async () => {
    const { source: s, calls } = source();
    const out = await pipelineSubmitCommand(s, oneStage(), { pipelineId: 'refused' });
    expect(out.data.pipelineId).toBe('refused');
    expect(calls).toEqual(['submit vision']);
  });

  it('shows a refused pipeline as REFUSED with every field reason, and has nothing to stop', async () => {
    const { source: s, calls } = source();
    const out = await pipelineStatusCommand(s, 'refused', NOW);
    expect(out.text.split('\n')).toEqual([
      'pipeline refused',
      '  status      REFUSED at admission',
      '  reasons     stages.0.model.uri: model s3://m/a.onnx not found',
      '              sloP99Ms: slo 1 ms is below the fastest batch-1 path (4 ms)',
      '  next        fix the spec and submit it again (the id may be reused)',
    ]);
    expect(out.data).toMatchObject({ pipelineId: 'refused', status: 'REFUSED', endpoints: [] });
    const stop = await pipelineStopCommand(s, 'refused');
    expect(stop.data.outcome).toBe('already-ended');
    expect(stop.text).toBe('pipeline refused was refused at admission; nothing to stop');
    expect(calls).toEqual([]);
  });

  it.each([
    ['slow', 'pipeline slow was not SERVING within 2 s (not admitted yet)'],
    ['profiling', 'pipeline profiling was not SERVING within 2 s (last seen PROFILING)'],
  ])('fails after --timeout saying it in seconds, for %s', async (id, message) => {
    const { source: s } = source();
    const error = await pipelineSubmitCommand(s, oneStage(), {
      pipelineId: id,
      wait: true,
      timeoutMs: 2000,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WaitGaveUpError);
    expect((error as Error).message).toContain(message);
    expect(exitCodeOf(error)).toBe(EXIT.failure);
  });

  it('leaves out the planned rate when a re-plan sampled no traffic', () => {
    const plan = record.plan as NonNullable<PipelineRecord['plan']>;
    const idle = { ...record, plan: { ...plan, basis: { ...plan.basis, planningRatePerSecond: 0 } } };
    expect(planText(idle)).toContain('plan        $2.100/h, estimated p99 140.3 ms\n');
    const busy = { ...record, plan: { ...plan, basis: { ...plan.basis, planningRatePerSecond: 10.2 } } };
    expect(planText(busy)).toContain('estimated p99 140.3 ms at 10.2 qps\n');
  });

  it('fails when a pipeline file is a YAML alias bomb or binary, naming the file', () => {
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x]',
      ...'bcdefghij'
        .split('')
        .map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdefghij'[i]}`).join(', ')}]`),
    ].join('\n');
    expect(refusal(bomb).message).toMatch(/^vision\.yaml: cannot expand the YAML: /);
    expect(refusal('\u0000\u0001ONNX\uFFFD').message).toBe(
      'vision.yaml: not JSON or YAML: the file is binary',
    );
  });
});
