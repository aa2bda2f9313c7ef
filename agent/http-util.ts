import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerOptions,
  type ServerResponse,
} from 'node:http';
import type { z } from 'zod';
import { type FieldIssue, ValidationError } from '../lib/core/errors.ts';
import { toFieldIssues } from '../lib/core/model/validate.ts';

/**
 * HTTP plumbing shared by the agent's servers (the model server and the router): bounded bodies, JSON
 * answers, errors that carry their status, and a stop that lets answers in progress finish.
 */

/**
 * Largest body of each form. Binary tensors are copied, never parsed, so they may be large (a batch of
 * images). A JSON body is parsed and checked value by value, about 18 ms per MiB on a 2-vCPU
 * instance during which the event loop serves nothing else: 4 MiB (some 200,000 floats, a 3x224x224
 * image) keeps that stall under 100 ms; bigger tensors belong in the binary form.
 */
export const MAX_BINARY_BODY_BYTES = 64 * 1024 * 1024;
export const MAX_JSON_BODY_BYTES = 4 * 1024 * 1024;

/**
 * Body bytes one server buffers at once, over all requests still being read: four binary bodies. Slow
 * uploads each hold their bytes until their last one arrives; past this, new bodies are refused with
 * 503 rather than letting a few stalled clients take the instance's memory.
 */
export const MAX_BUFFERED_BODY_BYTES = 4 * MAX_BINARY_BODY_BYTES;

/**
 * Server timeouts: a request must send its headers within 10 s and its whole body within 30 s (a
 * 64 MiB body needs about 17 Mbit/s), so a stalled client frees its connection and buffered bytes
 * long before Node's defaults (60 s and 300 s). The check runs every second rather than every 30 s.
 */
export const SERVER_OPTIONS: ServerOptions = {
  headersTimeout: 10_000,
  requestTimeout: 30_000,
  connectionsCheckingInterval: 1000,
};

/** Answers to requests that expect 100-continue and have not been invited to send their bodies yet. */
const awaitingContinue = new WeakSet<ServerResponse>();

/**
 * A server with the agent's timeouts, whose kept-alive connections outlast a typical client pool's. A
 * request that sends `Expect: 100-continue` reaches `handle` before its body is invited: readBody sends
 * the 100 Continue once the request passed every check that needs no body, so a refused upload is never
 * sent.
 */
export function createAgentServer(handle: RequestListener): Server {
  const server = createServer(SERVER_OPTIONS, handle);
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    awaitingContinue.add(res);
    handle(req, res);
  });
  server.keepAliveTimeout = 30_000;
  return server;
}

/**
 * An error answered with its own status (400 body cut short, 404 route, 405 method, 413 body, 415 type,
 * 503 busy).
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

/** Bytes of request bodies a server holds while reading them; shared by all of its requests. */
export class BodyBudget {
  private used = 0;

  constructor(readonly capacity: number = MAX_BUFFERED_BODY_BYTES) {}

  get inUse(): number {
    return this.used;
  }

  /** Take `bytes` if they fit; false (nothing taken) otherwise. */
  take(bytes: number): boolean {
    if (this.used + bytes > this.capacity) return false;
    this.used += bytes;
    return true;
  }

  give(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }
}

export interface BodyLimits {
  /** Largest body accepted (413 beyond). */
  readonly maxBytes: number;
  /** Shared with the server's other requests (503 when it is spent). */
  readonly budget?: BodyBudget;
}

/**
 * The whole body, or an HttpError: 413 as soon as it passes `maxBytes` (declared or streamed), 503 when
 * the server's budget of buffered bytes is spent, 400 when the connection ends before its last byte (the
 * client left, broke the framing or ran out of time). After a refusal the rest is not buffered; the
 * error answer closes the connection (see sendErrorAnswer), so the client reads the status rather than a
 * reset. With `res` of a createAgentServer request that expects 100-continue, the client is invited to
 * send its body once the declared length fits.
 */
export function readBody(req: IncomingMessage, limits: BodyLimits, res?: ServerResponse): Promise<Buffer> {
  const { maxBytes, budget } = limits;
  const declared =
    req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
  if (declared !== undefined && declared > maxBytes)
    return Promise.reject(new HttpError(413, `body must be at most ${maxBytes} bytes, got ${declared}`));
  let held = 0;
  const hold = (bytes: number): boolean => {
    if (!budget) return true;
    if (!budget.take(bytes)) return false;
    held += bytes;
    return true;
  };
  const release = () => {
    budget?.give(held);
    held = 0;
  };
  const busy = () =>
    new HttpError(503, 'server is busy reading other request bodies', { 'retry-after': '1' });
  // A declared body is reserved whole before a byte is read; a chunked one chunk by chunk.
  if (declared !== undefined && !hold(declared)) return Promise.reject(busy());
  if (res && awaitingContinue.delete(res) && !res.headersSent) res.writeContinue();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const refuse = (error: HttpError) => {
      settled = true;
      chunks.length = 0;
      release();
      reject(error);
    };
    // The connection ended before the body did: the client's doing (or its time ran out), not the server's.
    const cutShort = () => {
      if (settled) return;
      const of = declared === undefined ? '' : ` of ${declared}`;
      refuse(new HttpError(400, `request body incomplete: the connection ended after ${size}${of} bytes`));
    };
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.byteLength;
      if (size > maxBytes) return refuse(new HttpError(413, `body must be at most ${maxBytes} bytes`));
      if (declared === undefined && !hold(chunk.byteLength)) return refuse(busy());
      chunks.push(chunk);
    });
    req.on('end', () => {
      release();
      if (settled) return;
      settled = true;
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
    });
    req.on('error', cutShort);
    req.on('close', () => {
      cutShort();
      release();
    });
  });
}

