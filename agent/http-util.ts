import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { ValidationError } from '../lib/core/errors.ts';
import { toFieldIssues } from '../lib/core/model/validate.ts';

/**
 * HTTP plumbing shared by the agent's servers (the model server and the router): bounded bodies, JSON
 * answers and errors that carry their status.
 */

/** Largest request body either server reads. */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** An error answered with its own status (404 route, 405 method, 413 body, 415 type). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The whole body, or HttpError 413 as soon as it passes MAX_BODY_BYTES (declared or streamed). */
export function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES)
    return Promise.reject(
      new HttpError(413, `body must be at most ${MAX_BODY_BYTES} bytes, got ${declared}`),
    );
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, `body must be at most ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
    req.on('error', reject);
  });
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

/** Answer an error, or cut the connection when the answer had already begun. */
export function sendErrorAnswer(res: ServerResponse, answer: () => ErrorAnswer): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const { status, body, headers } = answer();
  sendJson(res, status, body, headers);
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
