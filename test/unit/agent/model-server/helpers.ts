import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ReportSink } from '../../../../lib/core/ports.ts';
import {
  type BuiltMlp,
  buildMlp,
  type MlpSpecInput,
  modelTempDir,
  writeModel,
} from '../../../../lib/onnx/index.ts';

/** Build an MLP into a fresh temp dir. */
export async function tempMlp(
  spec: MlpSpecInput,
): Promise<{ mlp: BuiltMlp; path: string; cleanup: () => Promise<void> }> {
  const { dir, cleanup } = await modelTempDir();
  const mlp = buildMlp(spec);
  const path = await writeModel(join(dir, 'mlp.onnx'), mlp.bytes);
  return { mlp, path, cleanup };
}

/** A ReportSink that keeps every message and can be told to fail the next send. */
export class RecordingReportSink implements ReportSink {
  readonly sent: { kind: string; version: number }[] = [];
  private failures = 0;

  failNext(times = 1): void {
    this.failures += times;
  }

  async send(message: { readonly kind: string; readonly version: number }): Promise<void> {
    if (this.failures > 0) {
      this.failures--;
      throw new Error('sink unavailable');
    }
    this.sent.push(structuredClone(message));
  }
}

export interface InferResult {
  status: number;
  headers: Headers;
  clientMs: number;
  json?: {
    outputs: Record<string, { dims: number[]; data: number[] }>;
    timing: { queueMs: number; computeMs: number; totalMs: number; batchSize: number };
  };
  binary?: Float32Array;
  error?: { error: string; issues?: { path: string; message: string }[] };
}

export async function postJson(url: string, body: unknown): Promise<InferResult> {
  const t0 = performance.now();
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const parsed = (await res.json()) as Record<string, unknown>;
  const clientMs = performance.now() - t0;
  return res.ok
    ? { status: res.status, headers: res.headers, clientMs, json: parsed as InferResult['json'] }
    : { status: res.status, headers: res.headers, clientMs, error: parsed as InferResult['error'] };
}

export async function postBinary(
  url: string,
  data: Float32Array,
  dims: readonly number[],
  extra: Record<string, string> = {},
): Promise<InferResult> {
  const t0 = performance.now();
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'x-tensor-dims': dims.join(','), ...extra },
    body: Buffer.from(data.buffer, data.byteOffset, data.byteLength),
  });
  const bytes = await res.arrayBuffer();
  const clientMs = performance.now() - t0;
  if (!res.ok)
    return {
      status: res.status,
      headers: res.headers,
      clientMs,
      error: JSON.parse(Buffer.from(bytes).toString('utf8')),
    };
  return { status: res.status, headers: res.headers, clientMs, binary: new Float32Array(bytes) };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
  return worst;
}

export async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Nearest-rank percentile. */
export function exactPercentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}
