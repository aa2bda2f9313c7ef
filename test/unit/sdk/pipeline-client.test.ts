import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../lib/core/errors.ts';
import { TetrafleetClient } from '../../../lib/sdk/client.ts';

/** A client whose endpoints answer nothing: anything that reached the network would fail differently. */
function offlineClient(): TetrafleetClient {
  return new TetrafleetClient({
    endpoints: {
      submissionsQueueUrl: 'http://127.0.0.1:9/queue/submissions',
      tables: { jobs: 'jobs', instances: 'instances', placements: 'placements', control: 'control' },
    },
    aws: {
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:9',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
      requestHandler: { connectionTimeout: 200, requestTimeout: 200 },
    },
  });
}

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
