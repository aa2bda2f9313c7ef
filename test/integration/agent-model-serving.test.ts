import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startModelServer } from '../../agent/model-server/index.ts';
import { S3ModelStore } from '../../lib/aws/s3-model-store.ts';
import { S3ModelUploader } from '../../lib/aws/s3-model-upload.ts';
import { SqsReportSink } from '../../lib/aws/sqs-work-queue.ts';
import { NotFoundError } from '../../lib/core/errors.ts';
import { decodeModelReport, type LatencyReport } from '../../lib/core/protocol/inference.ts';
import { buildMlp, mlpForward, modelTempDir, seededRandom, uniformInput } from '../../lib/onnx/index.ts';
import { resetEmulator, testAwsConfig } from '../support/emulator.ts';

const BUCKET = 'tetrafleet-models-test';

describe('model serving against the emulator', () => {
  const s3 = new S3Client(testAwsConfig());
  const sqs = new SQSClient(testAwsConfig());
  const mlp = buildMlp({ inputSize: 16, hiddenSizes: [32], outputSize: 3, seed: 21 });
  let cache: { dir: string; cleanup: () => Promise<void> };

  beforeAll(async () => {
    await resetEmulator();
    cache = await modelTempDir('tetrafleet-model-cache-');
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'mlp/v1/model.onnx', Body: mlp.bytes }));
  });

  afterAll(async () => {
    await cache?.cleanup();
    s3.destroy();
    sqs.destroy();
  });

  it('fetches a model from S3 into the cache once and reuses it while the object is unchanged', async () => {
    const store = new S3ModelStore(s3, cache.dir);
    const path = await store.fetch(`s3://${BUCKET}/mlp/v1/model.onnx`);
    expect(path).toBe(join(cache.dir, BUCKET, 'mlp', 'v1', 'model.onnx'));
    expect((await stat(path)).size).toBe(mlp.bytes.byteLength);
    const firstWrite = (await stat(path)).mtimeMs;
    expect(await store.fetch(`s3://${BUCKET}/mlp/v1/model.onnx`)).toBe(path);
    expect((await stat(path)).mtimeMs).toBe(firstWrite);
  });

  it('downloads again when the object changes', async () => {
    const store = new S3ModelStore(s3, cache.dir);
    const other = buildMlp({ inputSize: 16, hiddenSizes: [8], outputSize: 3, seed: 22 });
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'mlp/v2/model.onnx', Body: mlp.bytes }));
    const path = await store.fetch(`s3://${BUCKET}/mlp/v2/model.onnx`);
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'mlp/v2/model.onnx', Body: other.bytes }));
    await store.fetch(`s3://${BUCKET}/mlp/v2/model.onnx`);
    expect((await stat(path)).size).toBe(other.bytes.byteLength);
  });

  it('fails with NotFoundError when the object does not exist', async () => {
    const store = new S3ModelStore(s3, cache.dir);
    await expect(store.fetch(`s3://${BUCKET}/missing.onnx`)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('uploads a model that the store then fetches byte for byte, and names a missing bucket', async () => {
    const file = join(cache.dir, 'to-upload.onnx');
    await writeFile(file, mlp.bytes);
    const uploader = new S3ModelUploader(s3);
    const uri = `s3://${BUCKET}/uploaded/mlp.onnx`;
    expect(await uploader.sizeOf(uri)).toBeUndefined();
    await uploader.put(file, uri, mlp.bytes.length);
    expect(await uploader.sizeOf(uri)).toBe(mlp.bytes.length);
    const fetched = await new S3ModelStore(s3, join(cache.dir, 'fetched')).fetch(uri);
    expect(Buffer.compare(await readFile(fetched), Buffer.from(mlp.bytes))).toBe(0);

    await uploader.checkBucket(BUCKET);
    await expect(uploader.checkBucket('no-such-bucket-tf')).rejects.toThrow(
      'bucket no-such-bucket-tf not found',
    );
    const missing = 's3://no-such-bucket-tf/m.onnx';
    await expect(uploader.put(file, missing, mlp.bytes.length)).rejects.toThrow(NotFoundError);
    await expect(uploader.put(file, missing, mlp.bytes.length)).rejects.toThrow('bucket no-such-bucket-tf');
  });

  it('serves a model from S3 and sends its latency reports to the reports queue', async () => {
    const queue = await sqs.send(new CreateQueueCommand({ QueueName: 'model-reports' }));
    const queueUrl = queue.QueueUrl as string;
    const server = await startModelServer({
      modelPath: `s3://${BUCKET}/mlp/v1/model.onnx`,
      modelId: 'mlp-from-s3',
      host: '127.0.0.1',
      maxBatch: 4,
      maxQueueDelayMs: 2,
      modelStore: new S3ModelStore(s3, cache.dir),
      reportSink: new SqsReportSink(sqs, queueUrl),
      reportIntervalMs: 200,
      instanceId: 'i-model-test',
      log: () => {},
    });
    let requests = 0;
    try {
      const inputs = Array.from({ length: 12 }, (_, i) => uniformInput(seededRandom(i), 16));
      const results = await Promise.all(
        inputs.map(async (x) => {
          const res = await fetch(`${server.url}/v1/models/mlp-from-s3/infer`, {
            method: 'POST',
            headers: { 'content-type': 'application/octet-stream', 'x-tensor-dims': '1,16' },
            body: Buffer.from(x.buffer),
          });
          return new Float32Array(await res.arrayBuffer());
        }),
      );
      requests = results.length;
      results.forEach((y, i) => {
        const want = mlpForward(mlp, inputs[i] as Float32Array, 1);
        for (let j = 0; j < want.length; j++)
          expect(Math.abs((y[j] as number) - (want[j] as number))).toBeLessThanOrEqual(1e-5);
        expect(y.length).toBe(want.length);
      });
    } finally {
      await server.stop();
    }
    // The last report goes out on stop, so the queue now holds every interval.
    const reports: LatencyReport[] = [];
    for (let attempt = 0; attempt < 20; attempt++) {
      const got = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      for (const m of got.Messages ?? []) {
        const decoded = decodeModelReport(m.Body ?? '');
        expect(decoded.ok).toBe(true);
        if (decoded.ok && decoded.value.kind === 'LatencyReport') reports.push(decoded.value);
      }
      if (reports.reduce((n, r) => n + r.count, 0) >= requests && (got.Messages ?? []).length === 0) break;
    }
    expect(reports.length).toBeGreaterThan(0);
    expect(reports.every((r) => r.modelId === 'mlp-from-s3' && r.instanceId === 'i-model-test')).toBe(true);
    expect(reports.reduce((n, r) => n + r.count, 0)).toBe(requests);
  });
});
