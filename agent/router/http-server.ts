import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { z } from 'zod';
import { ValidationError } from '../../lib/core/errors.ts';
import {
  type ActiveRequests,
  BodyBudget,
  binaryDims,
  bodyForm,
  checkMethod,
  createAgentServer,
  type ErrorAnswer,
  HttpError,
  MAX_BINARY_BODY_BYTES,
  MAX_JSON_BODY_BYTES,
  parseJsonBody,
  readBody,
  sendErrorAnswer,
  sendJson,
} from '../http-util.ts';
import { NotServingError, QueryFailedError, ShedError } from './errors.ts';
import type { PipelineRouter } from './pipeline-router.ts';
import type { Tensor } from './replica-client.ts';

/**
 * The pipeline's front door (see README.md):
 *   GET  /healthz                      200 while running, 503 while stopping
 *   GET  /v1/pipelines/{id}            configuration, replicas, queue depths, totals
 *   POST /v1/pipelines/{id}/infer      binary float32 (`X-Tensor-Dims`) or JSON {"input": {dims, data}}
 * GET routes answer HEAD too; another method is 405 with Allow.
 */

export interface RouterHttpContext {
  readonly pipelineId: string;
  readonly router: PipelineRouter;
  readonly stopping: () => boolean;
  readonly log: (message: string) => void;
  /** Requests being answered, for a stop that lets them finish. */
  readonly active: ActiveRequests;
  /** Body bytes being read at once. @default a BodyBudget of MAX_BUFFERED_BODY_BYTES */
  readonly budget?: BodyBudget;
}

const JsonInputSchema = z.object({
  input: z
    .object({
      dims: z.array(z.number().int().min(1, { error: 'dims must be at least 1' })).min(1),
      data: z.array(z.number({ error: 'data must hold numbers' })),
    })
    .superRefine((t, ctx) => {
      const expected = t.dims.reduce((a, b) => a * b, 1);
      if (t.data.length !== expected)
        ctx.addIssue({
          code: 'custom',
          path: ['data'],
          message: `data must hold ${expected} values for dims [${t.dims.join(', ')}], got ${t.data.length}`,
        });
    }),
});

export function createRouterHttpServer(ctx: RouterHttpContext): Server {
  const budget = ctx.budget ?? new BodyBudget();
  return createAgentServer((req, res) => {
    ctx.active.track(res);
    route(ctx, budget, req, res).catch((error: unknown) => sendError(ctx, res, error));
  });
}

async function route(
  ctx: RouterHttpContext,
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
      pipelineId: ctx.pipelineId,
      serving: ctx.router.serving,
    });
  }
  const match = /^\/v1\/pipelines\/([^/]+)(\/infer)?$/.exec(path);
  if (!match) throw new HttpError(404, `no route ${req.method} ${path}`);
  if (match[1] !== ctx.pipelineId)
    throw new HttpError(404, `unknown pipeline ${match[1]}; this router serves ${ctx.pipelineId}`);
  if (!match[2]) {
    checkMethod(req.method, path, 'GET');
    return sendJson(res, 200, ctx.router.status());
  }
  checkMethod(req.method, path, 'POST');
  return infer(ctx, budget, req, res);
}

async function infer(
  ctx: RouterHttpContext,
  budget: BodyBudget,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const binary = bodyForm(req) === 'binary';
  // Refused now (stopping, not serving, a queue at its bound), a query costs no body read.
  if (ctx.stopping()) throw new NotServingError(ctx.pipelineId, 'router is stopping');
  const refusal = ctx.router.refusal();
  if (refusal) throw refusal;
  const body = await readBody(
    req,
    { maxBytes: binary ? MAX_BINARY_BODY_BYTES : MAX_JSON_BODY_BYTES, budget },
    res,
  );
  const input = binary ? decodeBinary(body, req.headers['x-tensor-dims']) : decodeJson(body);
  if (ctx.stopping()) throw new NotServingError(ctx.pipelineId, 'router is stopping');
  const result = await ctx.router.submit(input);
  const headers = {
    'x-total-ms': result.totalMs.toFixed(3),
    'x-stages': result.stages.join(','),
  };
  if (binary) {
    const out = result.output.data;
    const bytes = Buffer.from(out.buffer, out.byteOffset, out.byteLength);
    res.writeHead(200, {
      ...headers,
      'content-type': 'application/octet-stream',
      'content-length': bytes.byteLength,
      'x-tensor-dims': result.output.dims.join(','),
    });
    res.end(bytes);
    return;
  }
  const text = JSON.stringify({
    pipelineId: ctx.pipelineId,
    output: { dims: result.output.dims, data: Array.from(result.output.data) },
    totalMs: result.totalMs,
    stages: result.stages,
  });
  res.writeHead(200, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function decodeBinary(body: Buffer, dimsHeader: string | string[] | undefined): Tensor {
  const { dims, issue } = binaryDims(Array.isArray(dimsHeader) ? dimsHeader[0] : dimsHeader, body.byteLength);
  if (!dims) throw new ValidationError('infer request', issue ? [issue] : []);
  // Copy into an aligned buffer (a pooled Buffer may start at any offset): one memcpy.
  const bytes = new Uint8Array(body.byteLength);
  bytes.set(body);
  return { dims, data: new Float32Array(bytes.buffer) };
}

function decodeJson(body: Buffer): Tensor {
  const { input } = parseJsonBody(body, JsonInputSchema);
  return { dims: input.dims, data: Float32Array.from(input.data) };
}

function sendError(ctx: RouterHttpContext, res: ServerResponse, error: unknown): void {
  sendErrorAnswer(res, () => errorResponse(ctx, error));
}

function errorResponse(ctx: RouterHttpContext, error: unknown): ErrorAnswer {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof ShedError)
    return {
      status: 503,
      body: { error: message },
      headers: { 'retry-after': String(error.retryAfterSeconds) },
    };
  if (error instanceof NotServingError)
    return { status: 503, body: { error: message }, headers: { 'retry-after': '1' } };
  if (error instanceof ValidationError)
    return { status: 400, body: { error: message, issues: error.issues } };
  if (error instanceof HttpError)
    return { status: error.status, body: { error: message }, headers: { ...error.headers } };
  if (error instanceof QueryFailedError)
    return {
      status: FAILED_STATUS[error.reason],
      body: { error: message, reason: error.reason },
      // A query failed by a stop may be sent again at once, to another router or this one restarted.
      ...(error.reason === 'closed' ? { headers: { 'retry-after': '1' } } : {}),
    };
  ctx.log(`infer failed: ${message}`);
  return { status: 500, body: { error: `infer failed: ${message}` } };
}

const FAILED_STATUS: Readonly<Record<QueryFailedError['reason'], number>> = {
  replica: 502,
  deadline: 504,
  closed: 503,
  'too-large': 413,
};