/**
 * Which form a body is in, from Content-Type (JSON when absent); 415 for another type, or for any
 * Content-Encoding but identity: a compressed body would only fail later as malformed.
 */
export function bodyForm(req: IncomingMessage): 'binary' | 'json' {
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && !['', 'identity'].includes(encoding.trim().toLowerCase()))
    throw new HttpError(
      415,
      `content-encoding must be identity (or absent), got ${JSON.stringify(encoding)}; send the body uncompressed`,
    );
  const type = (req.headers['content-type'] ?? 'application/json').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === 'application/octet-stream') return 'binary';
  if (type === 'application/json') return 'json';
  throw new HttpError(
    415,
    `content-type must be application/json or application/octet-stream, got ${JSON.stringify(type)}`,
  );
}

/**
 * Refuse a method a route does not answer: 405 with the Allow header. A GET route answers HEAD too
 * (Node sends the headers without the body).
 */
export function checkMethod(method: string | undefined, path: string, route: 'GET' | 'POST'): void {
  const allowed = route === 'GET' ? ['GET', 'HEAD'] : ['POST'];
  if (method !== undefined && allowed.includes(method)) return;
  throw new HttpError(405, `method ${method} not allowed on ${path}; use ${allowed.join(' or ')}`, {
    allow: allowed.join(', '),
  });
}

/**
 * Tensor dims from a header like "2,64": decimal integers of at least `min`, spaces around commas
 * allowed; undefined for anything else ("0x10", "1e3", "-1", "", "2,,3").
 */
export function parseDims(text: string | undefined, min: number): number[] | undefined {
  if (text === undefined) return undefined;
  const parts = text.split(',').map((p) => p.trim());
  if (!parts.every((p) => /^\d{1,15}$/.test(p))) return undefined;
  const dims = parts.map(Number);
  return dims.every((d) => d >= min) ? dims : undefined;
}

/**
 * The dims of a binary float32 body from its X-Tensor-Dims header, or the issue with them: not positive
 * integers, more values than a body of `maxBytes` holds (the header is wrong, whatever the body), or
 * another length than the body's.
 */
export function binaryDims(
  text: string | undefined,
  byteLength: number,
  maxBytes: number = MAX_BINARY_BODY_BYTES,
): { dims: number[]; issue?: undefined } | { dims?: undefined; issue: FieldIssue } {
  const dims = parseDims(text, 1);
  if (!dims || dims.length === 0)
    return {
      issue: {
        path: 'X-Tensor-Dims',
        message: `must be positive integers like "1,64", got ${JSON.stringify(text ?? '')}`,
      },
    };
  const values = dims.reduce((n, d) => n * BigInt(d), 1n);
  if (values * 4n > BigInt(maxBytes))
    return {
      issue: {
        path: 'X-Tensor-Dims',
        message: `describes ${values} float32 values, more than a body of at most ${maxBytes} bytes holds (${Math.floor(maxBytes / 4)} values)`,
      },
    };
  if (Number(values) * 4 !== byteLength)
    return {
      issue: {
        path: 'body',
        message: `must be ${Number(values) * 4} bytes of float32 for dims [${dims.join(', ')}], got ${byteLength}`,
      },
    };
  return { dims };
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

export interface ErrorAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly headers?: Record<string, string>;
}

/**
 * Answer an error, or cut the connection when the answer had already begun. An answer given before the
 * request body was read whole closes the connection: keeping it would mean reading (and discarding) up to
 * the rest of a body the server has just refused.
 */
export function sendErrorAnswer(res: ServerResponse, answer: () => ErrorAnswer): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const { status, body, headers } = answer();
  const unread = res.req !== undefined && !res.req.complete;
  sendJson(res, status, body, { ...headers, ...(unread ? { connection: 'close' } : {}) });
}

/** A JSON request body checked against `schema`; bad JSON or bad fields are a 400 ValidationError. */
export function parseJsonBody<S extends z.ZodType>(body: Buffer, schema: S): z.output<S> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new ValidationError('infer request', [
      { path: '', message: `body must be JSON: ${String(error)}` },
    ]);
  }
  const result = schema.safeParse(parsed);
  if (!result.success) throw new ValidationError('infer request', toFieldIssues(result.error));
  return result.data;
}

/** Requests a server is answering, so that a stop can let them finish. */
export class ActiveRequests {
  private count = 0;
  private waiters: (() => void)[] = [];

  get size(): number {
    return this.count;
  }

  track(res: ServerResponse): void {
    this.count++;
    res.once('close', () => {
      this.count--;
      if (this.count === 0) for (const wake of this.waiters.splice(0)) wake();
    });
  }

  /** Resolves once no request is being answered, or after `timeoutMs`. */
  idle(timeoutMs: number): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.waiters.push(done);
    });
  }
}

/**
 * Close gracefully: stop accepting connections and drop idle ones, run `drain` (finish or fail the queued
 * work), let the answers in progress finish for up to `graceMs`, then cut what is left.
 */
export async function closeServer(
  server: Server,
  active: ActiveRequests,
  graceMs: number,
  drain: () => Promise<void> = async () => {},
): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  try {
    await drain();
    await active.idle(graceMs);
  } finally {
    server.closeAllConnections();
  }
  await closed;
}
