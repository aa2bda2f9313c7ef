import onnxProto from 'onnx-proto';

/**
 * Small helpers over onnx-proto's ModelProto for writing test models: float32 initializers stored as
 * raw little-endian bytes, value infos whose first dimension is the symbolic `batch`, and nodes with
 * int / ints / float attributes. Enough for MLPs and small conv nets; not a general ONNX writer.
 */

const { onnx } = onnxProto;

export type NodeProto = InstanceType<typeof onnx.NodeProto>;
export type TensorProto = InstanceType<typeof onnx.TensorProto>;
export type ValueInfoProto = InstanceType<typeof onnx.ValueInfoProto>;

/** The symbolic name of the dynamic batch dimension in every model we write. */
export const BATCH_DIM = 'batch';
/** ONNX IR 8 with opset 13 runs on every onnxruntime from 1.10 on. */
const IR_VERSION = 8;
const OPSET = 13;

export type AttributeValue = number | readonly number[] | { float: number };

/** A float32 initializer; `data` is stored as raw little-endian bytes. */
export function floatTensor(name: string, dims: readonly number[], data: Float32Array): TensorProto {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (data.length !== expected) {
    throw new RangeError(
      `tensor ${name} needs ${expected} values for dims [${dims.join(', ')}], got ${data.length}`,
    );
  }
  return onnx.TensorProto.create({
    name,
    dims: [...dims],
    dataType: onnx.TensorProto.DataType.FLOAT,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  });
}

/** A float32 graph input or output of shape `[batch, ...rest]`. */
export function batchedValueInfo(name: string, rest: readonly number[]): ValueInfoProto {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: [{ dimParam: BATCH_DIM }, ...rest.map((n) => ({ dimValue: n }))] },
      },
    },
  });
}

export function node(
  opType: string,
  inputs: readonly string[],
  outputs: readonly string[],
  attributes: Record<string, AttributeValue> = {},
): NodeProto {
  return onnx.NodeProto.create({
    opType,
    name: `${opType.toLowerCase()}_${outputs[0] ?? 'out'}`,
    input: [...inputs],
    output: [...outputs],
    attribute: Object.entries(attributes).map(([name, value]) => attribute(name, value)),
  });
}

function attribute(name: string, value: AttributeValue) {
  const { AttributeType } = onnx.AttributeProto;
  if (typeof value === 'number')
    return onnx.AttributeProto.create({ name, type: AttributeType.INT, i: value });
  if ('float' in value)
    return onnx.AttributeProto.create({ name, type: AttributeType.FLOAT, f: value.float });
  return onnx.AttributeProto.create({ name, type: AttributeType.INTS, ints: [...value] });
}

export interface GraphParts {
  readonly name: string;
  readonly nodes: readonly NodeProto[];
  readonly initializers: readonly TensorProto[];
  readonly inputs: readonly ValueInfoProto[];
  readonly outputs: readonly ValueInfoProto[];
}

/** Serialize a graph into ONNX model bytes. */
export function encodeModel(parts: GraphParts): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: 'tetrafleet',
    producerVersion: '1',
    opsetImport: [{ domain: '', version: OPSET }],
    graph: {
      name: parts.name,
      node: [...parts.nodes],
      initializer: [...parts.initializers],
      input: [...parts.inputs],
      output: [...parts.outputs],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
