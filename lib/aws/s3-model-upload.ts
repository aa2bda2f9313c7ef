import { createReadStream } from 'node:fs';
import { HeadBucketCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { NotFoundError, TetrafleetError } from '../core/errors.ts';
import { awsErrorCode, toDomainError } from './errors.ts';
import { parseS3Uri, type S3Api } from './s3-model-store.ts';

/** S3 refused an upload for a reason a retry does not fix (access denied). */
export class ModelUploadError extends TetrafleetError {
  readonly retryable = false;
}

/** Where `pipeline submit --upload-models` puts a local model file. */
export interface ModelUploader {
  /** Fails with NotFoundError when the bucket does not exist, or ModelUploadError when it may not be used. */
  checkBucket(bucket: string): Promise<void>;
  /** The size of the object at `uri` in bytes, or undefined when there is none. */
  sizeOf(uri: string): Promise<number | undefined>;
  /** Writes the file at `path` (`bytes` long) to `uri`. */
  put(path: string, uri: string, bytes: number): Promise<void>;
}

/**
 * Uploads models to S3 with one PutObject each (S3 takes up to 5 GB that way; ONNX files are far
 * smaller). A missing bucket is a NotFoundError, and a refused request a ModelUploadError naming the URI.
 */
export class S3ModelUploader implements ModelUploader {
  constructor(private readonly s3: S3Api) {}

  async checkBucket(bucket: string): Promise<void> {
    try {
      await this.s3.send(new HeadBucketCommand({ Bucket: bucket }));
    } catch (error) {
      const code = awsErrorCode(error);
      // HeadBucket answers with a bare status: 404 for a missing bucket, 403 for one this identity may not use.
      if (code === 'NotFound' || code === 'NoSuchBucket' || code === '404')
        throw new NotFoundError('bucket', bucket);
      throw uploadError(error, bucket, `s3://${bucket}/`, 'write');
    }
  }

  async sizeOf(uri: string): Promise<number | undefined> {
    const { bucket, key } = parseS3Uri(uri);
    try {
      const head = await this.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return head.ContentLength ?? 0;
    } catch (error) {
      const code = awsErrorCode(error);
      if (code === 'NotFound' || code === 'NoSuchKey' || code === '404') return undefined;
      throw uploadError(error, bucket, uri, 'read');
    }
  }

  async put(path: string, uri: string, bytes: number): Promise<void> {
    const { bucket, key } = parseS3Uri(uri);
    try {
      await this.s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: createReadStream(path),
          ContentLength: bytes,
          ContentType: 'application/octet-stream',
        }),
      );
    } catch (error) {
      throw uploadError(error, bucket, uri, 'write');
    }
  }
}

/** `uri` is what the message names; the bucket is passed apart, since a bucket's URI has no key to parse. */
function uploadError(error: unknown, bucket: string, uri: string, action: 'read' | 'write'): unknown {
  const code = awsErrorCode(error);
  if (code === 'NoSuchBucket') return new NotFoundError('bucket', bucket);
  if (code === 'AccessDenied' || code === 'Forbidden' || code === '403')
    return new ModelUploadError(`this identity may not ${action} ${uri} (${code})`);
  return toDomainError(error, `${action} model ${uri}`);
}
