import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../../agent/agent.ts';
import { Reporter } from '../../../agent/reporter.ts';
import { servingHost } from '../../../agent/serving-host.ts';
import { agentTaskEnv } from '../../../agent/task-env.ts';
import { ModelProfileSchema } from '../../../lib/core/protocol/inference.ts';
import type { CancelTaskInput, RunTaskInput } from '../../../lib/core/protocol/tasks.ts';
import {
  buildMlp,
  mlpForward,
  modelTempDir,
  seededRandom,
  uniformInput,
  writeModel,
} from '../../../lib/onnx/index.ts';
import { drainTestAgents, quiet, startTestAgent } from './agent-harness.ts';
import { FakeReportSink, type FakeWorkQueue, waitFor } from './fakes.ts';
import { endpoint, FakeServingDirectory, servingRecord } from './router/helpers.ts';

const mlp = buildMlp({ inputSize: 8, hiddenSizes: [16], outputSize: 4, seed: 11 });
let modelPath: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  const dir = await modelTempDir();
  cleanup = dir.cleanup;
  modelPath = await writeModel(join(dir.dir, 'm.onnx'), mlp.bytes);
});

afterAll(async () => {
  await cleanup?.();
});

afterEach(drainTestAgents);

async function setup(directory = new FakeServingDirectory(undefined)) {
  const sink = new FakeReportSink();
  const started = await startTestAgent({
    sink,
    servingHost: servingHost({
      reportSink: sink,
      instanceId: 'i-test',
      advertiseHost: '127.0.0.1',
      logger: quiet,
      directory: async () => directory,
      router: { pollIntervalMs: 50, reportIntervalMs: 0, tunerIntervalMs: 0 },
    }),
    tailBytes: 16_384,
    baseEnv: { PATH: process.env.PATH, ...agentTaskEnv({ instanceType: 'c7i.large' }) },
  });
  return { ...started, directory };
}

function modelTask(overrides: Partial<RunTaskInput> = {}, uri = modelPath): string {
  const message: RunTaskInput = {
    version: 1,
    kind: 'RunTask',
    jobId: 'replica-1',
    attempt: 1,
    task: { kind: 'model', modelId: 'a', model: { uri }, maxBatch: 4, maxQueueDelayMs: 0, intraOpThreads: 1 },
    resources: { vcpu: 2, memoryMiB: 1024, gpus: 0 },
    ...overrides,
  };
  return JSON.stringify(message);
}

/** A RunTask for the router of pipeline `pipe`. */
function routerRunTask(jobId: string): RunTaskInput {
  return {
    version: 1,
    kind: 'RunTask',
    jobId,
    attempt: 1,
    task: { kind: 'router', pipelineId: 'pipe' },
    resources: { vcpu: 1, memoryMiB: 512, gpus: 0 },
  };
}

function cancel(jobId: string, reason = 'user'): string {
  const message: CancelTaskInput = { version: 1, kind: 'CancelTask', jobId, reason };
  return JSON.stringify(message);
}

