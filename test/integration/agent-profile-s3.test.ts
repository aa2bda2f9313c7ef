import { spawn } from 'node:child_process';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentTaskEnv } from '../../agent/task-env.ts';
import { ModelProfileSchema } from '../../lib/core/protocol/inference.ts';
import { buildMlp } from '../../lib/onnx/index.ts';
import { emulatorEnv, resetEmulator, testAwsConfig } from '../support/emulator.ts';

const BUCKET = 'tetrafleet-profile-test';

/** Run a shell command line as a profiling job does; resolve with its exit code and output. */
function sh(
  script: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('profiling a model stored in S3', () => {
  const s3 = new S3Client(testAwsConfig());

  beforeAll(async () => {
    await resetEmulator();
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const mlp = buildMlp({ inputSize: 16, hiddenSizes: [32], outputSize: 4, seed: 31 });
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'models/mlp.onnx', Body: mlp.bytes }));
  });

  afterAll(() => {
    s3.destroy();
  });

  it('runs $TETRAFLEET_PROFILE_CLI on an s3:// model and prints only the profile on stdout', async () => {
    const env = { ...emulatorEnv(), ...agentTaskEnv({ instanceType: 'c7i.large' }) };
    const script = `$TETRAFLEET_PROFILE_CLI --model s3://${BUCKET}/models/mlp.onnx --model-id mlp --max-batch 4 --min-samples 3 --min-duration-ms 0 --instance-type "$TETRAFLEET_INSTANCE_TYPE"`;
    const result = await sh(script, env);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const profile = ModelProfileSchema.parse(JSON.parse(lines[0] ?? ''));
    expect(profile).toMatchObject({ modelId: 'mlp', instanceType: 'c7i.large', measured: true });
    expect(profile.entries.map((e) => e.batchSize)).toEqual([1, 2, 4]);
    expect(Buffer.byteLength(result.stdout)).toBeLessThan(16_384);
  });

  it('fails with the reason when the s3:// model does not exist', async () => {
    const env = { ...emulatorEnv(), ...agentTaskEnv({ instanceType: 'c7i.large' }) };
    const result = await sh(`$TETRAFLEET_PROFILE_CLI --model s3://${BUCKET}/models/missing.onnx`, env);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/missing\.onnx/);
  });
});
