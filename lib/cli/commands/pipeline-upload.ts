import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ModelUploader } from '../../aws/s3-model-upload.ts';
import { CliUsageError } from '../errors.ts';
import { formatBytes } from '../format.ts';
import { JobFileError, type JobFileIssue } from '../job-file.ts';
import type { ParsedPipelineFile } from './pipeline.ts';

/**
 * `pipeline submit --upload-models s3://bucket/prefix`: a spec written with local model paths is made
 * one a deployed stack can serve. Each distinct local file is uploaded once, under a name that carries its
 * content hash (`prefix/detector-3f2a9c0d41b7e655.onnx`), so a resubmission of an unchanged model sends
 * nothing and a changed one never overwrites the object a running pipeline was planned with. The spec's
 * URIs are rewritten to the uploaded objects; `s3://` URIs are left as they are. Every path is checked
 * before the first byte is sent, and nothing is submitted unless every upload succeeded.
 */

/** Where models go: a bucket and a key prefix ('' or ending in '/'). */
export interface UploadDestination {
  readonly bucket: string;
  readonly prefix: string;
}

export interface ModelUpload {
  /** The stages that name this file. */
  readonly stages: readonly string[];
  readonly from: string;
  readonly to: string;
  readonly bytes: number;
  /** False when an object of that name and size was already there. */
  readonly sent: boolean;
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Parses `s3://bucket` or `s3://bucket/prefix[/]`; a usage error says what a valid one looks like. */
export function parseUploadDestination(text: string): UploadDestination {
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(text.trim());
  const bucket = match?.[1] ?? '';
  if (!match || !BUCKET.test(bucket))
    throw new CliUsageError(
      `--upload-models must be s3://BUCKET or s3://BUCKET/PREFIX with a valid bucket name (3-63 of a-z, 0-9, ".", "-"), got ${text}`,
    );
  const prefix = (match[2] ?? '').replace(/^\/+/, '');
  return { bucket, prefix: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/` };
}

/** The stages whose model is a local path, grouped by path, in spec order. */
export function localModels(
  spec: ParsedPipelineFile['spec'],
): Map<string, { stages: string[]; indices: number[] }> {
  const out = new Map<string, { stages: string[]; indices: number[] }>();
  spec.stages.forEach((stage, i) => {
    if (stage.model.uri.startsWith('s3://')) return;
    const entry = out.get(stage.model.uri) ?? { stages: [], indices: [] };
    entry.stages.push(stage.id);
    entry.indices.push(i);
    out.set(stage.model.uri, entry);
  });
  return out;
}

/** The object name for a file: its name without extension, made key-safe, and 16 hex digits of its SHA-256. */
export function uploadKey(path: string, sha256Hex: string, prefix: string): string {
  const ext = extname(path) || '.onnx';
  const stem = basename(path, extname(path)).replace(/[^A-Za-z0-9._-]/g, '_') || 'model';
  return `${prefix}${stem}-${sha256Hex.slice(0, 16)}${ext}`;
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

export interface UploadModelsOptions {
  /** One line per model: uploaded, or already there. */
  readonly onProgress?: (line: string) => void;
}

/**
 * Uploads every local model of `parsed` to `to` and returns the spec with the uploaded URIs. Missing or
 * unreadable files are reported together, by field, before anything is uploaded.
 */
export async function uploadLocalModels(
  parsed: ParsedPipelineFile,
  to: UploadDestination,
  uploader: ModelUploader,
  opts: UploadModelsOptions = {},
): Promise<{ file: ParsedPipelineFile; uploads: ModelUpload[] }> {
  const local = localModels(parsed.spec);
  const sizes = new Map<string, number>();
  const issues: JobFileIssue[] = [];
  for (const [path, { indices }] of local) {
    const size = await stat(path).then(
      (s) => (s.isFile() ? s.size : undefined),
      () => undefined,
    );
    if (size === undefined)
      for (const i of indices)
        issues.push({ path: `stages.${i}.model.uri`, message: `no model file at ${path} to upload` });
    else sizes.set(path, size);
  }
  if (issues.length > 0) throw new JobFileError(parsed.file, issues);
  if (local.size > 0) await uploader.checkBucket(to.bucket);

  const uploads: ModelUpload[] = [];
  const uriOf = new Map<string, string>();
  for (const [path, { stages }] of local) {
    const bytes = sizes.get(path) as number;
    const uri = `s3://${to.bucket}/${uploadKey(path, await sha256Of(path), to.prefix)}`;
    const sent = (await uploader.sizeOf(uri)) !== bytes;
    if (sent) await uploader.put(path, uri, bytes);
    opts.onProgress?.(
      sent
        ? `uploaded ${basename(path)} (${formatBytes(bytes)}) to ${uri}`
        : `${uri} already holds ${basename(path)}; not sent again`,
    );
    uriOf.set(path, uri);
    uploads.push({ stages, from: path, to: uri, bytes, sent });
  }
  return { file: withModelUris(parsed, uriOf), uploads };
}

/** The parsed file with each stage's local model path replaced by its uploaded URI. */
function withModelUris(parsed: ParsedPipelineFile, uriOf: ReadonlyMap<string, string>): ParsedPipelineFile {
  const swap = <S extends { model: { uri: string } }>(stage: S): S => {
    const uri = uriOf.get(stage.model.uri);
    return uri ? { ...stage, model: { ...stage.model, uri } } : stage;
  };
  return {
    input: { ...parsed.input, stages: parsed.input.stages.map(swap) },
    spec: { ...parsed.spec, stages: parsed.spec.stages.map(swap) },
    file: parsed.file,
  };
}
