import { describe, expect, it } from 'vitest';
import {
  AlternativeSchema,
  JobSpecSchema,
  RequirementSchema,
  TaskSpecSchema,
} from '../../../lib/core/model/job.ts';
import { alternative, issuesOf, jobSpec, message, requirement, utility } from './builders.ts';

const commandTask = { kind: 'command' as const, command: 'python' };

describe('JobSpecSchema', () => {
  it('accepts a valid deadline job and fills in defaults', () => {
    const spec = JobSpecSchema.parse(jobSpec());
    expect(spec).toMatchObject({
      owner: 'default',
      policy: 'deadline',
      priority: 1,
      gang: 1,
      maxAttempts: 3,
      labels: {},
    });
    expect(spec.utility?.decay).toEqual({ shape: 'step' });
    expect(spec.alternatives[0]?.requirement.spot).toBe(false);
    expect(spec.task).toEqual({ kind: 'command', command: 'python', args: ['train.py'], env: {} });
  });

  it('accepts a fifo job without a utility', () => {
    expect(issuesOf(JobSpecSchema, jobSpec({ policy: 'fifo', utility: undefined }))).toEqual([]);
  });

  it('accepts several alternatives, a gang and labels', () => {
    const spec = JobSpecSchema.parse(
      jobSpec({
        gang: 4,
        labels: { team: 'vision' },
        alternatives: [
          alternative({ requirement: requirement({ gpus: 2 }), durationSeconds: 3600 }),
          alternative({
            requirement: requirement({ gpus: 0, gpuModel: undefined, vcpu: 32 }),
            durationSeconds: 5 * 3600,
          }),
        ],
        utility: utility({ deadlineSeconds: 6 * 3600 }),
      }),
    );
    expect(spec.alternatives).toHaveLength(2);
    expect(spec.gang).toBe(4);
  });

  // [what is wrong, input, field path, message the user sees]
  const rejections: [string, unknown, string, string | RegExp][] = [
    ['the spec is not an object', null, '', /expected object/],
    ['the name is empty', jobSpec({ name: '' }), 'name', /1-128 characters/],
    ['the name has a space', jobSpec({ name: 'my job' }), 'name', /letters, digits/],
    ['the name is longer than 128 characters', jobSpec({ name: 'a'.repeat(129) }), 'name', /1-128/],
    ['the owner is empty', jobSpec({ owner: '' }), 'owner', 'owner must not be empty'],
    [
      'the policy is unknown',
      jobSpec({ policy: 'lifo' as never }),
      'policy',
      'policy must be one of deadline, fifo, slo-service',
    ],
    ['the priority is zero', jobSpec({ priority: 0 }), 'priority', 'priority must be greater than 0'],
    [
      'the priority is vanishingly small',
      jobSpec({ priority: 1e-300 }),
      'priority',
      'priority must be at least 0.001',
    ],
    ['the priority is above 1000', jobSpec({ priority: 1001 }), 'priority', 'priority must be at most 1000'],
    ['the gang is zero', jobSpec({ gang: 0 }), 'gang', />=1/],
    ['the gang is fractional', jobSpec({ gang: 1.5 }), 'gang', 'gang must be a whole number'],
    ['the gang is larger than 64', jobSpec({ gang: 65 }), 'gang', 'gang must be at most 64'],
    ['maxAttempts is above 10', jobSpec({ maxAttempts: 11 }), 'maxAttempts', /<=10/],
    [
      'alternatives are missing',
      jobSpec({ alternatives: undefined as never }),
      'alternatives',
      /expected array/,
    ],
    [
      'alternatives are empty',
      jobSpec({ alternatives: [] }),
      'alternatives',
      'alternatives must list at least one way to run the job',
    ],
    [
      'there are more than 8 alternatives',
      jobSpec({ alternatives: Array.from({ length: 9 }, () => alternative()) }),
      'alternatives',
      'alternatives must list at most 8 ways to run the job',
    ],
    [
      'a deadline job has no utility',
      jobSpec({ utility: undefined }),
      'utility',
      'utility is required for the deadline policy',
    ],
    [
      'no alternative can finish by the hard deadline',
      jobSpec({
        alternatives: [alternative({ durationSeconds: 7200 }), alternative({ durationSeconds: 5400 })],
        utility: utility({ deadlineSeconds: 1800, hardDeadlineSeconds: 3600 }),
      }),
      'utility.hardDeadlineSeconds',
      'no alternative can finish by the hard deadline (3600s); shortest takes 5400s',
    ],
    [
      'a step deadline comes before the shortest alternative ends',
      jobSpec({
        alternatives: [alternative({ durationSeconds: 7200 })],
        utility: utility({ deadlineSeconds: 1800, decay: { shape: 'step' } }),
      }),
      'utility.deadlineSeconds',
      'no alternative can finish by the hard deadline (1800s); shortest takes 7200s',
    ],
    ['the task is missing', jobSpec({ task: undefined as never }), 'task', /"command", "model" or "router"/],
  ];

  it.each(rejections)('fails when %s', (_what, input, path, expected) => {
    const issues = issuesOf(JobSpecSchema, input);
    expect(issues.map((i) => i.path)).toContain(path);
    expect(issues.find((i) => i.path === path)?.message).toEqual(message(expected));
  });

  it('fails with one issue per bad field, all reported together', () => {
    const issues = issuesOf(
      JobSpecSchema,
      jobSpec({ name: '', priority: -1, alternatives: [alternative({ durationSeconds: 0 })] }),
    );
    expect(issues.map((i) => i.path).sort()).toEqual(['alternatives.0.durationSeconds', 'name', 'priority']);
  });
});

