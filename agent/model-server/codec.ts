import { z } from 'zod';
import { type FieldIssue, ValidationError } from '../../lib/core/errors.ts';
import { binaryDims, parseJsonBody } from '../http-util.ts';
import type { RequestTiming } from './batcher.ts';
import type { TensorInfo } from './session.ts';
import {
  elementCount,
  type Feeds,
  type NumericTensor,
  type Outputs,
  type WireTensor,
} from './tensor-batch.ts';

/**
 * The two request forms of `POST /v1/models/{id}/infer`.
 *
 * JSON (`Content-Type: application/json`):
 *   request   {"inputs": {"x": {"dims": [2, 64], "data": [ ...128 numbers, row-major ]}}, "outputs": ["y"]?}
 *   response  {"modelId": "m", "outputs": {"y": {"dims": [2, 10], "data": [...]}},
 *              "timing": {"queueMs", "computeMs", "totalMs", "batchSize"}}
 * Every model input must be given, all with the same first (batch) dimension; values are float32.
 *
 * Binary (`Content-Type: application/octet-stream`), for one input and one output:
 *   request   body = raw float32 little-endian, row-major; `X-Tensor-Dims: 2,64`;
 *             `X-Input-Name` (optional when the model has one input); `X-Output-Name` (optional: first output)
 *   response  body = raw float32 little-endian; `X-Tensor-Dims` and `X-Output-Name` name the tensor.
 *
 * Both forms answer with `X-Queue-Ms`, `X-Compute-Ms`, `X-Total-Ms` and `X-Batch-Size` headers.
 */

export interface InferRequest {
  readonly feeds: Feeds;
  /** Outputs to return; all when undefined. */
  readonly outputs?: readonly string[];
}

export interface ModelShape {
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  readonly maxBatch: number;
}

const JsonTensorSchema = z
  .object({
    dims: z
      .array(
        z
          .number()
          .int({
            // An integer beyond 2^53 fails as not safe: say so, rather than that it is not whole.
            error: (issue) =>
              Number.isInteger(issue.input)
                ? `dims must be at most ${Number.MAX_SAFE_INTEGER}`
                : 'dims must be integers',
          })
          .min(1, { error: 'dims must be at least 1' }),
        {
          error: 'dims must be an array of integers',
        },
      )
      .min(1, { error: 'dims must have at least one dimension' }),
    data: z.array(z.number({ error: 'data must hold numbers' }), {
      error: 'data must be an array of numbers',
    }),
  })
  .superRefine((t, ctx) => {
    const expected = elementCount(t.dims);
    if (t.data.length !== expected) {
      ctx.addIssue({
        code: 'custom',
        path: ['data'],
        message: `data must hold ${expected} values for dims [${t.dims.join(', ')}], got ${t.data.length}`,
      });
    }
  });

const JsonInferSchema = z.object({
  inputs: z.record(z.string(), JsonTensorSchema, { error: 'inputs must map input names to tensors' }),
  outputs: z.array(z.string().min(1)).min(1).optional(),
});

export function decodeJsonRequest(body: Buffer, model: ModelShape): InferRequest {
  const request = parseJsonBody(body, JsonInferSchema);
  const feeds: Record<string, WireTensor> = {};
  for (const [name, t] of Object.entries(request.inputs)) {
    feeds[name] = { dims: t.dims, data: Float32Array.from(t.data) };
  }
  checkFeeds(feeds, model);
  const outputs = request.outputs;
  if (outputs) checkOutputNames(outputs, model, 'outputs');
  return outputs ? { feeds, outputs } : { feeds };
}

export function decodeBinaryRequest(
  body: Buffer,
  headers: Readonly<Record<string, string | string[] | undefined>>,
  model: ModelShape,
): InferRequest {
  const issues: FieldIssue[] = [];
  const { dims, issue } = binaryDims(header(headers, 'x-tensor-dims'), body.byteLength);
  // The body is judged by the dims: it is only named wrong when they are right.
  if (issue && issue.path !== 'body') issues.push(issue);
  const inputName =
    header(headers, 'x-input-name') ?? (model.inputs.length === 1 ? model.inputs[0]?.name : undefined);
  if (!inputName) {
    const names = model.inputs.map((i) => i.name).join(', ');
    issues.push({ path: 'X-Input-Name', message: `required: the model has inputs ${names}` });
  }
  const outputName = header(headers, 'x-output-name') ?? model.outputs[0]?.name;
  if (issues.length > 0 || !inputName || !outputName) throw new ValidationError('infer request', issues);
  if (!dims) throw new ValidationError('infer request', issue ? [issue] : []);
  const feeds = { [inputName]: { dims, data: float32View(body) } };
  checkFeeds(feeds, model);
  checkOutputNames([outputName], model, 'X-Output-Name');
  return { feeds, outputs: [outputName] };
}

