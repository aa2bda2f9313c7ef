import { InferenceSession, Tensor } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../lib/core/errors.ts';
import { buildConvNet, seededRandom, uniformInput } from '../../../lib/onnx/index.ts';

describe('buildConvNet', () => {
  it('runs a conv net and gives one row of class scores per image', async () => {
    const net = buildConvNet({ channels: 3, height: 32, width: 24, convChannels: [8, 16], classes: 10 });
    expect(net.inputDims).toEqual([3, 32, 24]);
    const session = await InferenceSession.create(net.bytes);
    try {
      for (const batch of [1, 4]) {
        const input = uniformInput(seededRandom(batch), batch * 3 * 32 * 24);
        const out = (await session.run({ x: new Tensor('float32', input, [batch, 3, 32, 24]) })).y as Tensor;
        expect(out.dims).toEqual([batch, 10]);
        expect(Array.from(out.data as Float32Array).every(Number.isFinite)).toBe(true);
      }
      expect(session.inputMetadata[0]).toMatchObject({ name: 'x', shape: ['batch', 3, 32, 24] });
    } finally {
      await session.release();
    }
  });

  it('supports odd image sizes and larger kernels', async () => {
    const net = buildConvNet({
      channels: 1,
      height: 9,
      width: 9,
      convChannels: [4],
      kernelSize: 5,
      classes: 3,
    });
    const session = await InferenceSession.create(net.bytes);
    try {
      const out = (await session.run({ x: new Tensor('float32', new Float32Array(81), [1, 1, 9, 9]) }))
        .y as Tensor;
      expect(out.dims).toEqual([1, 3]);
    } finally {
      await session.release();
    }
  });

  it('fails when pooling would shrink the image below 1x1', () => {
    expect(() =>
      buildConvNet({ channels: 1, height: 4, width: 4, convChannels: [2, 2, 2], classes: 2 }),
    ).toThrow(ValidationError);
    expect(() =>
      buildConvNet({ channels: 1, height: 4, width: 4, convChannels: [2, 2, 2], classes: 2 }),
    ).toThrow(/need height and width of at least 8, got 4x4/);
  });

  it('fails when the kernel size is even', () => {
    expect(() =>
      buildConvNet({ channels: 1, height: 8, width: 8, convChannels: [2], kernelSize: 4, classes: 2 }),
    ).toThrow(/kernelSize must be odd/);
  });
});