describe('RequirementSchema', () => {
  it('accepts a fractional vCPU share and defaults gpus to 0', () => {
    const r = RequirementSchema.parse({ vcpu: 0.5, memoryMiB: 512 });
    expect(r).toEqual({ vcpu: 0.5, memoryMiB: 512, gpus: 0, spot: false });
  });

  const rejections: [string, unknown, string, string | RegExp][] = [
    ['vcpu is zero', requirement({ vcpu: 0 }), 'vcpu', 'vcpu must be greater than 0'],
    [
      'vcpu is a billionth',
      requirement({ vcpu: 1e-9 }),
      'vcpu',
      'vcpu must be at least 0.01 (a hundredth of a vCPU)',
    ],
    ['vcpu is too large to store', requirement({ vcpu: 1e300 }), 'vcpu', 'vcpu must be at most 448'],
    ['vcpu is above 448', requirement({ vcpu: 449 }), 'vcpu', 'vcpu must be at most 448'],
    ['vcpu is a string', requirement({ vcpu: '4' as never }), 'vcpu', /expected number, received string/],
    [
      'memoryMiB is fractional',
      requirement({ memoryMiB: 1.5 }),
      'memoryMiB',
      'memoryMiB must be a whole number of MiB',
    ],
    ['memoryMiB is zero', requirement({ memoryMiB: 0 }), 'memoryMiB', 'memoryMiB must be greater than 0'],
    [
      'memoryMiB is above 2 TiB',
      requirement({ memoryMiB: 2_097_153 }),
      'memoryMiB',
      'memoryMiB must be at most 2,097,152 (2 TiB)',
    ],
    ['gpus is fractional', requirement({ gpus: 0.5 }), 'gpus', 'gpus must be a whole number'],
    ['gpus is negative', requirement({ gpus: -1 }), 'gpus', />=0/],
    ['gpus is above 8', requirement({ gpus: 9 }), 'gpus', 'gpus must be at most 8'],
    ['gpuModel is empty', requirement({ gpuModel: '' }), 'gpuModel', />=1 characters/],
    ['families is empty', requirement({ families: [] }), 'families', />=1 items/],
    ['instanceTypes is empty', requirement({ instanceTypes: [] }), 'instanceTypes', />=1 items/],
    ['an instance type is empty', requirement({ instanceTypes: [''] }), 'instanceTypes.0', />=1 characters/],
    ['spot is not a boolean', requirement({ spot: 'yes' as never }), 'spot', /expected boolean/],
  ];

  it.each(rejections)('fails when %s', (_what, input, path, expected) => {
    const issues = issuesOf(RequirementSchema, input);
    expect(issues).toEqual([{ path, message: message(expected) }]);
  });

  it('fails with the full path when nested inside a job spec', () => {
    const spec = jobSpec({
      alternatives: [alternative(), alternative({ requirement: requirement({ gpus: 9 }) })],
    });
    expect(issuesOf(JobSpecSchema, spec)).toEqual([
      { path: 'alternatives.1.requirement.gpus', message: 'gpus must be at most 8' },
    ]);
  });
});

describe('AlternativeSchema', () => {
  const rejections: [string, unknown, string, string | RegExp][] = [
    [
      'durationSeconds is zero',
      alternative({ durationSeconds: 0 }),
      'durationSeconds',
      'durationSeconds must be greater than 0',
    ],
    [
      'durationSeconds is a billionth of a second',
      alternative({ durationSeconds: 1e-9 }),
      'durationSeconds',
      'durationSeconds must be at least 1',
    ],
    [
      'durationSeconds is over 7 days',
      alternative({ durationSeconds: 7 * 24 * 3600 + 1 }),
      'durationSeconds',
      'durationSeconds must be at most 604,800 (7 days)',
    ],
    [
      'durationSeconds is missing',
      { requirement: requirement() },
      'durationSeconds',
      /expected number, received undefined/,
    ],
    ['the requirement is missing', { durationSeconds: 60 }, 'requirement', /expected object/],
    ['the name is longer than 64', alternative({ name: 'x'.repeat(65) }), 'name', /<=64 characters/],
  ];

  it.each(rejections)('fails when %s', (_what, input, path, expected) => {
    expect(issuesOf(AlternativeSchema, input)).toEqual([{ path, message: message(expected) }]);
  });
});

