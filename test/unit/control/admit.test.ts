import { beforeEach, describe, expect, it } from 'vitest';
import { admitSubmission } from '../../../lib/core/control/admit.ts';
import { ValidationError } from '../../../lib/core/errors.ts';
import type { JobSpecInput } from '../../../lib/core/model/job.ts';
import { type SubmitJob, SubmitJobSchema } from '../../../lib/core/protocol/submission.ts';
import { FakeJobStore } from '../../fakes/fake-stores.ts';
import { fixedClock, NOW } from '../../support/builders.ts';
import { alternative, jobSpec, requirement } from '../model/builders.ts';

let jobs: FakeJobStore;
let deps: { jobs: FakeJobStore; clock: ReturnType<typeof fixedClock> };

beforeEach(() => {
  jobs = new FakeJobStore();
  deps = { jobs, clock: fixedClock(NOW) };
});

function submission(spec: Partial<JobSpecInput> = {}, o: { jobId?: string; idempotencyKey?: string } = {}) {
  return SubmitJobSchema.parse({
    version: 1,
    kind: 'SubmitJob',
    jobId: o.jobId ?? 'job-1',
    ...(o.idempotencyKey ? { idempotencyKey: o.idempotencyKey } : {}),
    spec: jobSpec(spec),
  });
}

/** The field issues admission refused `s` with. */
async function refusal(s: SubmitJob): Promise<{ path: string; message: string }[]> {
  const error = await admitSubmission(s, deps).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ValidationError);
  expect(jobs.jobs.has(s.jobId)).toBe(false);
  return [...(error as ValidationError).issues];
}

const modelTask = (o: Record<string, unknown> = {}) => ({
  kind: 'model' as const,
  modelId: 'resnet',
  model: { uri: 's3://models/resnet.onnx' },
  ...o,
});

describe('admission: what only the control plane may claim', () => {
  it('fails when a user job carries a reserved tetrafleet/ label', async () => {
    const issues = await refusal(submission({ labels: { 'tetrafleet/role': 'profile', team: 'vision' } }));
    expect(issues).toEqual([
      { path: 'spec.labels.tetrafleet/role', message: expect.stringContaining('reserved') },
    ]);
  });

  it('fails when a user model task names a pipeline and stage, or a user submits a router', async () => {
    const bound = await refusal(
      submission({ policy: 'slo-service', task: modelTask({ pipelineId: 'vision', stageId: 'detect' }) }),
    );
    expect(bound.map((i) => i.path)).toEqual(['spec.task.pipelineId', 'spec.task.stageId']);

    const router = await refusal(
      submission({ policy: 'slo-service', task: { kind: 'router', pipelineId: 'vision' } }),
    );
    expect(router).toEqual([{ path: 'spec.task.kind', message: expect.stringContaining('SubmitPipeline') }]);
  });

  it('fails when a user job takes an id under the prefix of pipeline jobs', async () => {
    const issues = await refusal(submission({}, { jobId: 'pl:vision:router:0' }));
    expect(issues.map((i) => i.path)).toEqual(['jobId']);
  });

  it('fails when a command is submitted under the slo-service policy, which only serves', async () => {
    const issues = await refusal(submission({ policy: 'slo-service' }));
    expect(issues).toEqual([
      { path: 'spec.task.kind', message: expect.stringContaining('deadline or fifo policy') },
    ]);
  });

  it('admits a model task that serves on its own, outside any pipeline', async () => {
    const { created } = await admitSubmission(submission({ policy: 'slo-service', task: modelTask() }), deps);
    expect(created).toBe(true);
  });
});

describe('admission: jobs no instance type can host', () => {
  it('fails when no catalog type has the GPU model asked for, naming the ones there are', async () => {
    const issues = await refusal(
      submission({ alternatives: [alternative({ requirement: requirement({ gpuModel: 'ZZZ' }) })] }),
    );
    expect(issues).toEqual([
      { path: 'spec.alternatives.0.requirement.gpuModel', message: expect.stringMatching(/ZZZ.*A10G/) },
    ]);
  });

  it('fails when no listed instance type exists, suggesting the one meant', async () => {
    const r = requirement({ instanceTypes: ['m7i.xlarg'], gpus: 0, gpuModel: undefined });
    const issues = await refusal(submission({ alternatives: [alternative({ requirement: r })] }));
    expect(issues).toEqual([
      {
        path: 'spec.alternatives.0.requirement.instanceTypes',
        message: expect.stringContaining('m7i.xlarg (did you mean m7i.xlarge?)'),
      },
    ]);
  });

  it('fails when no type has the resources, with every alternative and its reason', async () => {
    const big = requirement({ vcpu: 448, memoryMiB: 65_536, gpus: 8, gpuModel: undefined });
    const cpu = requirement({
      vcpu: 4,
      memoryMiB: 2_000_000,
      gpus: 0,
      gpuModel: undefined,
      families: ['c7i'],
    });
    const issues = await refusal(
      submission({ alternatives: [alternative({ requirement: big }), alternative({ requirement: cpu })] }),
    );
    expect(issues).toEqual([
      {
        path: 'spec.alternatives.0.requirement.vcpu',
        message: expect.stringMatching(/448 vCPUs; the most is 192/),
      },
      {
        path: 'spec.alternatives.1.requirement.memoryMiB',
        message: expect.stringContaining('of family c7i'),
      },
    ]);
  });

  it('admits a job when at least one of its alternatives can be hosted', async () => {
    const bad = alternative({ requirement: requirement({ gpuModel: 'ZZZ' }) });
    const good = alternative({ requirement: requirement({ gpuModel: 'A10G' }) });
    const { created } = await admitSubmission(submission({ alternatives: [bad, good] }), deps);
    expect(created).toBe(true);
  });
});

describe('admission: idempotency keys', () => {
  it('records under a second job id that its key belongs to the first job, and creates nothing', async () => {
    await admitSubmission(submission({}, { jobId: 'first', idempotencyKey: 'k1' }), deps);

    const second = await admitSubmission(submission({}, { jobId: 'second', idempotencyKey: 'k1' }), deps);

    expect(second).toMatchObject({ created: false, job: { id: 'first' } });
    expect(jobs.jobs.has('second')).toBe(false);
    const rejection = await jobs.getRejection('second');
    expect(rejection).toMatchObject({
      reason: 'idempotency key k1 already used by job first',
      issues: [{ path: 'idempotencyKey', message: 'idempotency key k1 already used by job first' }],
    });
  });

  it('records no refusal for a resend of the first job', async () => {
    await admitSubmission(submission({}, { jobId: 'first', idempotencyKey: 'k1' }), deps);
    const again = await admitSubmission(submission({}, { jobId: 'first', idempotencyKey: 'k1' }), deps);
    expect(again).toMatchObject({ created: false, job: { id: 'first' } });
    expect(jobs.rejections.size).toBe(0);
  });

  it('returns the job under its own id on a resend that reuses a key another job owns', async () => {
    await admitSubmission(submission({}, { jobId: 'a', idempotencyKey: 'ka' }), deps);
    await admitSubmission(submission({}, { jobId: 'b', idempotencyKey: 'kb' }), deps);

    const resend = await admitSubmission(submission({}, { jobId: 'b', idempotencyKey: 'ka' }), deps);

    expect(resend).toMatchObject({ created: false, job: { id: 'b' } });
    expect(await jobs.getRejection('b')).toBeUndefined();
  });
});