async function infer(url: string, x: Float32Array): Promise<{ status: number; y?: Float32Array }> {
  const res = await fetch(`${url}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'x-tensor-dims': `1,${x.length}` },
    body: Buffer.from(x.buffer),
  });
  const bytes = new Uint8Array(await res.arrayBuffer());
  return res.status === 200 ? { status: 200, y: new Float32Array(bytes.buffer) } : { status: res.status };
}

const x = uniformInput(seededRandom(5), 8);
const expected = Array.from(mlpForward(mlp, x, 1)).map((v) => expect.closeTo(v, 4));

/** Sends the model task and waits for its `started` report: the server's URL. */
async function startModel(queue: FakeWorkQueue, sink: FakeReportSink): Promise<string> {
  await queue.send(modelTask());
  const started = await waitFor(() => sink.events('replica-1').find((e) => e.event === 'started'), 'started');
  return String(started.endpoint);
}

describe('serving tasks in the agent', () => {
  it('serves a model task: started with its endpoint, answers queries, cancelled on CancelTask', async () => {
    const { agent, queue, sink } = await setup();
    const url = await startModel(queue, sink);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1\/models\/a$/);
    expect(agent.snapshot().free).toEqual({ vcpu: 2, memoryMiB: 7168, gpus: 0 });
    const answer = await infer(url, x);
    expect(Array.from(answer.y ?? [])).toEqual(expected);
    await queue.send(cancel('replica-1'));
    const cancelled = await waitFor(
      () => sink.events('replica-1').find((e) => e.event === 'cancelled'),
      'cancel',
    );
    expect(cancelled).toMatchObject({ reason: 'cancel', message: 'cancelled: user' });
    await waitFor(() => queue.remaining().length === 0, 'messages deleted');
    expect(agent.snapshot().free).toEqual({ vcpu: 4, memoryMiB: 8192, gpus: 0 });
    await expect(fetch(`${url}/infer`, { method: 'POST' })).rejects.toThrow();
  });

  it('fails a model task whose model does not load, with the reason', async () => {
    const { queue, sink } = await setup();
    await queue.send(modelTask({}, '/nonexistent/model.onnx'));
    const failed = await waitFor(() => sink.events('replica-1').find((e) => e.event === 'failed'), 'failed');
    expect(failed).toMatchObject({ reason: 'spawn-error' });
    expect(String(failed.message)).toContain('model a did not load');
    expect(sink.events('replica-1').map((e) => e.event)).toEqual(['failed']);
  });

  it('runs a redelivered model task once and re-reports it after it ended', async () => {
    const { queue, sink } = await setup();
    await queue.send(modelTask());
    await queue.send(modelTask());
    await waitFor(() => sink.events('replica-1').some((e) => e.event === 'started'), 'started');
    await queue.send(cancel('replica-1'));
    await waitFor(() => sink.events('replica-1').some((e) => e.event === 'cancelled'), 'cancelled');
    await waitFor(() => queue.remaining().length === 0, 'all deleted');
    expect(sink.events('replica-1').map((e) => e.event)).toEqual(['started', 'cancelled']);
    await queue.send(modelTask());
    await waitFor(() => sink.events('replica-1').length === 3, 'repeat');
    expect(sink.events('replica-1').at(-1)).toMatchObject({ event: 'cancelled', repeat: true });
  });

  it('runs a router task in front of a model task and hands both back at once on drain', async () => {
    const directory = new FakeServingDirectory(servingRecord({ stages: [{ id: 'a', maxBatch: 4 }] }));
    const { agent, queue, sink } = await setup(directory);
    await queue.send(modelTask());
    const replica = await waitFor(
      () => sink.events('replica-1').find((e) => e.event === 'started'),
      'replica',
    );
    directory.endpoints = [endpoint('a', String(replica.endpoint), 1)];
    const routerTask = routerRunTask('router-1');
    await queue.send(JSON.stringify(routerTask));
    const started = await waitFor(() => sink.events('router-1').find((e) => e.event === 'started'), 'router');
    const url = String(started.endpoint);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const answer = await waitFor(async () => {
      const a = await infer(`${url}/v1/pipelines/pipe`, x);
      return a.status === 200 ? a : undefined;
    }, 'an answer through the router');
    expect(Array.from(answer.y ?? [])).toEqual(expected);
    await agent.drain({ reason: 'test', graceMs: 30_000 });
    for (const job of ['replica-1', 'router-1'])
      expect(sink.events(job).at(-1)).toMatchObject({ event: 'handed-back', reason: 'drain' });
  });

  it('serves on through the grace of a spot drain, then hands the model task back', async () => {
    const { agent, queue, sink } = await setup();
    const url = await startModel(queue, sink);
    // The control plane's drain on a spot warning.
    await queue.send(
      JSON.stringify({
        version: 1,
        kind: 'Drain',
        reason: 'spot-interruption',
        graceSeconds: 15,
        serveThroughGrace: true,
      }),
    );
    await waitFor(() => agent.snapshot().state === 'DRAINING', 'draining');
    // Draining, and still answering: the replacement boots elsewhere meanwhile.
    const answer = await infer(url, x);
    const answeredAt = Date.now();
    expect(Array.from(answer.y ?? [])).toEqual(expected);
    expect(sink.events('replica-1').map((e) => e.event)).toEqual(['started']);
    await agent.drained;
    const back = sink.events('replica-1').at(-1);
    expect(back).toMatchObject({ event: 'handed-back', reason: 'drain' });
    expect(Number(back?.at)).toBeGreaterThanOrEqual(answeredAt);
    await expect(fetch(`${url}/infer`, { method: 'POST' })).rejects.toThrow();
  });

  it('fails a router task when there is no directory to read', async () => {
    const { queue, sink } = await setup();
    const agentWithout = new Agent({
      queue,
      reporter: new Reporter(
        sink,
        { instanceId: 'i-2', instanceType: 'c7i.large', agentVersion: '0', bootId: 'b' },
        Date.now,
        quiet,
      ),
      logger: quiet,
      servingHost: servingHost({ instanceId: 'i-2', advertiseHost: '127.0.0.1', logger: quiet }),
      capacity: { capacity: { vcpu: 4, memoryMiB: 8192, gpus: 0 }, gpus: [], gpuSource: 'declared' },
      settings: {
        visibilitySeconds: 30,
        pollWaitSeconds: 1,
        heartbeatMs: 60_000,
        killGraceMs: 500,
        drainGraceMs: 1000,
        tailBytes: 1024,
        rememberCompleted: 10,
        workDir: join(tmpdir(), 'agent-no-dir'),
        baseEnv: {},
      },
    });
    const task = routerRunTask('router-2');
    await agentWithout.handle({
      id: 'm1',
      body: JSON.stringify(task),
      receiptHandle: 'm1-r1',
      receiveCount: 1,
    });
    const failed = await waitFor(() => sink.events('router-2').find((e) => e.event === 'failed'), 'failed');
    expect(String(failed.message)).toContain('no serving directory');
    await agentWithout.drain({ reason: 'test over', graceMs: 0 });
  });

  it('gives command tasks the instance type and a profile CLI that prints one ModelProfile line', async () => {
    const { queue, sink } = await setup();
    const script = `$TETRAFLEET_PROFILE_CLI --model ${modelPath} --model-id m --max-batch 2 --min-samples 3 --min-duration-ms 0 --threads 1 --instance-type "$TETRAFLEET_INSTANCE_TYPE"`;
    const task: RunTaskInput = {
      version: 1,
      kind: 'RunTask',
      jobId: 'profile-1',
      attempt: 1,
      task: { kind: 'command', command: '/bin/sh', args: ['-c', script] },
      resources: { vcpu: 1, memoryMiB: 512, gpus: 0 },
    };
    await queue.send(JSON.stringify(task));
    const done = await waitFor(
      () => sink.events('profile-1').find((e) => e.event !== 'started'),
      'profile finished',
      120_000,
    );
    expect(done).toMatchObject({ event: 'succeeded' });
    const stdout = (done.output as { stdout: string }).stdout;
    expect(stdout.trim().split('\n')).toHaveLength(1);
    const profile = ModelProfileSchema.parse(JSON.parse(stdout));
    expect(profile).toMatchObject({ modelId: 'm', instanceType: 'c7i.large', measured: true });
    expect(profile.entries.map((e) => e.batchSize)).toEqual([1, 2]);
  });
});
