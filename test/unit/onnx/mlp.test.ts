import { InferenceSession, Tensor } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../lib/core/errors.ts';
import {
  type Activation,
  buildMlp,
  mlpForward,
  seededRandom,
  uniformInput,
} from '../../../lib/onnx/index.ts';

async function runOnnx(bytes: Uint8Array, input: Float32Array, dims: number[]): Promise<Tensor> {
  const session = await InferenceSession.create(bytes);
  try {
    const out = await session.run({ x: new Tensor('float32', input, dims) });
    return out.y as Tensor;
  } finally {
    await session.release();
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
  return worst;
}

describe('buildMlp', () => {
  const activations: Activation[] = ['relu', 'tanh', 'sigmoid', 'none'];
  it.each(activations)('matches the plain-JS reference to 1e-5 with %s activations', async (activation) => {
    const mlp = buildMlp({ inputSize: 24, hiddenSizes: [48, 32], outputSize: 5, activation, seed: 7 });
    const rows = 3;
    const input = uniformInput(seededRandom(11), rows * 24);
    const out = await runOnnx(mlp.bytes, input, [rows, 24]);
    expect(out.dims).toEqual([rows, 5]);
    expect(maxAbsDiff(out.data as Float32Array, mlpForward(mlp, input, rows))).toBeLessThanOrEqual(1e-5);
  });

  it('accepts any batch size through the dynamic batch dimension', async () => {
    const mlp = buildMlp({ inputSize: 8, hiddenSizes: [16], outputSize: 2 });
    for (const rows of [1, 7, 33]) {
      const input = uniformInput(seededRandom(rows), rows * 8);
      const out = await runOnnx(mlp.bytes, input, [rows, 8]);
      expect(out.dims).toEqual([rows, 2]);
    }
  });

  it('builds identical models from the same seed and different weights from another', () => {
    const spec = { inputSize: 4, hiddenSizes: [8], outputSize: 3, seed: 3 };
    expect(Buffer.from(buildMlp(spec).bytes).equals(Buffer.from(buildMlp(spec).bytes))).toBe(true);
    const other = buildMlp({ ...spec, seed: 4 });
    expect(Buffer.from(other.bytes).equals(Buffer.from(buildMlp(spec).bytes))).toBe(false);
  });

  it('counts multiply-accumulates per row', () => {
    expect(buildMlp({ inputSize: 4, hiddenSizes: [8, 6], outputSize: 3 }).macsPerRow).toBe(
      4 * 8 + 8 * 6 + 6 * 3,
    );
  });

  it('fails when sizes are not positive integers, naming each field', () => {
    let caught: unknown;
    try {
      buildMlp({ inputSize: 0, hiddenSizes: [2.5], outputSize: 3 });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    const paths = (caught as ValidationError).issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['inputSize', 'hiddenSizes.0']));
  });

  it('fails when the reference gets an input of the wrong length', () => {
    const mlp = buildMlp({ inputSize: 4, hiddenSizes: [], outputSize: 2 });
    expect(() => mlpForward(mlp, new Float32Array(5), 1)).toThrow(/needs 4 inputs, got 5/);
  });
});
