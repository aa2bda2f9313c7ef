import { describe, expect, it, vi } from 'vitest';
import { ValidationError } from '../../../lib/core/errors.ts';
import { type PipelineRecord, ROUTER_STAGE } from '../../../lib/core/model/pipeline-serving.ts';
import type { TetrafleetClient } from '../../../lib/sdk/client.ts';
import type { PipelineView } from '../../../lib/sdk/client-options.ts';
import { PipelineWaitTimeoutError } from '../../../lib/sdk/errors.ts';
import { twoStageSpec } from '../../fakes/fake-pipeline-store.ts';
import { endpoint } from '../agent/router/helpers.ts';
import { offlineClient } from './offline-client.ts';

describe('TetrafleetClient.submitPipeline', () => {
  it('fails when the spec has a cycle, naming the field, before anything is sent', async () => {
    const client = offlineClient();
    const spec = {
      name: 'loop',
      sloP99Ms: 100,
      stages: [
        { id: 'a', model: { uri: '/m/a.onnx' } },
        { id: 'b', model: { uri: '/m/b.onnx' } },
      ],
      edges: [
        { from: 'a', to: 'b' },
        { from: 'b', to: 'a' },
      ],
    };
    const error = await client.submitPipeline(spec).catch((e: unknown) => e);
    client.close();
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues).toEqual([
      { path: 'spec.edges', message: 'edges form a cycle: a -> b -> a' },
    ]);
  });

  it('fails with every field problem at once: a bad model uri, an unknown stage and a bad pipeline id', async () => {
    const client = offlineClient();
    const spec = {
      name: 'vision',
      sloP99Ms: 0,
      stages: [{ id: 'detect', model: { uri: 'models/detect.onnx' } }],
      edges: [{ from: 'detect', to: 'classify' }],
    };
    const error = await client.submitPipeline(spec, { pipelineId: 'Bad_Id' }).catch((e: unknown) => e);
    client.close();
    expect((error as ValidationError).issues.map((i) => i.path).sort()).toEqual(
      ['pipelineId', 'spec.edges.0.to', 'spec.sloP99Ms', 'spec.stages.0.model.uri'].sort(),
    );
  });
});

describe('TetrafleetClient submissions with unknown fields', () => {
  it('refuses a job spec field it does not know, naming the field meant, before anything is sent', async () => {
    const client = offlineClient();
    const spec = {
      name: 'train',
      policy: 'fifo' as const,
      task: { kind: 'command' as const, command: 'echo' },
      alternatives: [{ requirement: { vcpu: 4, memoryMiB: 8192, gpu: 1 }, durationSeconds: 60 }],
    };
    const error = await client.submitJob(spec).catch((e: unknown) => e);
    client.close();
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues).toEqual([
      { path: 'spec.alternatives.0.requirement.gpu', message: 'unknown field; did you mean gpus?' },
    ]);
  });

  it('refuses a pipeline spec field it does not know, before anything is sent', async () => {
    const client = offlineClient();
    const spec = {
      name: 'vision',
      sloP99Ms: 150,
      stages: [{ id: 'a', model: { uri: '/m/a.onnx' }, instanceType: 'c7i.large' }],
    };
    const error = await client.submitPipeline(spec).catch((e: unknown) => e);
    client.close();
    expect((error as ValidationError).issues).toEqual([
      { path: 'spec.stages.0.instanceType', message: 'unknown field; did you mean instanceTypes?' },
    ]);
  });
});

describe('TetrafleetClient.waitForPipeline', () => {
  const NOW = 1_800_000_000_000;
  const base: PipelineRecord = {
    pipelineId: 'vision',
    spec: twoStageSpec(),
    status: 'PLANNING',
    createdAt: NOW,
    updatedAt: NOW,
    version: 1,
    targets: {},
    targetsAt: NOW,
  };
  const at = (stageId: string) => endpoint(stageId, 'http://10.0.0.1:8080', NOW, 'vision');
  const serving = { ...base, status: 'SERVING' as const, version: 2 };

  /** A client whose getPipeline answers each view in turn, then the last one for ever. */
  function scripted(views: PipelineView[]): { client: TetrafleetClient; reads: () => number } {
    const client = offlineClient();
    let i = 0;
    vi.spyOn(client, 'getPipeline').mockImplementation(async () => views[Math.min(i++, views.length - 1)]);
    return { client, reads: () => i };
  }

  it('with answering, waits past SERVING until the router and a replica of every stage are listed', async () => {
    const { client, reads } = scripted([
      { record: base, endpoints: [] },
      { record: serving, endpoints: [] },
      { record: serving, endpoints: [at('detect')] },
      { record: serving, endpoints: [at('detect'), at('classify'), at(ROUTER_STAGE)] },
    ]);
    const progress: string[] = [];
    const record = await client.waitForPipeline('vision', {
      answering: true,
      pollMs: 10,
      onProgress: (r, waitingFor) => progress.push(`${r.status}: ${waitingFor?.join(', ') ?? '-'}`),
    });
    client.close();
    expect(record.status).toBe('SERVING');
    expect(reads()).toBe(4);
    expect(progress).toEqual([
      'PLANNING: -',
      'SERVING: a replica of detect, a replica of classify, the router',
      'SERVING: a replica of classify, the router',
      'SERVING: -',
    ]);
  });

  it('without answering, returns as soon as the record is SERVING', async () => {
    const { client, reads } = scripted([{ record: serving, endpoints: [] }]);
    await expect(client.waitForPipeline('vision', { pollMs: 10 })).resolves.toMatchObject({
      status: 'SERVING',
    });
    client.close();
    expect(reads()).toBe(1);
  });

  it('times out naming what the pipeline still lacks', async () => {
    const { client } = scripted([{ record: serving, endpoints: [at('detect'), at('classify')] }]);
    const error = await client
      .waitForPipeline('vision', { answering: true, pollMs: 10, timeoutMs: 20 })
      .catch((e: unknown) => e);
    client.close();
    expect(error).toBeInstanceOf(PipelineWaitTimeoutError);
    expect((error as Error).message).toBe(
      'pipeline vision was SERVING but not answering within 20 ms: still waiting for the router',
    );
  });
});
