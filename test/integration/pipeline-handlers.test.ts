import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAdmitHandler } from '../../lambdas/admit.ts';
import { buildIngestHandler } from '../../lambdas/ingest.ts';
import { buildScaleHandler } from '../../lambdas/scale.ts';
import { type HandlerConfig, readHandlerConfig } from '../../lambdas/shared/config.ts';
import { DynamoFleetStore } from '../../lib/aws/dynamo-fleet-store.ts';
import { DynamoJobStore } from '../../lib/aws/dynamo-job-store.ts';
import { DynamoPipelineStore } from '../../lib/aws/dynamo-pipeline-store.ts';
import { LABEL, modelIdFor, profileJobId } from '../../lib/core/control/pipeline-jobs.ts';
import { TaskRecordSchema } from '../../lib/core/control/task-record.ts';
import type { Job } from '../../lib/core/model/job.ts';
import { ROUTER_STAGE } from '../../lib/core/model/pipeline-serving.ts';
import type { ModelProfile } from '../../lib/core/protocol/inference.ts';
import { TetrafleetClient } from '../../lib/sdk/client.ts';
import { PipelineRejectedError } from '../../lib/sdk/errors.ts';
import { twoStageSpec } from '../fakes/fake-pipeline-store.ts';
import { emulatorEnv, resetEmulator, testAwsConfig } from '../support/emulator.ts';
import { handlerEnv } from '../support/stack-env.ts';
import { scheduledEvent } from '../unit/lambdas/support.ts';

const silent = { info() {}, warn() {}, error() {} };
const clock = {
  t: 1_764_000_000_000,
  now() {
    return this.t;
  },
};

function sqsEvent(...bodies: string[]) {
  return {
    Records: bodies.map((body, i) => ({
      messageId: `m-${i}`,
      receiptHandle: `r-${i}`,
      body,
      attributes: {},
    })),
  };
}

function profile(
  modelId: string,
  instanceType: string,
  provider: 'cpu' | 'cuda',
  baseMs: number,
): ModelProfile {
  return {
    version: 1,
    kind: 'ModelProfile',
    modelId,
    instanceType,
    provider,
    measured: true,
    entries: [1, 2, 4, 8].map((b) => {
      const ms = baseMs * (1 + 0.25 * (b - 1));
      return { batchSize: b, p50Ms: ms * 0.9, p99Ms: ms, throughputQps: (b * 1000) / ms, samples: 40 };
    }),
  };
}

/**
 * The control plane end to end over the emulator, through the real handlers: admission, profiling jobs,
 * profiles in through ingest, the plan from the scale tick, replica and router jobs, serving endpoints,
 * a tuner's replica request, and stop.
 */
/** The instance every task of this suite is placed on and reported from. */
const INSTANCE_ID = 'i-0123456789abcdef0';

