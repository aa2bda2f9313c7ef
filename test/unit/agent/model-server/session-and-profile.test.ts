import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  defaultModelId,
  percentile,
  powersOfTwo,
  profileModelFile,
} from '../../../../agent/model-server/profile.ts';
import { bindingDir, cudaProviderMissing, loadModel } from '../../../../agent/model-server/session.ts';
import { ModelProfileSchema } from '../../../../lib/core/protocol/inference.ts';
import { buildConvNet, modelTempDir, writeModel } from '../../../../lib/onnx/index.ts';
import { tempMlp } from './helpers.ts';

const run = promisify(execFile);

describe('loadModel', () => {
  let path: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ path, cleanup } = await tempMlp({ inputSize: 4, hiddenSizes: [4], outputSize: 2 }));
  });
  afterAll(() => cleanup());

  it('uses the CPU without trying CUDA when no GPU is present', async () => {
    const logs: string[] = [];
    const model = await loadModel(path, {
      provider: 'auto',
      intraOpThreads: 1,
      log: (m) => logs.push(m),
      gpuPresent: () => false,
    });
    expect(model.provider).toBe('cpu');
    expect(model.fallbackReason).toBe('no gpu device found');
    expect(logs).toEqual([]);
    await model.session.release();
  });

  it('tries CUDA when asked and either runs on it or falls back to the CPU with a logged reason', async () => {
    const logs: string[] = [];
    const model = await loadModel(path, {
      provider: 'cuda',
      intraOpThreads: 0,
      log: (m) => logs.push(m),
      cudaProviderMissing: () => undefined,
    });
    if (model.provider === 'cpu') {
      expect(model.fallbackReason).toMatch(/^cuda provider failed to load: /);
      expect(logs).toEqual([`${model.fallbackReason}; falling back to cpu`]);
      // The reason is one readable line, without the native library's colour codes.
      expect(model.fallbackReason).not.toContain('\n');
      expect(model.fallbackReason).not.toContain(String.fromCharCode(27));
    } else {
      expect(model.fallbackReason).toBeUndefined();
    }
    expect(model.inputs).toEqual([{ name: 'x', type: 'float32', shape: ['batch', 4] }]);
    await model.session.release();
  });

  it('does not try CUDA when its provider library is missing, and says which file and how to get it', async () => {
    const logs: string[] = [];
    const model = await loadModel(path, {
      provider: 'auto',
      intraOpThreads: 1,
      log: (m) => logs.push(m),
      gpuPresent: () => true,
      cudaProviderMissing: () => 'libonnxruntime_providers_cuda.so is not in /x',
    });
    expect(model.provider).toBe('cpu');
    expect(model.fallbackReason).toBe(
      'cuda provider not installed: libonnxruntime_providers_cuda.so is not in /x',
    );
    expect(logs).toEqual([`${model.fallbackReason}; falling back to cpu`]);
    await model.session.release();
  });

  it('finds the CUDA provider library beside the binding, per platform', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tf-binding-'));
    try {
      expect(cudaProviderMissing(dir, 'linux')).toMatch(
        new RegExp(
          `^libonnxruntime_providers_cuda\\.so is not in ${dir}; reinstall onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=cuda12`,
        ),
      );
      await writeFile(join(dir, 'libonnxruntime_providers_cuda.so'), '');
      expect(cudaProviderMissing(dir, 'linux')).toBeUndefined();
      expect(cudaProviderMissing(dir, 'win32')).toMatch(/^onnxruntime_providers_cuda\.dll is not in /);
      expect(cudaProviderMissing(dir, 'darwin')).toBe('onnxruntime has no CUDA provider on darwin');
      // A binding folder this version does not have: nothing to judge by, so CUDA is tried.
      expect(cudaProviderMissing(join(dir, 'absent'), 'linux')).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    // The installed package's binding folder is where the check looks.
    expect(existsSync(join(bindingDir() as string, 'onnxruntime_binding.node'))).toBe(true);
  });

  it('never tries CUDA when the CPU is asked for', async () => {
    const model = await loadModel(path, {
      provider: 'cpu',
      intraOpThreads: 1,
      log: () => {},
      gpuPresent: () => true,
    });
    expect(model.provider).toBe('cpu');
    expect(model.fallbackReason).toBeUndefined();
    await model.session.release();
  });

  it('fails when the file is not a model', async () => {
    await expect(
      loadModel('/nonexistent/model.onnx', { provider: 'cpu', intraOpThreads: 0, log: () => {} }),
    ).rejects.toThrow();
  });
});

