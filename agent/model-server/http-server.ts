import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { NotFoundError, ValidationError } from '../../lib/core/errors.ts';
import {
  type ActiveRequests,
  BodyBudget,
  bodyForm,
  checkMethod,
  createAgentServer,
  type ErrorAnswer,
  HttpError,
  MAX_BINARY_BODY_BYTES,
  MAX_JSON_BODY_BYTES,
  readBody,
  sendErrorAnswer,
  sendJson,
} from '../http-util.ts';
import { BatcherClosedError, QueueFullError } from './batcher.ts';
import {
  decodeBinaryRequest,
  decodeJsonRequest,
  encodeBinaryResponse,
  encodeJsonResponse,
  type InferRequest,
  timingHeaders,
} from './codec.ts';
import type { ModelEngine } from './engine.ts';

/**
 * Routes:
 *   GET  /healthz                     200 {"status":"ok",...} while serving, 503 while stopping
 *   GET  /v1/models/{id}              metadata: inputs, outputs, provider, maxBatch, ...
 *   POST /v1/models/{id}/infer        JSON or binary tensors (see codec.ts)
 * GET routes answer HEAD too. Errors are JSON `{"error": "...", "issues": [{path, message}]?}`: 400 bad
 * input or a body cut short, 404 unknown model or route, 405 + Allow another method, 413 body too large
 * (64 MiB binary, 4 MiB JSON), 415 other content types or encodings, 503 + Retry-After when the queue is
 * full, the server is stopping or too many body bytes are being read, 500 when the model run fails. A
 * full queue or a stop is answered before the body is read (before 100 Continue, when it is expected).
 */

export interface HttpContext {
  readonly modelId: string;
  readonly engine: ModelEngine;
  readonly metadata: () => Record<string, unknown>;
  readonly stopping: () => boolean;
  readonly log: (message: string) => void;
  /** Requests being answered, for a stop that lets them finish. */
  readonly active: ActiveRequests;
  /** Body bytes being read at once. @default a BodyBudget of MAX_BUFFERED_BODY_BYTES */
  readonly budget?: BodyBudget;
}

export function createModelHttpServer(ctx: HttpContext): Server {
  const budget = ctx.budget ?? new BodyBudget();
  return createAgentServer((req, res) => {
    ctx.active.track(res);
    route(ctx, budget, req, res).catch((error: unknown) => sendError(ctx, res, error));
  });
}

async function route(
  ctx: HttpContext,
  budget: BodyBudget,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  if (path === '/healthz') {
    checkMethod(req.method, path, 'GET');
    const status = ctx.stopping() ? 503 : 200;
    return sendJson(res, status, {
      status: status === 200 ? 'ok' : 'stopping',
      modelId: ctx.modelId,
      queueDepth: ctx.engine.queueDepth,
    });
  }
  const match = /^\/v1\/models\/([^/]+)(\/infer)?$/.exec(path);
  if (!match) throw new HttpError(404, `no route ${req.method} ${path}`);
  const id = decodeSegment(match[1] ?? '');
  if (id !== ctx.modelId) throw new NotFoundError('model', id);
  if (!match[2]) {
    checkMethod(req.method, path, 'GET');
    return sendJson(res, 200, ctx.metadata());
  }
  checkMethod(req.method, path, 'POST');
  return infer(ctx, budget, req, res);
}

async function infer(
  ctx: HttpContext,
  budget: BodyBudget,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const binary = bodyForm(req) === 'binary';
  // Refused now, a request costs no body read: a client sending 64 MiB to a full queue learns at once.
  const refusal = ctx.engine.refusal();
  if (refusal) throw refusal;
  const body = await readBody(
    req,
    { maxBytes: binary ? MAX_BINARY_BODY_BYTES : MAX_JSON_BODY_BYTES, budget },
    res,
  );
  const shape = ctx.engine.model;
  const modelShape = { inputs: shape.inputs, outputs: shape.outputs, maxBatch: ctx.engine.config.maxBatch };
  const request: InferRequest = binary
    ? decodeBinaryRequest(body, req.headers, modelShape)
    : decodeJsonRequest(body, modelShape);
  const { output, timing } = await ctx.engine.infer(request.feeds);
  const headers = timingHeaders(timing);
  if (binary) {
    const name = request.outputs?.[0] ?? shape.outputs[0]?.name ?? '';
    const { body: bytes, dims } = encodeBinaryResponse(output, name);
    res.writeHead(200, {
      ...headers,
      'content-type': 'application/octet-stream',
      'content-length': bytes.byteLength,
      'x-tensor-dims': dims.join(','),
      'x-output-name': name,
    });
    res.end(bytes);
    return;
  }
  const text = encodeJsonResponse(ctx.modelId, output, request.outputs, timing);
  res.writeHead(200, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `model id must be URL-encoded, got ${segment}`);
  }
}

function sendError(ctx: HttpContext, res: ServerResponse, error: unknown): void {
  sendErrorAnswer(res, () => errorResponse(ctx, error));
}

function errorResponse(ctx: HttpContext, error: unknown): ErrorAnswer {
  if (error instanceof QueueFullError) {
    return {
      status: 503,
      body: { error: error.message },
      headers: { 'retry-after': String(error.retryAfterSeconds) },
    };
  }
  if (error instanceof BatcherClosedError) {
    return { status: 503, body: { error: error.message }, headers: { 'retry-after': '1' } };
  }
  if (error instanceof ValidationError)
    return { status: 400, body: { error: error.message, issues: error.issues } };
  if (error instanceof NotFoundError) return { status: 404, body: { error: error.message } };
  if (error instanceof HttpError)
    return { status: error.status, body: { error: error.message }, headers: { ...error.headers } };
  const message = error instanceof Error ? error.message : String(error);
  ctx.log(`inference failed: ${message}`);
  return { status: 500, body: { error: `inference failed: ${message}` } };
}