describe('pipeline control plane through the handlers', () => {
  const aws = testAwsConfig();
  const dynamo = new DynamoDBClient(aws);
  const sqs = new SQSClient(aws);
  const s3 = new S3Client(aws);
  const dir = mkdtempSync(join(tmpdir(), 'tf-pipeline-'));
  const detectUri = join(dir, 'detect.onnx');
  const classifyUri = 's3://pipeline-models/classify.onnx';
  let config: HandlerConfig;
  let jobs: DynamoJobStore;
  let fleetStore: DynamoFleetStore;
  let pipelines: DynamoPipelineStore;
  let client: TetrafleetClient;

  beforeAll(async () => {
    await resetEmulator();
    writeFileSync(detectUri, 'not really onnx: admission only checks that the file exists');
    await s3.send(new CreateBucketCommand({ Bucket: 'pipeline-models' }));
    await s3.send(new PutObjectCommand({ Bucket: 'pipeline-models', Key: 'classify.onnx', Body: 'x' }));
    const env = await handlerEnv(dynamo, sqs, `pipe-${process.pid}`, emulatorEnv());
    config = readHandlerConfig(env);
    jobs = new DynamoJobStore(dynamo, config.adapters.tables);
    fleetStore = new DynamoFleetStore(dynamo, config.adapters.tables);
    pipelines = new DynamoPipelineStore(dynamo, config.adapters.tables);
    client = new TetrafleetClient({
      endpoints: { submissionsQueueUrl: config.queues.submissions, tables: config.adapters.tables },
      aws,
    });
  });
  afterAll(() => {
    client.close();
    dynamo.destroy();
    sqs.destroy();
    s3.destroy();
  });

  const spec = () =>
    twoStageSpec({
      stages: [
        { id: 'detect', model: { uri: detectUri } },
        { id: 'classify', model: { uri: classifyUri } },
      ],
    });

  /** Moves a job to `to` the way the schedule cycle and ingest would (PLACED, RUNNING, then done). */
  async function run(id: string, to: 'RUNNING' | 'SUCCEEDED'): Promise<Job> {
    // Placed as the cycle places it: the job and its task record on the reporting instance, together.
    const now = clock.now();
    const task = TaskRecordSchema.parse({
      jobId: id,
      taskIndex: 0,
      attempt: 0,
      instanceId: INSTANCE_ID,
      state: 'PLACED',
      alternative: 0,
      resources: { vcpu: 1, memoryMiB: 1024, gpus: 0 },
      startAt: now,
      expectedEndAt: now + 60_000,
      updatedAt: now,
    });
    let job = await fleetStore.commitPlacement((await jobs.get(id)) as Job, 'PLACED', [task], now);
    const steps = (['RUNNING', 'SUCCEEDED'] as const).slice(0, to === 'RUNNING' ? 1 : 2);
    for (const next of steps) {
      job = await jobs.transition(id, {
        from: job.status,
        to: next,
        expectedVersion: job.version,
        now: clock.now(),
      });
    }
    return job;
  }

  function taskEvent(jobId: string, event: string, extra: Record<string, unknown> = {}): string {
    return JSON.stringify({
      version: 1,
      kind: 'TaskEvent',
      event,
      jobId,
      taskIndex: 0,
      attempt: 0,
      instanceId: INSTANCE_ID,
      at: clock.now(),
      ...extra,
    });
  }

  it('refuses a pipeline whose s3 model does not exist, readable through the SDK', async () => {
    const admit = buildAdmitHandler(config, clock, silent);
    const bad = twoStageSpec({
      stages: [
        { id: 'detect', model: { uri: detectUri } },
        { id: 'classify', model: { uri: 's3://pipeline-models/missing.onnx' } },
      ],
    });
    const body = JSON.stringify({ version: 1, kind: 'SubmitPipeline', pipelineId: 'missing', spec: bad });
    expect(await admit(sqsEvent(body))).toEqual({ batchItemFailures: [] });
    const error = await client.getPipeline('missing').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PipelineRejectedError);
    expect((error as PipelineRejectedError).issues.map((i) => i.path)).toEqual(['spec.stages.1.model.uri']);
  });

  it('profiles, plans, serves, follows the tuner and stops a pipeline', async () => {
    const admit = buildAdmitHandler(config, clock, silent);
    const ingest = buildIngestHandler(config, clock, silent);
    const scale = buildScaleHandler(config, clock, silent);
    const body = JSON.stringify({ version: 1, kind: 'SubmitPipeline', pipelineId: 'vision', spec: spec() });
    await admit(sqsEvent(body, body));
    expect((await client.getPipeline('vision'))?.record.status).toBe('PROFILING');

    // Allowed types c7i.large and g5.xlarge: one profiling job per model and type.
    const detect = modelIdFor(detectUri);
    const classify = modelIdFor(classifyUri);
    const reports: [string, string, ModelProfile][] = [
      [detect, 'c7i.large', profile(detect, 'c7i.large', 'cpu', 9)],
      [detect, 'g5.xlarge', profile(detect, 'g5.xlarge', 'cuda', 2)],
      // No GPU where this one ran: its profile must be derived, never stored as measured.
      [classify, 'g5.xlarge', profile(classify, 'g5.xlarge', 'cpu', 7)],
      [classify, 'c7i.large', profile(classify, 'c7i.large', 'cpu', 7)],
    ];
    for (const [modelId, type, report] of reports) {
      const id = profileJobId('vision', { modelId, instanceType: type });
      await run(id, 'SUCCEEDED');
      const stdout = `profiling...\n${JSON.stringify(report, null, 2)}\n`;
      const out = await ingest(
        sqsEvent(taskEvent(id, 'succeeded', { exitCode: 0, output: { stdout, stderr: '' } })),
      );
      expect(out).toEqual({ batchItemFailures: [] });
    }
    expect((await pipelines.get('vision'))?.status).toBe('PLANNING');
    const gpu = (await pipelines.profilesOf(classify)).find((p) => p.instanceType === 'g5.xlarge');
    expect(gpu?.source).toMatchObject({ kind: 'derived', fromInstanceType: 'c7i.large' });

    const tick = await scale(scheduledEvent({ time: '2026-11-25T16:00:00Z' }));
    expect(tick).toMatchObject({ status: 'done', detail: { planned: 1, failed: 0 } });
    const record = await client.waitForPipeline('vision', { timeoutMs: 30_000 });
    expect(record.plan?.p99Ms).toBeLessThanOrEqual(200);
    const live = async (role: string) =>
      (await jobs.list({ status: 'PENDING', limit: 500 })).jobs.filter(
        (j) => j.spec.labels[LABEL.pipeline] === 'vision' && j.spec.labels[LABEL.role] === role,
      );
    const routers = await live('router');
    expect(routers).toHaveLength(1);
    const planned = Object.values(record.targets).reduce((a, b) => a + b, 0);
    expect((await live('replica')).length).toBeGreaterThanOrEqual(planned);

    // The router starts and joins the directory the agent's router polls.
    const router = routers[0] as Job;
    await run(router.id, 'RUNNING');
    await ingest(sqsEvent(taskEvent(router.id, 'started', { endpoint: 'http://10.0.0.6:8080' })));
    const view = await client.getPipeline('vision');
    expect(view?.endpoints.map((e) => [e.stageId, e.url])).toEqual([[ROUTER_STAGE, 'http://10.0.0.6:8080']]);

    // The tuner asks for more detect replicas: they are submitted at once.
    const before = (await live('replica')).filter((j) => j.spec.labels[LABEL.stage] === 'detect').length;
    const wanted = { ...record.targets, detect: (record.targets.detect ?? 1) + 2 };
    const request = {
      version: 1,
      kind: 'ReplicaRequest',
      pipelineId: 'vision',
      instanceId: 'i-0123456789abcdef0',
      at: clock.now() + 1,
      targets: wanted,
      reason: 'scale-up',
      ratePerSecond: 80,
    };
    await ingest(sqsEvent(JSON.stringify(request)));
    const after = (await live('replica')).filter((j) => j.spec.labels[LABEL.stage] === 'detect').length;
    expect(after).toBe(before + 2);
    expect((await pipelines.get('vision'))?.targets.detect).toBe(wanted.detect);

    // Stop: the next tick cancels every replica and the router.
    expect((await client.stopPipeline('vision')).status).toBe('STOPPED');
    const stopped = await scale(scheduledEvent({ time: '2026-11-25T16:01:00Z' }));
    expect(stopped).toMatchObject({ status: 'done' });
    expect(await live('replica')).toEqual([]);
    expect((await jobs.get(router.id))?.cancelRequestedAt).toBeDefined();
  });
});
