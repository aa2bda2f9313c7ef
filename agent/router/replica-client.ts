import { Agent, request } from 'node:http';
import type { FieldIssue } from '../../lib/core/errors.ts';
import { parseDims } from '../http-util.ts';
import type { InputShape } from './stage.ts';

/**
 * The router's line to a stage replica: one batched binary request to the replica's model server
 * (`POST {endpoint}/infer`, raw float32 rows, `X-Tensor-Dims`), over kept-alive connections so a batch
 * costs one round trip and no handshake.
 */

export interface Tensor {
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

/**
 * A replica answered with an error status, or could not be reached. A 400 carries the replica's field
 * issues: the batch's input does not fit the model, which is the queries' fault, not the replica's.
 */
export class ReplicaError extends Error {
  override readonly name = 'ReplicaError';
  readonly issues: readonly FieldIssue[];
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown; issues?: readonly FieldIssue[] },
  ) {
    super(message, options);
    this.issues = options?.issues ?? [];
  }

  /**
   * The replica refused the input itself (400). Other 4xx answers are not the queries' fault: 404, 405
   * and 415 mean the endpoint is wrong, 413 that the batch outgrew the replica's body limit.
   */
  get inputRefused(): boolean {
    return this.status === 400;
  }
}

export type BatchSender = (endpoint: string, input: Tensor, timeoutMs: number) => Promise<Tensor>;

const keepAlive = new Agent({ keepAlive: true, maxSockets: 8, keepAliveMsecs: 10_000 });

/**
 * Send one batch and read the first output tensor back. `timeoutMs` bounds the whole exchange, not the
 * socket's idle time: a replica trickling bytes must not hold a batch past its queries' deadlines.
 */
export const postBatch: BatchSender = (endpoint, input, timeoutMs) =>
  new Promise((resolve, reject) => {
    const body = Buffer.from(input.data.buffer, input.data.byteOffset, input.data.byteLength);
    const req = request(
      `${endpoint}/infer`,
      {
        method: 'POST',
        agent: keepAlive,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': body.byteLength,
          'x-tensor-dims': input.dims.join(','),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => reject(new ReplicaError(`reading ${endpoint} failed: ${e.message}`)));
        res.on('end', () => {
          clearTimeout(timer);
          const bytes = Buffer.concat(chunks);
          try {
            resolve(decodeAnswer(endpoint, res.statusCode ?? 0, res.headers['x-tensor-dims'], bytes));
          } catch (error) {
            reject(error);
          }
        });
      },
    );
    const timer = setTimeout(
      () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)),
      Math.max(1, timeoutMs),
    );
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(new ReplicaError(`${endpoint} failed: ${e.message}`, undefined, { cause: e }));
    });
    req.end(body);
  });

/** An entry stage's model input shape, read from one of its replicas; undefined when it has several inputs. */
export type DescribeStage = (endpoint: string) => Promise<InputShape | undefined>;

/** The model server's metadata (`GET {endpoint}`): the shape of the model's one input. */
export const fetchInputShape: DescribeStage = async (endpoint) => {
  const res = await fetch(endpoint, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new ReplicaError(`${endpoint} answered ${res.status}`, res.status);
  const meta = (await res.json()) as { inputs?: { shape?: unknown }[] };
  const shape = meta.inputs?.length === 1 ? meta.inputs[0]?.shape : undefined;
  return Array.isArray(shape) && shape.every((d) => typeof d === 'number' || typeof d === 'string')
    ? (shape as InputShape)
    : undefined;
};

/** A replica's answer as a tensor, or the ReplicaError it amounts to. */
export function decodeAnswer(
  endpoint: string,
  status: number,
  dimsHeader: string | string[] | undefined,
  bytes: Buffer,
): Tensor {
  if (status !== 200) {
    const text = bytes.toString('utf8').slice(0, 300);
    throw new ReplicaError(`${endpoint} answered ${status}: ${text}`, status, {
      issues: status === 400 ? issuesOf(bytes) : [],
    });
  }
  const header = Array.isArray(dimsHeader) ? dimsHeader[0] : dimsHeader;
  const dims = parseDims(header, 0);
  // Dims that do not describe the body would hand each query someone else's rows: a broken replica.
  if (!dims || dims.reduce((a, b) => a * b, 1) * 4 !== bytes.byteLength)
    throw new ReplicaError(
      `${endpoint} answered ${bytes.byteLength} bytes with X-Tensor-Dims ${JSON.stringify(header ?? '')}`,
    );
  return { dims, data: alignedFloats(bytes) };
}

/** The field issues of a model server's 400 answer (`{"error","issues":[{path,message}]}`). */
function issuesOf(bytes: Buffer): FieldIssue[] {
  try {
    const parsed = JSON.parse(bytes.toString('utf8')) as { error?: unknown; issues?: unknown };
    if (Array.isArray(parsed.issues))
      return parsed.issues
        .filter((i): i is FieldIssue => typeof i?.path === 'string' && typeof i?.message === 'string')
        .map((i) => ({ path: i.path, message: i.message }));
    if (typeof parsed.error === 'string') return [{ path: '', message: parsed.error }];
  } catch {
    // Not JSON: the text is in the error's message.
  }
  return [];
}

function alignedFloats(bytes: Buffer): Float32Array {
  if (bytes.byteOffset % 4 === 0)
    return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Float32Array(copy.buffer);
}

/** Rows of several tensors concatenated along the first dimension (trailing dims must match). */
export function concatRows(parts: readonly Tensor[]): Tensor {
  const first = parts[0];
  if (!first) throw new RangeError('a batch must hold at least one tensor');
  const rows = parts.reduce((n, t) => n + (t.dims[0] ?? 1), 0);
  const data = new Float32Array(parts.reduce((n, t) => n + t.data.length, 0));
  let offset = 0;
  for (const t of parts) {
    data.set(t.data, offset);
    offset += t.data.length;
  }
  return { dims: [rows, ...first.dims.slice(1)], data };
}

/** Split a batched output back into tensors of the given row counts. */
export function splitRows(output: Tensor, rows: readonly number[]): Tensor[] {
  const total = output.dims[0] ?? 0;
  const wanted = rows.reduce((a, b) => a + b, 0);
  if (total !== wanted) throw new ReplicaError(`replica returned ${total} rows for a batch of ${wanted}`);
  const perRow = total > 0 ? output.data.length / total : 0;
  let row = 0;
  return rows.map((r) => {
    const part = {
      dims: [r, ...output.dims.slice(1)],
      data: output.data.slice(row * perRow, (row + r) * perRow),
    };
    row += r;
    return part;
  });
}

/** Non-batch dims as a key: tensors with different keys cannot share a batch. */
export function trailingKey(t: Tensor): string {
  return t.dims.slice(1).join('x');
}
