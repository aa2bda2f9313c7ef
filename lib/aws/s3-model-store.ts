import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { NotFoundError, ValidationError } from '../core/errors.ts';
import type { ModelCatalog } from '../core/ports.ts';
import { awsErrorCode, toDomainError } from './errors.ts';

/** The one S3Client method used; wiring passes a real client. */
export type S3Api = Pick<S3Client, 'send'>;

/**
 * Fetches `s3://bucket/key` models into a local cache directory, so that a model server can load them
 * from disk. A cached copy is reused while its ETag matches the object's (one HeadObject per fetch); a
 * download goes to a temp file and is renamed into place, so a crash never leaves a half-written model
 * where the loader would find it.
 */
export class S3ModelStore {
  private readonly inflight = new Map<string, Promise<string>>();

  constructor(
    private readonly s3: S3Api,
    readonly cacheDir: string,
  ) {}

  /** Local path of the model at `uri`, downloading it unless the cache holds the current version. */
  fetch(uri: string): Promise<string> {
    // Two ServeModel messages for one model must not download it twice into the same path at once.
    const pending = this.inflight.get(uri);
    if (pending) return pending;
    const started = this.fetchOnce(uri).finally(() => this.inflight.delete(uri));
    this.inflight.set(uri, started);
    return started;
  }

  /** Whether the object at `uri` exists (one HeadObject); false for a missing key or bucket. */
  exists(uri: string): Promise<boolean> {
    return s3ObjectExists(this.s3, uri);
  }

  private async fetchOnce(uri: string): Promise<string> {
    const { bucket, key } = parseS3Uri(uri);
    const path = this.cachePath(bucket, key);
    const etag = await this.call(uri, async () => {
      const head = await this.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return head.ETag ?? '';
    });
    if (etag && (await cachedEtag(path)) === etag) return path;
    await mkdir(dirname(path), { recursive: true });
    const temp = `${path}.${process.pid}.${Date.now()}.part`;
    try {
      await this.call(uri, async () => {
        const object = await this.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        if (!object.Body) throw new Error(`s3 returned no body for ${uri}`);
        await pipeline(object.Body as Readable, createWriteStream(temp));
      });
      await rename(temp, path);
      if (etag) await writeFile(`${path}.etag`, etag);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    return path;
  }

  private cachePath(bucket: string, key: string): string {
    // Keys may hold any character; keep path segments but replace anything a filesystem may dislike.
    const safeKey = key
      .split('/')
      .filter((part) => part !== '' && part !== '.' && part !== '..')
      .map((part) => part.replace(/[^A-Za-z0-9._-]/g, '_'))
      .join('/');
    return join(this.cacheDir, bucket, safeKey);
  }

  private async call<T>(uri: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      const code = awsErrorCode(error);
      if (code === 'NotFound' || code === 'NoSuchKey' || code === 'NoSuchBucket') {
        throw new NotFoundError('model', uri);
      }
      throw toDomainError(error, `fetch model ${uri}`);
    }
  }
}

/**
 * HeadObject on `s3://bucket/key`: true when it answers; false for a missing key or bucket, and for one
 * this role may not read (the agents could not load it either).
 */
export async function s3ObjectExists(s3: S3Api, uri: string): Promise<boolean> {
  const { bucket, key } = parseS3Uri(uri);
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    const code = awsErrorCode(error);
    if (UNREADABLE.has(code ?? '')) return false;
    throw toDomainError(error, `check model ${uri}`);
  }
}

const UNREADABLE = new Set([
  'NotFound',
  'NoSuchKey',
  'NoSuchBucket',
  '404',
  'Forbidden',
  'AccessDenied',
  '403',
]);

/**
 * Where admission checks that a stage's model exists: S3 for `s3://` URIs, the local file system for an
 * absolute path (the local runtime's agents read models from disk).
 */
export class S3ModelCatalog implements ModelCatalog {
  constructor(private readonly s3: S3Api) {}

  async exists(uri: string): Promise<boolean> {
    if (uri.startsWith('s3://')) return s3ObjectExists(this.s3, uri);
    try {
      return (await stat(uri)).isFile();
    } catch {
      return false;
    }
  }
}

export function parseS3Uri(uri: string): { bucket: string; key: string } {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!match) {
    throw new ValidationError('model uri', [{ path: 'uri', message: `must be s3://bucket/key, got ${uri}` }]);
  }
  return { bucket: match[1] as string, key: match[2] as string };
}

async function cachedEtag(path: string): Promise<string | undefined> {
  try {
    await stat(path);
    return (await readFile(`${path}.etag`, 'utf8')).trim();
  } catch {
    return undefined;
  }
}
