import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ModelServerHandle, startModelServer } from '../../../../agent/model-server/index.ts';
import { profileModelFile } from '../../../../agent/model-server/profile.ts';
import {
  buildMlp,
  mlpForward,
  modelTempDir,
  seededRandom,
  uniformInput,
} from '../../../../lib/onnx/index.ts';
import { maxAbsDiff, postBinary } from './helpers.ts';

const { onnx } = onnxProto;
const IN = 8;

/**
 * Many exported models fix their first dimension (batch 1) rather than leave it symbolic. The server must
 * then run each request alone and refuse other row counts as the client's mistake.
 */
describe('model server with a fixed batch dimension', () => {
  let server: ModelServerHandle;
  let cleanup: () => Promise<void>;
  const mlp = buildMlp({ inputSize: IN, hiddenSizes: [8], outputSize: 2, seed: 4 });
  const logs: string[] = [];
  let path = '';

  beforeAll(async () => {
    const dir = await modelTempDir();
    cleanup = dir.cleanup;
    const model = onnx.ModelProto.decode(mlp.bytes);
    for (const info of [...(model.graph?.input ?? []), ...(model.graph?.output ?? [])]) {
      const dims = info.type?.tensorType?.shape?.dim;
      if (dims?.[0]) dims[0] = onnx.TensorShapeProto.Dimension.create({ dimValue: 1 });
    }
    path = join(dir.dir, 'fixed.onnx');
    await writeFile(path, onnx.ModelProto.encode(model).finish());
    // A batch would wait for 4 rows (or 10 s): concurrent requests meet in one batch unless kept apart.
    server = await startModelServer({
      modelPath: path,
      modelId: 'fixed',
      host: '127.0.0.1',
      maxBatch: 4,
      maxQueueDelayMs: 10_000,
      executionProvider: 'cpu',
      intraOpThreads: 1,
      log: (m) => logs.push(m),
    });
  });

  afterAll(async () => {
    await server?.stop();
    await cleanup?.();
  });

  it('lists the fixed batch dimension in its metadata', () => {
    expect(server.inputs).toEqual([{ name: 'x', type: 'float32', shape: [1, IN] }]);
  });

  it('runs concurrent one-row requests each on its own and answers every one', async () => {
    const inputs = Array.from({ length: 4 }, (_, i) => uniformInput(seededRandom(10 + i), IN));
    const url = `${server.url}/v1/models/fixed/infer`;
    const results = await Promise.all(inputs.map((x) => postBinary(url, x, [1, IN])));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    results.forEach((r, i) => {
      expect(maxAbsDiff(r.binary ?? [], mlpForward(mlp, inputs[i] as Float32Array, 1))).toBeLessThanOrEqual(
        1e-5,
      );
      expect(r.headers.get('x-batch-size')).toBe('1');
    });
    expect(logs.filter((m) => m.startsWith('inference failed'))).toEqual([]);
  });

  it('fails another row count with 400 naming the batch dimension, not 500', async () => {
    const res = await postBinary(`${server.url}/v1/models/fixed/infer`, new Float32Array(2 * IN), [2, IN]);
    expect(res.status).toBe(400);
    expect(res.error?.issues).toEqual([
      { path: 'inputs.x.dims.0', message: "must be 1 (the model's fixed batch size), got 2" },
    ]);
  });

  it('is profiled at its fixed batch size only, which the planner then cannot exceed', async () => {
    const said: string[] = [];
    const profile = await profileModelFile(path, {
      modelId: 'fixed',
      instanceType: 'test.small',
      maxBatch: 8,
      minSamples: 5,
      minDurationMs: 0,
      warmupRuns: 1,
      provider: 'cpu',
      intraOpThreads: 1,
      log: (m) => said.push(m),
    });
    expect(profile.entries.map((e) => e.batchSize)).toEqual([1]);
    expect(profile.entries[0]?.p99Ms).toBeGreaterThan(0);
    expect(said).toContain('the model fixes its batch size at 1: only batch 1 is profiled');
  });
});
