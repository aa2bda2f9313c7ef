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
 * A multi-layer perceptron as ONNX: `x[batch, inputSize]` -> (Gemm -> activation)* -> Gemm -> `y[batch,
 * outputSize]`. Weights are seeded, so `buildMlp` with the same spec gives the same bytes and the same
 * `layers`, which `mlpForward` evaluates in plain JS as the reference.
 */

const size = (what: string) =>
  z
    .number({ error: `${what} must be a number` })
    .int({ error: `${what} must be an integer` })
    .min(1, { error: `${what} must be at least 1` })
    .max(65_536, { error: `${what} must be at most 65,536` });

export const ActivationSchema = z.enum(['relu', 'tanh', 'sigmoid', 'none'], {
  error: 'activation must be one of relu, tanh, sigmoid, none',
});
export type Activation = z.infer<typeof ActivationSchema>;

export const MlpSpecSchema = z.object({
  inputSize: size('inputSize'),
  hiddenSizes: z.array(size('hidden size')).max(64, { error: 'hiddenSizes may list at most 64 layers' }),
  outputSize: size('outputSize'),
  activation: ActivationSchema.default('relu'),
  seed: z.number().int().default(1),
  inputName: z.string().min(1).default('x'),
  outputName: z.string().min(1).default('y'),
});
export type MlpSpec = z.output<typeof MlpSpecSchema>;
export type MlpSpecInput = z.input<typeof MlpSpecSchema>;

/** One dense layer: `weights` is row-major `[inSize, outSize]` (Gemm with transB = 0). */
export interface DenseLayer {
  readonly inSize: number;
  readonly outSize: number;
  readonly weights: Float32Array;
  readonly bias: Float32Array;
}

export interface BuiltMlp {
  readonly spec: MlpSpec;
  readonly layers: readonly DenseLayer[];
  readonly bytes: Uint8Array;
  /** Multiply-accumulates per input row: a size measure for benches. */
  readonly macsPerRow: number;
}

const ONNX_ACTIVATION: Record<Exclude<Activation, 'none'>, string> = {
  relu: 'Relu',
  tanh: 'Tanh',
  sigmoid: 'Sigmoid',
};

export function mlpLayers(spec: MlpSpec): DenseLayer[] {
  const random = seededRandom(spec.seed);
  const sizes = [spec.inputSize, ...spec.hiddenSizes, spec.outputSize];
  const layers: DenseLayer[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    const inSize = sizes[i] as number;
    const outSize = sizes[i + 1] as number;
    const weights = glorotUniform(random, inSize, outSize, inSize * outSize);
    // Small non-zero biases, so that a reference which forgot the bias would not match.
    const bias = glorotUniform(random, 1, 200, outSize);
    layers.push({ inSize, outSize, weights, bias });
  }
  return layers;
}

export function buildMlp(input: MlpSpecInput): BuiltMlp {
  const spec = parseOrThrow(MlpSpecSchema, input, 'mlp spec');
  const layers = mlpLayers(spec);
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  let current = spec.inputName;
  layers.forEach((layer, i) => {
    const last = i === layers.length - 1;
    const w = `w${i}`;
    const b = `b${i}`;
    initializers.push(floatTensor(w, [layer.inSize, layer.outSize], layer.weights));
    initializers.push(floatTensor(b, [layer.outSize], layer.bias));
    const gemmOut = last ? spec.outputName : `h${i}`;
    nodes.push(node('Gemm', [current, w, b], [gemmOut]));
    current = gemmOut;
    if (!last && spec.activation !== 'none') {
      nodes.push(node(ONNX_ACTIVATION[spec.activation], [gemmOut], [`a${i}`]));
      current = `a${i}`;
    }
  });
  const bytes = encodeModel({
    name: 'mlp',
    nodes,
    initializers,
    inputs: [batchedValueInfo(spec.inputName, [spec.inputSize])],
    outputs: [batchedValueInfo(spec.outputName, [spec.outputSize])],
  });
  const macsPerRow = layers.reduce((sum, l) => sum + l.inSize * l.outSize, 0);
  return { spec, layers, bytes, macsPerRow };
}

/**
 * Plain-JS forward pass of the same MLP over `rows` rows of `input`: accumulates in float64 and rounds
 * each layer's output to float32, as onnxruntime stores it between nodes.
 */
export function mlpForward(
  mlp: Pick<BuiltMlp, 'layers'> & { spec: Pick<MlpSpec, 'activation'> },
  input: Float32Array,
  rows: number,
): Float32Array {
  let current = input;
  mlp.layers.forEach((layer, i) => {
    const last = i === mlp.layers.length - 1;
    if (current.length !== rows * layer.inSize) {
      throw new RangeError(`layer ${i} needs ${rows * layer.inSize} inputs, got ${current.length}`);
    }
    current = dense(layer, current, rows, last ? 'none' : mlp.spec.activation);
  });
  return current;
}

function dense(layer: DenseLayer, input: Float32Array, rows: number, activation: Activation): Float32Array {
  const { inSize, outSize, weights, bias } = layer;
  const out = new Float32Array(rows * outSize);
  const acc = new Float64Array(outSize);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outSize; o++) acc[o] = bias[o] as number;
    for (let k = 0; k < inSize; k++) {
      const x = input[r * inSize + k] as number;
      if (x === 0) continue;
      const row = k * outSize;
      for (let o = 0; o < outSize; o++) acc[o] = (acc[o] as number) + x * (weights[row + o] as number);
    }
    for (let o = 0; o < outSize; o++) out[r * outSize + o] = activate(acc[o] as number, activation);
  }
  return out;
}

function activate(v: number, activation: Activation): number {
  switch (activation) {
    case 'relu':
      return Math.max(v, 0);
    case 'tanh':
      return Math.tanh(v);
    case 'sigmoid':
      return 1 / (1 + Math.exp(-v));
    case 'none':
      return v;
  }
}