describe('profile mode', () => {
  it('profiles a conv net with one entry per power-of-two batch size and sane numbers', async () => {
    const { dir, cleanup } = await modelTempDir();
    try {
      const net = buildConvNet({ channels: 3, height: 16, width: 16, convChannels: [4, 8], classes: 5 });
      const path = await writeModel(`${dir}/conv.onnx`, net.bytes);
      const profile = await profileModelFile(path, {
        modelId: 'conv',
        instanceType: 'test.small',
        maxBatch: 8,
        minSamples: 5,
        minDurationMs: 0,
        warmupRuns: 1,
        provider: 'cpu',
        intraOpThreads: 1,
      });
      expect(ModelProfileSchema.parse(profile)).toEqual(profile);
      expect(profile).toMatchObject({
        modelId: 'conv',
        instanceType: 'test.small',
        provider: 'cpu',
        measured: true,
        intraOpThreads: 1,
      });
      expect(profile.entries.map((e) => e.batchSize)).toEqual([1, 2, 4, 8]);
      for (const e of profile.entries) {
        expect(e.samples).toBeGreaterThanOrEqual(5);
        expect(e.throughputQps).toBeGreaterThan(0);
        expect(e.p50Ms).toBeGreaterThan(0);
        expect(e.p99Ms).toBeGreaterThanOrEqual(e.p50Ms);
      }
    } finally {
      await cleanup();
    }
  });

  it('lists powers of two up to the max', () => {
    expect(powersOfTwo(1)).toEqual([1]);
    expect(powersOfTwo(12)).toEqual([1, 2, 4, 8]);
    expect(powersOfTwo(32)).toEqual([1, 2, 4, 8, 16, 32]);
  });

  it('takes nearest-rank percentiles', () => {
    const sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentile(sorted, 50)).toBe(5);
    expect(percentile(sorted, 99)).toBe(10);
    expect(percentile([], 50)).toBe(0);
  });

  it('derives a model id from a file name', () => {
    expect(defaultModelId('/models/My_Model.v2.onnx')).toBe('my-model-v2');
    expect(defaultModelId('/models/7b.onnx')).toBe('m-7b');
  });
});

describe('profile CLI', () => {
  it('prints a measured ModelProfile for a model file', async () => {
    const { dir, cleanup } = await modelTempDir();
    try {
      const net = buildConvNet({ channels: 1, height: 8, width: 8, convChannels: [2], classes: 3 });
      const path = await writeModel(`${dir}/Tiny_Conv.onnx`, net.bytes);
      const args = [
        'agent/model-server/profile-cli.ts',
        '--model',
        path,
        '--max-batch',
        '4',
        '--min-samples',
        '3',
        '--min-duration-ms',
        '0',
        '--instance-type',
        'test.cli',
        '--provider',
        'cpu',
      ];
      const { stdout } = await run('node_modules/.bin/tsx', args);
      const profile = ModelProfileSchema.parse(JSON.parse(stdout));
      expect(profile).toMatchObject({
        modelId: 'tiny-conv',
        instanceType: 'test.cli',
        provider: 'cpu',
        measured: true,
      });
      expect(profile.entries.map((e) => e.batchSize)).toEqual([1, 2, 4]);
    } finally {
      await cleanup();
    }
  });

  it('fails when --model is missing, with usage', async () => {
    const error = (await run('node_modules/.bin/tsx', [
      'agent/model-server/profile-cli.ts',
      '--max-batch',
      'x',
    ]).catch((e: unknown) => e)) as { stderr?: string; code?: number };
    expect(error.code).toBe(1);
    expect(error.stderr).toContain('--model is required');
    expect(error.stderr).toContain('--max-batch must be an integer between 1 and 1024, got x');
    expect(error.stderr).toContain('usage: profile-cli');
  });
});