describe('TaskSpecSchema', () => {
  it('accepts a command task and defaults args and env', () => {
    expect(TaskSpecSchema.parse(commandTask)).toEqual({ ...commandTask, args: [], env: {} });
  });

  it('accepts a model task and defaults its batching', () => {
    const task = TaskSpecSchema.parse({
      kind: 'model',
      modelId: 'resnet',
      model: { uri: 's3://models/resnet.onnx' },
    });
    expect(task).toEqual({
      kind: 'model',
      modelId: 'resnet',
      model: { uri: 's3://models/resnet.onnx' },
      maxBatch: 8,
      maxQueueDelayMs: 2,
      intraOpThreads: 0,
    });
  });

  it('accepts a router task for a pipeline', () => {
    expect(TaskSpecSchema.parse({ kind: 'router', pipelineId: 'video' })).toEqual({
      kind: 'router',
      pipelineId: 'video',
    });
  });

  it('accepts a model at an absolute local path', () => {
    expect(
      issuesOf(TaskSpecSchema, { kind: 'model', modelId: 'a', model: { uri: '/opt/models/a.onnx' } }),
    ).toEqual([]);
  });

  const rejections: [string, unknown, string, string | RegExp][] = [
    [
      'the kind is unknown',
      { kind: 'shell', command: 'ls' },
      'kind',
      'task.kind must be "command", "model" or "router"',
    ],
    ['the kind is missing', { command: 'ls' }, 'kind', 'task.kind must be "command", "model" or "router"'],
    ['the command is empty', { kind: 'command', command: '' }, 'command', 'command must not be empty'],
    [
      'an env name has a dash',
      { ...commandTask, env: { 'bad-name': 'x' } },
      'env.bad-name',
      'env names must match [A-Za-z_][A-Za-z0-9_]*, got "bad-name"',
    ],
    ['an env value is not a string', { ...commandTask, env: { PORT: 80 } }, 'env.PORT', /expected string/],
    ['there are over 256 args', { ...commandTask, args: Array(257).fill('a') }, 'args', /<=256 items/],
    [
      'the timeout is zero',
      { ...commandTask, timeoutSeconds: 0 },
      'timeoutSeconds',
      'timeoutSeconds must be greater than 0',
    ],
    [
      'the timeout is under a second',
      { ...commandTask, timeoutSeconds: 0.001 },
      'timeoutSeconds',
      'timeoutSeconds must be at least 1',
    ],
    [
      'the timeout is too large to store',
      { ...commandTask, timeoutSeconds: 1e300 },
      'timeoutSeconds',
      'timeoutSeconds must be at most 1,814,400 (21 days)',
    ],
    [
      "the timeout overflows the agent's timer",
      { ...commandTask, timeoutSeconds: 2_147_484 },
      'timeoutSeconds',
      'timeoutSeconds must be at most 1,814,400 (21 days)',
    ],
    [
      'the model uri is an http url',
      { kind: 'model', modelId: 'm', model: { uri: 'http://example.com/m.onnx' } },
      'model.uri',
      'uri must be s3://bucket/key or an absolute path',
    ],
    [
      'the model uri is a relative path',
      { kind: 'model', modelId: 'm', model: { uri: 'models/m.onnx' } },
      'model.uri',
      'uri must be s3://bucket/key or an absolute path',
    ],
    [
      'the s3 uri has no key',
      { kind: 'model', modelId: 'm', model: { uri: 's3://bucket/' } },
      'model.uri',
      'uri must be s3://bucket/key or an absolute path',
    ],
    ['a model has no modelId', { kind: 'model', model: { uri: '/m.onnx' } }, 'modelId', /string/],
    ['a router has no pipelineId', { kind: 'router' }, 'pipelineId', /string/],
    [
      'maxBatch is zero',
      { kind: 'model', modelId: 'm', model: { uri: '/m.onnx' }, maxBatch: 0 },
      'maxBatch',
      />0/,
    ],
    [
      'maxBatch is above 1024',
      { kind: 'model', modelId: 'm', model: { uri: '/m.onnx' }, maxBatch: 1025 },
      'maxBatch',
      /<=1024/,
    ],
    [
      'maxQueueDelayMs is negative',
      { kind: 'model', modelId: 'm', model: { uri: '/m.onnx' }, maxQueueDelayMs: -1 },
      'maxQueueDelayMs',
      />=0/,
    ],
  ];

  it.each(rejections)('fails when %s', (_what, input, path, expected) => {
    expect(issuesOf(TaskSpecSchema, input)).toEqual([{ path, message: message(expected) }]);
  });

  it('fails with the path under task when nested inside a job spec', () => {
    const issues = issuesOf(JobSpecSchema, jobSpec({ task: { ...commandTask, env: { '1X': 'a' } } }));
    expect(issues).toEqual([
      { path: 'task.env.1X', message: 'env names must match [A-Za-z_][A-Za-z0-9_]*, got "1X"' },
    ]);
  });
});
