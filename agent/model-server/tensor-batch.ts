import { Tensor } from 'onnxruntime-node';

/**
 * Joining requests into one batch and splitting the outputs back. Every input of a request shares its
 * first (batch) dimension; a batch stacks the requests' rows along it, so the model runs once.
 */

/** A dense float32 tensor as it crosses the wire. */
export interface WireTensor {
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

export type Feeds = Readonly<Record<string, WireTensor>>;

/** Outputs of one request; only numeric tensors are served. */
export type Outputs = Readonly<Record<string, WireTensor | NumericTensor>>;

export interface NumericTensor {
  readonly dims: readonly number[];
  readonly data: ArrayLike<number>;
}

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** Rows in a request (its batch dimension) and a key that groups requests whose other dims match. */
export function batchShape(feeds: Feeds): { rows: number; key: string } {
  let rows = 0;
  const parts: string[] = [];
  for (const name of Object.keys(feeds).sort()) {
    const t = feeds[name] as WireTensor;
    rows = t.dims[0] ?? 1;
    parts.push(`${name}:${t.dims.slice(1).join('x')}`);
  }
  return { rows, key: parts.join(';') };
}

/** One tensor per input name, rows of every request stacked in order. A single request is not copied. */
export function concatFeeds(requests: readonly Feeds[]): Record<string, Tensor> {
  const first = requests[0];
  if (!first) throw new RangeError('a batch needs at least one request');
  const out: Record<string, Tensor> = {};
  for (const name of Object.keys(first)) {
    const head = first[name] as WireTensor;
    if (requests.length === 1) {
      out[name] = new Tensor('float32', head.data, [...head.dims]);
      continue;
    }
    let rows = 0;
    let length = 0;
    for (const r of requests) {
      const t = r[name] as WireTensor;
      rows += t.dims[0] ?? 1;
      length += t.data.length;
    }
    const data = new Float32Array(length);
    let offset = 0;
    for (const r of requests) {
      const t = r[name] as WireTensor;
      data.set(t.data, offset);
      offset += t.data.length;
    }
    out[name] = new Tensor('float32', data, [rows, ...head.dims.slice(1)]);
  }
  return out;
}

type OrtOutputs = Readonly<Record<string, { readonly dims: readonly number[]; readonly data: unknown }>>;

/** Slice each output along its first dimension back into per-request pieces of `rows[i]` rows. */
export function splitOutputs(outputs: OrtOutputs, rows: readonly number[]): Outputs[] {
  const total = rows.reduce((a, b) => a + b, 0);
  const pieces: Record<string, NumericTensor>[] = rows.map(() => ({}));
  for (const [name, tensor] of Object.entries(outputs)) {
    const data = tensor.data;
    if (!isNumericArray(data)) throw new TypeError(`output ${name} is not a numeric tensor`);
    if (tensor.dims[0] !== total) {
      throw new RangeError(`output ${name} has ${tensor.dims[0]} rows, the batch had ${total}`);
    }
    const perRow = total === 0 ? 0 : data.length / total;
    let offset = 0;
    rows.forEach((n, i) => {
      const piece = rows.length === 1 ? data : data.subarray(offset * perRow, (offset + n) * perRow);
      (pieces[i] as Record<string, NumericTensor>)[name] = {
        dims: [n, ...tensor.dims.slice(1)],
        data: piece,
      };
      offset += n;
    });
  }
  return pieces;
}

type NumericArray =
  | Float32Array
  | Float64Array
  | Int32Array
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array;

function isNumericArray(data: unknown): data is NumericArray {
  return (
    data instanceof Float32Array ||
    data instanceof Float64Array ||
    data instanceof Int32Array ||
    data instanceof Uint8Array ||
    data instanceof Int8Array ||
    data instanceof Uint16Array ||
    data instanceof Int16Array
  );
}
