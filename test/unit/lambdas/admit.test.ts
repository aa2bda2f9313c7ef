import { describe, expect, it } from 'vitest';
import { createAdmitHandler } from '../../../lambdas/admit.ts';
import type { PoisonMessage } from '../../../lambdas/shared/sqs-batch.ts';
import { ConflictError, ValidationError } from '../../../lib/core/errors.ts';
import type { QueuedSubmission, Submission } from '../../../lib/core/protocol/submission.ts';
import { recordingLogger, sqsEvent, submitJob } from './support.ts';

function setup(admit: (s: Submission) => Promise<void> = async () => {}) {
  const log = recordingLogger();
  const admitted: Submission[] = [];
  const pipelines: QueuedSubmission[] = [];
  const poison: PoisonMessage[] = [];
  const handler = createAdmitHandler({
    admit: async (s) => {
      if (s.kind === 'SubmitPipeline') {
        pipelines.push(s);
        return;
      }
      await admit(s);
      admitted.push(s);
    },
    onPoison: async (p) => {
      poison.push(p);
    },
    log,
  });
  return { handler, log, admitted, pipelines, poison };
}

describe('admit handler', () => {
  it('admits a valid SubmitJob with its defaults filled in and reports no failures', async () => {
    const { handler, admitted } = setup();
    const res = await handler(sqsEvent({ id: 'm1', body: JSON.stringify(submitJob()) }));
    expect(res).toEqual({ batchItemFailures: [] });
    expect(admitted).toHaveLength(1);
    expect(admitted[0]?.jobId).toBe('job-1');
    expect(admitted[0]?.spec.gang).toBe(1);
    expect(admitted[0]?.spec.alternatives[0]?.requirement.gpus).toBe(0);
  });

  it('rejects an invalid SubmitJob as poison with field-level reasons and does not retry it', async () => {
    const { handler, admitted, poison, log } = setup();
    const body = JSON.stringify(
      submitJob({ jobId: '', spec: { name: 'x', task: { kind: 'command', command: 'a' } } }),
    );
    const res = await handler(sqsEvent({ id: 'bad', body }));
    expect(res.batchItemFailures).toEqual([]);
    expect(admitted).toEqual([]);
    expect(poison).toHaveLength(1);
    expect(poison[0]?.messageId).toBe('bad');
    expect(poison[0]?.eventSourceARN).toBe('arn:aws:sqs:us-east-1:123456789012:Tetrafleet-Submissions');
    expect(poison[0]?.body).toBe(body);
    expect(poison[0]?.issues.map((i) => i.path)).toEqual(
      expect.arrayContaining(['jobId', 'spec.alternatives']),
    );
    const logged = log.lines.find((l) => l.level === 'error');
    expect(String(logged?.fields.reason)).toContain('jobId');
  });

  it('rejects a SubmitJob with a field its schema does not know, naming the field meant', async () => {
    const { handler, admitted, poison } = setup();
    const job = submitJob();
    const spec = job.spec as Record<string, unknown>;
    const body = JSON.stringify({ ...job, spec: { ...spec, utilty: { deadlineSeconds: 60, value: 1 } } });
    const res = await handler(sqsEvent({ id: 'typo', body }));
    expect(res.batchItemFailures).toEqual([]);
    expect(admitted).toEqual([]);
    expect(poison[0]?.issues).toEqual([
      { path: 'spec.utilty', message: 'unknown field; did you mean utility?' },
    ]);
  });

  it('rejects a body that is not JSON, or that carries another protocol version, as poison', async () => {
    const { handler, poison } = setup();
    const res = await handler(
      sqsEvent(
        { id: 'text', body: 'not json' },
        { id: 'v2', body: JSON.stringify(submitJob({ version: 2 })) },
        { id: 'kind', body: JSON.stringify(submitJob({ kind: 'RunTask' })) },
      ),
    );
    expect(res.batchItemFailures).toEqual([]);
    expect(poison.map((p) => [p.messageId, p.issues[0]?.path])).toEqual([
      ['text', ''],
      ['v2', 'version'],
      ['kind', 'kind'],
    ]);
    expect(poison[1]?.reason).toBe('version: version must be 1, got 2');
  });

  it('returns only the messages that failed for a retryable reason in batchItemFailures', async () => {
    const { handler, admitted } = setup(async (s) => {
      if (s.jobId === 'job-2') throw new ConflictError('lost a race', s.jobId);
    });
    const res = await handler(
      sqsEvent(
        { id: 'm1', body: JSON.stringify(submitJob({ jobId: 'job-1' })) },
        { id: 'm2', body: JSON.stringify(submitJob({ jobId: 'job-2' })) },
        { id: 'm3', body: JSON.stringify(submitJob({ jobId: 'job-3' })) },
      ),
    );
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: 'm2' }] });
    expect(admitted.map((s) => s.jobId)).toEqual(['job-1', 'job-3']);
  });

  it('treats an unknown error as retryable, so the message is not lost', async () => {
    const { handler } = setup(async () => {
      throw new Error('socket hang up');
    });
    const res = await handler(sqsEvent({ id: 'm1', body: JSON.stringify(submitJob()) }));
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }]);
  });

  it('sets aside a message the domain refuses for good instead of retrying it', async () => {
    const { handler, poison } = setup(async () => {
      throw new ValidationError('job', [{ path: 'spec.utility', message: 'utility is required' }]);
    });
    const res = await handler(sqsEvent({ id: 'm1', body: JSON.stringify(submitJob()) }));
    expect(res.batchItemFailures).toEqual([]);
    expect(poison[0]?.issues).toEqual([{ path: 'spec.utility', message: 'utility is required' }]);
  });

  it('retries a poison message when it cannot be set aside, rather than dropping it', async () => {
    const log = recordingLogger();
    const handler = createAdmitHandler({
      admit: async () => {},
      onPoison: async () => {
        throw new Error('dlq unreachable');
      },
      log,
    });
    const res = await handler(sqsEvent({ id: 'm1', body: '{' }));
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }]);
  });

  it('routes a SubmitPipeline to pipeline admission with its defaults filled in', async () => {
    const { handler, admitted, pipelines } = setup();
    const body = {
      version: 1,
      kind: 'SubmitPipeline',
      pipelineId: 'vision',
      spec: { name: 'vision', sloP99Ms: 150, stages: [{ id: 'detect', model: { uri: '/models/d.onnx' } }] },
    };
    const res = await handler(sqsEvent({ id: 'p1', body: JSON.stringify(body) }));
    expect(res.batchItemFailures).toEqual([]);
    expect(admitted).toEqual([]);
    expect(pipelines).toHaveLength(1);
    expect(pipelines[0]).toMatchObject({ pipelineId: 'vision', spec: { owner: 'default', edges: [] } });
  });

  it('rejects a SubmitPipeline whose edges form a cycle as poison naming the edges', async () => {
    const { handler, pipelines, poison } = setup();
    const body = {
      version: 1,
      kind: 'SubmitPipeline',
      pipelineId: 'loop',
      spec: {
        name: 'loop',
        sloP99Ms: 150,
        stages: [
          { id: 'a', model: { uri: '/models/a.onnx' } },
          { id: 'b', model: { uri: '/models/b.onnx' } },
        ],
        edges: [
          { from: 'a', to: 'b' },
          { from: 'b', to: 'a' },
        ],
      },
    };
    await handler(sqsEvent({ id: 'p1', body: JSON.stringify(body) }));
    expect(pipelines).toEqual([]);
    expect(poison[0]?.issues).toEqual([{ path: 'spec.edges', message: 'edges form a cycle: a -> b -> a' }]);
  });

  it('fails when the event is not an SQS batch', async () => {
    const { handler } = setup();
    await expect(handler({ detail: {} })).rejects.toThrow(/event is not an SQS batch: Records/);
  });

  it('skips a record without a messageId and still processes the rest', async () => {
    const { handler, admitted, log } = setup();
    const event = sqsEvent({ id: 'm1', body: JSON.stringify(submitJob()) }) as { Records: unknown[] };
    event.Records.unshift({ body: 'x' });
    const res = await handler(event);
    expect(res.batchItemFailures).toEqual([]);
    expect(admitted).toHaveLength(1);
    expect(log.lines.some((l) => l.message === 'dropped a malformed SQS record')).toBe(true);
  });
});
