import { z } from 'zod';
import { parseOrThrow } from '../core/model/validate.ts';
import {
  batchedValueInfo,
  encodeModel,
  floatTensor,
  type NodeProto,
  node,
  type TensorProto,
} from './graph.ts';
import { glorotUniform, seededRandom } from './random.ts';

/**
 * A small convolutional net as ONNX: `x[batch, channels, height, width]` -> (Conv 3x3 same-padding -> Relu
 * -> MaxPool 2x2 stride 2) per entry of `convChannels` -> Flatten -> Gemm -> `y[batch, classes]`.
 * Each pooling halves height and width (floor), so the spec must leave at least 1x1 at the end.
 */

const positive = (what: string, max: number) =>
  z
    .number({ error: `${what} must be a number` })
    .int({ error: `${what} must be an integer` })
    .min(1, { error: `${what} must be at least 1` })
    .max(max, { error: `${what} must be at most ${max}` });

export const ConvNetSpecSchema = z
  .object({
    channels: positive('channels', 64),
    height: positive('height', 1024),
    width: positive('width', 1024),
    convChannels: z
      .array(positive('conv channels', 1024))
      .min(1, { error: 'convChannels must list at least one conv layer' })
      .max(10, { error: 'convChannels may list at most 10 conv layers' }),
    kernelSize: z
      .number()
      .int()
      .refine((k) => k % 2 === 1 && k >= 1 && k <= 7, { error: 'kernelSize must be odd, between 1 and 7' })
      .default(3),
    classes: positive('classes', 65_536),
    seed: z.number().int().default(1),
    inputName: z.string().min(1).default('x'),
    outputName: z.string().min(1).default('y'),
  })
  .superRefine((spec, ctx) => {
    const pools = spec.convChannels.length;
    const h = spec.height >> pools;
    const w = spec.width >> pools;
    if (h < 1 || w < 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['convChannels'],
        message: `${pools} pooling layers need height and width of at least ${2 ** pools}, got ${spec.height}x${spec.width}`,
      });
    }
  });
export type ConvNetSpec = z.output<typeof ConvNetSpecSchema>;
export type ConvNetSpecInput = z.input<typeof ConvNetSpecSchema>;

export interface BuiltConvNet {
  readonly spec: ConvNetSpec;
  readonly bytes: Uint8Array;
  readonly inputDims: readonly number[];
  readonly outputDims: readonly number[];
}

export function buildConvNet(input: ConvNetSpecInput): BuiltConvNet {
  const spec = parseOrThrow(ConvNetSpecSchema, input, 'conv net spec');
  const random = seededRandom(spec.seed);
  const k = spec.kernelSize;
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  let current = spec.inputName;
  let channels = spec.channels;
  let height = spec.height;
  let width = spec.width;
  spec.convChannels.forEach((out, i) => {
    const fanIn = channels * k * k;
    initializers.push(
      floatTensor(`cw${i}`, [out, channels, k, k], glorotUniform(random, fanIn, out, out * fanIn)),
    );
    initializers.push(floatTensor(`cb${i}`, [out], glorotUniform(random, 1, 200, out)));
    const pad = (k - 1) / 2;
    nodes.push(
      node('Conv', [current, `cw${i}`, `cb${i}`], [`conv${i}`], {
        kernel_shape: [k, k],
        pads: [pad, pad, pad, pad],
        strides: [1, 1],
      }),
    );
    nodes.push(node('Relu', [`conv${i}`], [`relu${i}`]));
    nodes.push(node('MaxPool', [`relu${i}`], [`pool${i}`], { kernel_shape: [2, 2], strides: [2, 2] }));
    current = `pool${i}`;
    channels = out;
    height = Math.floor(height / 2);
    width = Math.floor(width / 2);
  });
  const flat = channels * height * width;
  nodes.push(node('Flatten', [current], ['flat'], { axis: 1 }));
  initializers.push(
    floatTensor('fw', [flat, spec.classes], glorotUniform(random, flat, spec.classes, flat * spec.classes)),
  );
  initializers.push(floatTensor('fb', [spec.classes], glorotUniform(random, 1, 200, spec.classes)));
  nodes.push(node('Gemm', ['flat', 'fw', 'fb'], [spec.outputName]));
  const bytes = encodeModel({
    name: 'convnet',
    nodes,
    initializers,
    inputs: [batchedValueInfo(spec.inputName, [spec.channels, spec.height, spec.width])],
    outputs: [batchedValueInfo(spec.outputName, [spec.classes])],
  });
  return {
    spec,
    bytes,
    inputDims: [spec.channels, spec.height, spec.width],
    outputDims: [spec.classes],
  };
}
