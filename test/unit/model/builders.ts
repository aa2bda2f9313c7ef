import { expect } from 'vitest';
import type { z } from 'zod';
import type { FieldIssue } from '../../../lib/core/errors.ts';
import type { InstanceSchema } from '../../../lib/core/model/instance.ts';
import type { InstanceTypeSchema } from '../../../lib/core/model/instance-type.ts';
import type { JobSpecInput } from '../../../lib/core/model/job.ts';
import type { PipelineSpecSchema } from '../../../lib/core/model/pipeline.ts';
import type { PlacementSchema } from '../../../lib/core/model/placement.ts';
import { parseResult } from '../../../lib/core/model/validate.ts';

/** Valid inputs to the model schemas, each with overrides, so a test states only what it is about. */

type RequirementInput = JobSpecInput['alternatives'][number]['requirement'];
type AlternativeInput = JobSpecInput['alternatives'][number];
type UtilityInput = NonNullable<JobSpecInput['utility']>;

export const requirement = (o: Partial<RequirementInput> = {}): RequirementInput => ({
  vcpu: 4,
  memoryMiB: 16_384,
  gpus: 1,
  gpuModel: 'A10G',
  ...o,
});

export const alternative = (o: Partial<AlternativeInput> = {}): AlternativeInput => ({
  requirement: requirement(),
  durationSeconds: 3600,
  ...o,
});

export const utility = (o: Partial<UtilityInput> = {}): UtilityInput => ({
  deadlineSeconds: 7200,
  value: 100,
  ...o,
});

export const jobSpec = (o: Partial<JobSpecInput> = {}): JobSpecInput => ({
  name: 'train-resnet',
  task: { kind: 'command', command: 'python', args: ['train.py'] },
  alternatives: [alternative()],
  utility: utility(),
  ...o,
});

export const instanceType = (
  o: Partial<z.input<typeof InstanceTypeSchema>> = {},
): z.input<typeof InstanceTypeSchema> => ({
  name: 'g5.xlarge',
  family: 'g5',
  vcpu: 4,
  memoryMiB: 16_384,
  gpus: 1,
  gpuModel: 'A10G',
  gpuMemoryMiB: 22_888,
  onDemandPerHour: 1.006,
  spotPerHour: 0.4024,
  bootSeconds: 150,
  ...o,
});

export const instance = (
  o: Partial<z.input<typeof InstanceSchema>> = {},
): z.input<typeof InstanceSchema> => ({
  id: 'i-0123456789abcdef0',
  type: 'g5.xlarge',
  market: 'on-demand',
  state: 'RUNNING',
  capacity: { vcpu: 4, memoryMiB: 16_384, gpus: 1 },
  launchedAt: 1_700_000_000_000,
  ...o,
});

export const placement = (
  o: Partial<z.input<typeof PlacementSchema>> = {},
): z.input<typeof PlacementSchema> => ({
  jobId: 'job-1',
  taskIndex: 0,
  attempt: 0,
  alternative: 0,
  target: { kind: 'existing', instanceId: 'i-0123456789abcdef0' },
  resources: { vcpu: 2, memoryMiB: 4096, gpus: 1 },
  gpuIndices: [0],
  startAt: 1_700_000_000_000,
  expectedEndAt: 1_700_000_360_000,
  ...o,
});

export const stage = (id: string) => ({ id, model: { uri: `s3://models/${id}.onnx` } });

export const pipeline = (
  o: Partial<z.input<typeof PipelineSpecSchema>> = {},
): z.input<typeof PipelineSpecSchema> => ({
  name: 'image-captioning',
  sloP99Ms: 250,
  stages: [stage('preprocess'), stage('resnet'), stage('captioner')],
  edges: [
    { from: 'preprocess', to: 'resnet' },
    { from: 'resnet', to: 'captioner' },
  ],
  ...o,
});

/** The field issues a schema reports for `input`; empty when it parses. */
export function issuesOf(schema: z.ZodType, input: unknown): FieldIssue[] {
  const result = parseResult(schema, input);
  return result.ok ? [] : result.issues;
}

/** A message expectation: a string must match exactly, a RegExp must match somewhere. */
export function message(expected: string | RegExp): unknown {
  return typeof expected === 'string' ? expected : expect.stringMatching(expected);
}
