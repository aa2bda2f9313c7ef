import { Agent, request } from 'node:http';

/**
 * The router's line to a stage replica: one batched binary request to the replica's model server
 * (`POST {endpoint}/infer`, raw float32 rows, `X-Tensor-Dims`), over kept-alive connections so a batch
 * costs one round trip and no handshake.
 */

export interface Tensor {
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

/** A replica answered with an error status, or could not be reached. */
export class ReplicaError extends Error {
  override readonly name = 'ReplicaError';
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type BatchSender = (endpoint: string, input: Tensor, timeoutMs: number) => Promise<Tensor>;

const keepAlive = new Agent({ keepAlive: true, maxSockets: 8, keepAliveMsecs: 10_000 });

/** Send one batch and read the first output tensor back. */
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
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => reject(new ReplicaError(`reading ${endpoint} failed: ${e.message}`)));
        res.on('end', () => {
          const bytes = Buffer.concat(chunks);
          if (res.statusCode !== 200) {
            const text = bytes.toString('utf8').slice(0, 300);
            reject(new ReplicaError(`${endpoint} answered ${res.statusCode}: ${text}`, res.statusCode));
            return;
          }
          const dims = String(res.headers['x-tensor-dims'] ?? '')
            .split(',')
            .map(Number);
          resolve({ dims, data: alignedFloats(bytes) });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) =>
      reject(new ReplicaError(`${endpoint} failed: ${e.message}`, undefined, { cause: e })),
    );
    req.end(body);
  });

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
