import { describe, expect, it } from 'vitest';
import { optionsFromServeModel } from '../../../../agent/model-server/index.ts';
import {
  decodeModelCommand,
  decodeModelReport,
  ServeModelSchema,
} from '../../../../lib/core/protocol/inference.ts';

describe('model protocol messages', () => {
  it('fills ServeModel defaults and turns it into server options', () => {
    const message = ServeModelSchema.parse({
      version: 1,
      kind: 'ServeModel',
      modelId: 'resnet',
      model: { uri: 's3://models/resnet.onnx' },
    });
    expect(message).toMatchObject({
      maxBatch: 8,
      maxQueueDelayMs: 2,
      queueCapacity: 256,
      executionProvider: 'auto',
      port: 0,
      reportIntervalSeconds: 10,
    });
    const options = optionsFromServeModel(message, { instanceId: 'i-1' });
    expect(options).toMatchObject({
      modelPath: 's3://models/resnet.onnx',
      modelId: 'resnet',
      maxBatch: 8,
      reportIntervalMs: 10_000,
      instanceId: 'i-1',
    });
  });

  it('decodes StopModel with drain on by default', () => {
    const decoded = decodeModelCommand(JSON.stringify({ version: 1, kind: 'StopModel', modelId: 'resnet' }));
    expect(decoded).toEqual({
      ok: true,
      value: { version: 1, kind: 'StopModel', modelId: 'resnet', drain: true },
    });
  });

  it('fails when a ServeModel is out of range, naming each field', () => {
    const decoded = decodeModelCommand({
      version: 1,
      kind: 'ServeModel',
      modelId: 'x',
      model: { uri: 'models/x.onnx' },
      maxBatch: 0,
      executionProvider: 'tpu',
    });
    expect(decoded.ok).toBe(false);
    if (decoded.ok) return;
    expect(decoded.issues).toEqual(
      expect.arrayContaining([
        { path: 'model.uri', message: 'uri must be s3://bucket/key or an absolute path' },
        { path: 'maxBatch', message: 'maxBatch must be at least 1' },
        { path: 'executionProvider', message: 'executionProvider must be one of auto, cuda, cpu' },
      ]),
    );
  });

  it('fails when a ModelProfile claims to be estimated or lists no batch sizes', () => {
    const decoded = decodeModelReport({
      version: 1,
      kind: 'ModelProfile',
      modelId: 'm',
      instanceType: 'c7i.large',
      provider: 'cpu',
      measured: false,
      entries: [],
    });
    expect(decoded.ok).toBe(false);
    if (decoded.ok) return;
    expect(decoded.issues.map((i) => i.path).sort()).toEqual(['entries', 'measured']);
  });

  it('fails when a report has an unknown kind', () => {
    const decoded = decodeModelReport({ version: 1, kind: 'Heartbeat' });
    expect(decoded).toEqual({
      ok: false,
      issues: [{ path: 'kind', message: 'kind must be one of LatencyReport, ModelProfile, got Heartbeat' }],
    });
  });
});