/**
 * Every model input given once, fixed dims matching, one shared batch dimension within 1..maxBatch (or
 * exactly the model's, where the model fixes it).
 */
function checkFeeds(feeds: Feeds, model: ModelShape): void {
  const issues: FieldIssue[] = [];
  const known = new Set(model.inputs.map((i) => i.name));
  for (const name of Object.keys(feeds)) {
    if (!known.has(name))
      issues.push({
        path: `inputs.${name}`,
        message: `unknown input; the model has ${[...known].join(', ')}`,
      });
  }
  let rows: number | undefined;
  for (const input of model.inputs) {
    const t = feeds[input.name];
    if (!t) {
      issues.push({ path: `inputs.${input.name}`, message: 'missing input' });
      continue;
    }
    if (input.type !== 'float32')
      issues.push({
        path: `inputs.${input.name}`,
        message: `has type ${input.type}; only float32 inputs are served`,
      });
    if (input.shape.length > 0 && t.dims.length !== input.shape.length) {
      issues.push({
        path: `inputs.${input.name}.dims`,
        message: `must have ${input.shape.length} dimensions [${input.shape.join(', ')}], got [${t.dims.join(', ')}]`,
      });
      continue;
    }
    input.shape.forEach((want, d) => {
      if (d > 0 && typeof want === 'number' && want > 0 && t.dims[d] !== want) {
        issues.push({ path: `inputs.${input.name}.dims.${d}`, message: `must be ${want}, got ${t.dims[d]}` });
      }
    });
    const r = t.dims[0] ?? 1;
    if (rows !== undefined && r !== rows)
      issues.push({
        path: `inputs.${input.name}.dims.0`,
        message: `batch dimension must match the other inputs (${rows}), got ${r}`,
      });
    rows ??= r;
    const fixed = input.shape[0];
    if (typeof fixed === 'number' && fixed > 0) {
      if (r !== fixed)
        issues.push({
          path: `inputs.${input.name}.dims.0`,
          message: `must be ${fixed} (the model's fixed batch size), got ${r}`,
        });
    } else if (r > model.maxBatch)
      issues.push({
        path: `inputs.${input.name}.dims.0`,
        message: `batch dimension must be at most maxBatch ${model.maxBatch}, got ${r}`,
      });
  }
  if (issues.length > 0) throw new ValidationError('infer request', issues);
}

function checkOutputNames(names: readonly string[], model: ModelShape, path: string): void {
  const known = model.outputs.map((o) => o.name);
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length > 0) {
    throw new ValidationError('infer request', [
      { path, message: `unknown output ${unknown.join(', ')}; the model has ${known.join(', ')}` },
    ]);
  }
}

export function timingHeaders(timing: RequestTiming): Record<string, string> {
  return {
    'x-queue-ms': timing.queueMs.toFixed(3),
    'x-compute-ms': timing.computeMs.toFixed(3),
    'x-total-ms': timing.totalMs.toFixed(3),
    'x-batch-size': String(timing.batchSize),
  };
}

export function encodeJsonResponse(
  modelId: string,
  outputs: Outputs,
  wanted: readonly string[] | undefined,
  timing: RequestTiming,
): string {
  const out: Record<string, { dims: readonly number[]; data: number[] }> = {};
  for (const [name, t] of Object.entries(outputs)) {
    if (!wanted || wanted.includes(name)) out[name] = { dims: t.dims, data: Array.from(t.data) };
  }
  return JSON.stringify({ modelId, outputs: out, timing });
}

export function encodeBinaryResponse(
  outputs: Outputs,
  name: string,
): { body: Buffer; dims: readonly number[] } {
  const t = outputs[name] as NumericTensor;
  const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
  return { body: Buffer.from(data.buffer, data.byteOffset, data.byteLength), dims: t.dims };
}

/** A float32 view of the body, copied only when the bytes are not 4-byte aligned. */
function float32View(body: Buffer): Float32Array {
  if (body.byteOffset % 4 === 0) return new Float32Array(body.buffer, body.byteOffset, body.byteLength / 4);
  const copy = new Uint8Array(body.byteLength);
  copy.set(body);
  return new Float32Array(copy.buffer);
}

function header(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  name: string,
): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}
