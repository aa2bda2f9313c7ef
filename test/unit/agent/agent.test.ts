import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ModelHost } from '../../../agent/model-host.ts';
import type { Resources } from '../../../lib/core/model/resources.ts';
import type { CancelTaskInput, RunTaskInput } from '../../../lib/core/protocol/tasks.ts';
import { drainTestAgents, startTestAgent } from './agent-harness.ts';
import { waitFor } from './fakes.ts';

afterEach(drainTestAgents);

/** The agent these tests use: a g5.2xlarge with 4 vCPUs, 8 GiB and two GPUs unless told otherwise. */
function setup(
  options: {
    capacity?: Resources;
    drainGraceMs?: number;
    heartbeatMs?: number;
    visibilitySeconds?: number;
    modelHost?: ModelHost;
  } = {},
) {
  return startTestAgent({
    instanceType: 'g5.2xlarge',
    ...options,
    capacity: options.capacity ?? { vcpu: 4, memoryMiB: 8192, gpus: 2 },
  });
}

/** A RunTask whose command is a node script. */
function runTask(script: string, overrides: Partial<RunTaskInput> = {}): string {
  const message: RunTaskInput = {
    version: 1,
    kind: 'RunTask',
    jobId: 'job-1',
    attempt: 1,
    task: { kind: 'command', command: process.execPath, args: ['-e', script] },
    resources: { vcpu: 1, memoryMiB: 256, gpus: 0 },
    ...overrides,
  };
  return JSON.stringify(message);
}

function cancel(overrides: Partial<CancelTaskInput> = {}): string {
  return JSON.stringify({ version: 1, kind: 'CancelTask', jobId: 'job-1', ...overrides });
}

/** A script that appends to `log`, then waits until `go` exists. */
function blockingScript(log: string, go: string): string {
  return `const fs=require('fs');fs.appendFileSync(${JSON.stringify(log)},'ran\\n');setInterval(()=>{if(fs.existsSync(${JSON.stringify(go)}))process.exit(0)},20)`;
}

const lines = async (file: string) =>
  existsSync(file) ? (await readFile(file, 'utf8')).split('\n').filter(Boolean) : [];

describe('agent', () => {
  it('announces itself with a first heartbeat carrying its capacity and versions', async () => {
    const { sink } = await setup();
    expect(sink.heartbeats()[0]).toMatchObject({
      instanceId: 'i-test',
      instanceType: 'g5.2xlarge',
      state: 'RUNNING',
      seq: 0,
      capacity: { vcpu: 4, memoryMiB: 8192, gpus: 2 },
      free: { vcpu: 4, memoryMiB: 8192, gpus: 2 },
      running: [],
      protocolVersion: 1,
      agentVersion: '0.0.0',
    });
  });

  it('sends heartbeats with increasing sequence numbers and the tasks it runs', async () => {
    const { queue, sink, dir } = await setup({ heartbeatMs: 50 });
    await queue.send(runTask(blockingScript(join(dir, 'a.log'), join(dir, 'never')), { jobId: 'hb-job' }));
    const beat = await waitFor(
      () =>
        sink.heartbeats().find((h) => (h.running as { jobId: string }[]).some((r) => r.jobId === 'hb-job')),
      'heartbeat listing the running task',
    );
    expect(beat).toMatchObject({ free: { vcpu: 3 }, bootId: 'boot-1' });
    const seqs = sink.heartbeats().map((h) => h.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i));
  });

  it('extends the visibility of a running task message', async () => {
    const { queue, sink, dir } = await setup({ visibilitySeconds: 3 });
    await queue.send(runTask(blockingScript(join(dir, 'a.log'), join(dir, 'never'))));
    await waitFor(() => sink.events().some((e) => e.event === 'started'), 'started');
    const receipt = queue.messages[0]?.receipt;
    await waitFor(
      () => queue.calls.some((c) => c.op === 'changeVisibility' && c.receipt === receipt && c.seconds === 3),
      'visibility extension',
    );
  });

  it('runs a RunTask, reports started then succeeded, and deletes the message after reporting', async () => {
    const { queue, sink } = await setup();
    await queue.send(runTask("console.log('hello')"));
    const done = await waitFor(() => sink.events().find((e) => e.event === 'succeeded'), 'succeeded event');
    expect(sink.events().map((e) => e.event)).toEqual(['started', 'succeeded']);
    expect(done).toMatchObject({
      jobId: 'job-1',
      attempt: 1,
      taskIndex: 0,
      exitCode: 0,
      instanceId: 'i-test',
    });
    expect((done.output as { stdout: string }).stdout).toBe('hello\n');
    await waitFor(() => queue.remaining().length === 0, 'message deleted');
  });

  it('reports the exit code and output tail of a failing command', async () => {
    const { queue, sink } = await setup();
    await queue.send(runTask("console.error('disk full'); process.exit(7)"));
    const failed = await waitFor(() => sink.events().find((e) => e.event === 'failed'), 'failed event');
    expect(failed).toMatchObject({ exitCode: 7, reason: 'exit', output: { stderr: 'disk full\n' } });
    await waitFor(() => queue.remaining().length === 0, 'message deleted');
  });

  it('runs a RunTask delivered twice once, deletes both messages, and re-reports a later redelivery', async () => {
    const { queue, sink, dir } = await setup();
    const log = join(dir, 'ran.log');
    const go = join(dir, 'go');
    const body = runTask(blockingScript(log, go));
    await queue.send(body);
    await waitFor(() => sink.events().some((e) => e.event === 'started'), 'started');
    await queue.send(body);
    await waitFor(() => (queue.messages[1]?.receives ?? 0) > 0, 'duplicate received');
    await writeFile(go, '');
    await waitFor(() => sink.events().some((e) => e.event === 'succeeded'), 'succeeded');
    await waitFor(() => queue.remaining().length === 0, 'both messages deleted');

    await queue.send(body);
    const repeat = await waitFor(() => sink.events().find((e) => e.repeat === true), 'repeated report');
    expect(repeat).toMatchObject({ event: 'succeeded', exitCode: 0 });
    await waitFor(() => queue.remaining().length === 0, 'redelivery deleted');
    expect(await lines(log)).toEqual(['ran']);
    expect(sink.events().filter((e) => e.event === 'started')).toHaveLength(1);
  });

  it('admits a task only when its resources fit the free capacity', async () => {
    const { agent, queue, sink, dir } = await setup({ capacity: { vcpu: 2, memoryMiB: 1024, gpus: 0 } });
    const go = join(dir, 'go');
    await queue.send(
      runTask(blockingScript(join(dir, 'a.log'), go), {
        jobId: 'big-a',
        resources: { vcpu: 2, memoryMiB: 512, gpus: 0 },
      }),
    );
    await queue.send(
      runTask("console.log('b')", { jobId: 'big-b', resources: { vcpu: 1.5, memoryMiB: 512, gpus: 0 } }),
    );
    await waitFor(() => agent.snapshot().waiting.length === 1, 'second task waiting');
    expect(agent.snapshot()).toMatchObject({
      running: [{ jobId: 'big-a' }],
      waiting: [{ jobId: 'big-b' }],
      free: { vcpu: 0 },
    });
    await writeFile(go, '');
    await waitFor(() => sink.events('big-b').some((e) => e.event === 'succeeded'), 'second task done');
    const order = sink.events().map((e) => `${e.jobId}:${e.event}`);
    expect(order.indexOf('big-a:succeeded')).toBeLessThan(order.indexOf('big-b:started'));
  });

  it('waits for the exact GPUs of its placement to be free', async () => {
    const { agent, queue, sink, dir } = await setup();
    const go = join(dir, 'go');
    const gpu1 = { resources: { vcpu: 1, memoryMiB: 256, gpus: 1 }, gpuIndices: [1] };
    await queue.send(runTask(blockingScript(join(dir, 'a.log'), go), { jobId: 'gpu-a', ...gpu1 }));
    await queue.send(runTask('console.log(process.env.CUDA_VISIBLE_DEVICES)', { jobId: 'gpu-b', ...gpu1 }));
    await waitFor(() => agent.snapshot().waiting.length === 1, 'gpu-b waiting for GPU 1');
    expect(agent.snapshot().freeGpuIndices).toEqual([0]);
    await writeFile(go, '');
    const b = await waitFor(() => sink.events('gpu-b').find((e) => e.event === 'succeeded'), 'gpu-b done');
    expect((b.output as { stdout: string }).stdout).toBe('1\n');
  });

  it('fails a task whose GPU indices do not exist here without running it', async () => {
    const { queue, sink } = await setup();
    await queue.send(
      runTask('console.log(1)', { resources: { vcpu: 1, memoryMiB: 1, gpus: 1 }, gpuIndices: [5] }),
    );
    const failed = await waitFor(() => sink.events().find((e) => e.event === 'failed'), 'failed event');
    expect(failed).toMatchObject({ reason: 'does-not-fit' });
    expect(failed.message).toContain('gpuIndices [5]');
    await waitFor(() => queue.remaining().length === 0, 'message deleted');
  });

  it('stops a running task on CancelTask and reports it cancelled', async () => {
    const { queue, sink, dir } = await setup();
    await queue.send(runTask(blockingScript(join(dir, 'a.log'), join(dir, 'never'))));
    await waitFor(() => sink.events().some((e) => e.event === 'started'), 'started');
    await queue.send(cancel({ reason: 'user' }));
    const cancelled = await waitFor(() => sink.events().find((e) => e.event === 'cancelled'), 'cancelled');
    expect(cancelled).toMatchObject({ reason: 'cancel', signal: 'SIGTERM', message: 'cancelled: user' });
    await waitFor(() => queue.remaining().length === 0, 'both messages deleted');
  });

  it('stops a task only after the delay a CancelTask with afterSeconds asks for', async () => {
    const { agent, queue, sink, dir } = await setup();
    await queue.send(runTask(blockingScript(join(dir, 'a.log'), join(dir, 'never'))));
    await waitFor(() => sink.events().some((e) => e.event === 'started'), 'started');
    await queue.send(cancel({ reason: 'rebalance recommendation', afterSeconds: 3 }));
    // Observed as the CancelTask is consumed: the task still runs, and nothing was reported.
    const atConsume = await waitFor(
      () =>
        queue.remaining().length === 1
          ? { running: agent.snapshot().running.length, events: sink.events().map((e) => e.event) }
          : undefined,
      'cancel consumed',
    );
    expect(atConsume).toEqual({ running: 1, events: ['started'] });
    const cancelled = await waitFor(() => sink.events().find((e) => e.event === 'cancelled'), 'cancelled');
    expect(cancelled).toMatchObject({ reason: 'cancel', message: 'cancelled: rebalance recommendation' });
    await waitFor(() => queue.remaining().length === 0, 'both messages deleted');
  });

  it('never runs a RunTask that arrives after its CancelTask', async () => {
    const { queue, sink, dir } = await setup();
    const log = join(dir, 'ran.log');
    await queue.send(cancel({ attempt: 1 }));
    await waitFor(() => queue.remaining().length === 0, 'cancel consumed');
    await queue.send(runTask(`require('fs').writeFileSync(${JSON.stringify(log)}, 'ran')`));
    await waitFor(() => sink.events().some((e) => e.event === 'cancelled'), 'cancelled');
    await waitFor(() => queue.remaining().length === 0, 'run task deleted');
    expect(existsSync(log)).toBe(false);
  });

  it('hands back a task that outlives the drain grace and reports DRAINED', async () => {
    const { agent, queue, sink, dir } = await setup();
    await queue.send(runTask(blockingScript(join(dir, 'a.log'), join(dir, 'never'))));
    await waitFor(() => sink.events().some((e) => e.event === 'started'), 'started');
    await agent.drain({ reason: 'test', graceMs: 50 });
    expect(sink.events().at(-1)).toMatchObject({ event: 'handed-back', reason: 'drain' });
    const receipt = queue.messages[0]?.receipt;
    expect(queue.calls).toContainEqual({ op: 'changeVisibility', receipt, seconds: 0 });
    expect(queue.remaining()).toHaveLength(1);
    expect(sink.heartbeats().at(-1)).toMatchObject({ state: 'DRAINED', running: [] });
    expect(agent.state).toBe('DRAINED');
  });

  it("brings a drain's end forward on a tighter request (a spot notice during a scale-in drain)", async () => {
    const { agent, queue, sink, dir } = await setup();
    await queue.send(runTask(blockingScript(join(dir, 'a.log'), join(dir, 'never'))));
    await waitFor(() => sink.events().some((e) => e.event === 'started'), 'started');
    const first = agent.drain({ reason: 'scale-in', graceMs: 600_000 });
    await waitFor(() => agent.state === 'DRAINING', 'draining');
    expect(sink.events().map((e) => e.event)).toEqual(['started']);
    // Were the ten-minute grace kept, neither drain would settle within the test's timeout.
    await agent.drain({ reason: 'spot-interruption', graceMs: 50 });
    await first;
    expect(sink.events().at(-1)).toMatchObject({ event: 'handed-back', reason: 'drain' });
    expect(agent.state).toBe('DRAINED');
  });

  it("never pushes a drain's end back on a looser request", async () => {
    const { agent, queue, sink, dir } = await setup();
    await queue.send(runTask(blockingScript(join(dir, 'a.log'), join(dir, 'never'))));
    await waitFor(() => sink.events().some((e) => e.event === 'started'), 'started');
    const first = agent.drain({ reason: 'spot-interruption', graceMs: 50 });
    await agent.drain({ reason: 'scale-in', graceMs: 600_000 });
    await first;
    expect(sink.events().at(-1)).toMatchObject({ event: 'handed-back', reason: 'drain' });
    expect(agent.state).toBe('DRAINED');
  });

  it('still reads its queue while draining: a CancelTask stops its task before the grace ends', async () => {
    const { agent, queue, sink, dir } = await setup();
    await queue.send(runTask(blockingScript(join(dir, 'a.log'), join(dir, 'never'))));
    await waitFor(() => sink.events().some((e) => e.event === 'started'), 'started');
    // Were the cancel unread, the task would run out the ten-minute grace.
    const drained = agent.drain({ reason: 'scale-in', graceMs: 600_000 });
    await waitFor(() => agent.state === 'DRAINING', 'draining');
    await queue.send(cancel({ reason: 'user' }));
    await drained;
    expect(sink.events().map((e) => e.event)).toEqual(['started', 'cancelled']);
    expect(sink.events().at(-1)).toMatchObject({ reason: 'cancel', message: 'cancelled: user' });
    expect(queue.remaining()).toHaveLength(0);
  });

  it('hands back a RunTask that arrives while draining once, and hides its redelivery past the drain', async () => {
    const { agent, queue, sink, dir } = await setup({ drainGraceMs: 600_000 });
    const go = join(dir, 'go');
    await queue.send(runTask(blockingScript(join(dir, 'a.log'), go)));
    await waitFor(() => sink.events().some((e) => e.event === 'started'), 'started');
    void agent.drain({ reason: 'scale-in' });
    await waitFor(() => agent.state === 'DRAINING', 'draining');
    await queue.send(runTask('', { jobId: 'job-2' }));
    // The hand-back makes the message visible again; the second delivery is hidden, not reported again.
    const hidden = await waitFor(
      () => queue.calls.find((c) => c.op === 'changeVisibility' && (c.seconds ?? 0) > 500),
      'redelivery hidden',
    );
    expect(hidden.seconds).toBeLessThanOrEqual(601);
    const handedBack = sink.events().filter((e) => e.event === 'handed-back');
    expect(handedBack).toEqual([expect.objectContaining({ jobId: 'job-2', reason: 'drain' })]);
    await writeFile(go, '');
    await agent.drained;
    expect(sink.events().map((e) => `${e.jobId} ${e.event}`)).toEqual([
      'job-1 started',
      'job-2 handed-back',
      'job-1 succeeded',
    ]);
  });

  it('lets a task finish within the drain grace and then reports it normally', async () => {
    const { agent, queue, sink, dir } = await setup();
    const go = join(dir, 'go');
    await queue.send(runTask(blockingScript(join(dir, 'a.log'), go)));
    await waitFor(() => sink.events().some((e) => e.event === 'started'), 'started');
    await queue.send(JSON.stringify({ version: 1, kind: 'Drain', reason: 'scale-in' }));
    await waitFor(() => agent.state === 'DRAINING', 'draining');
    await writeFile(go, '');
    await agent.drained;
    expect(sink.events().map((e) => e.event)).toEqual(['started', 'succeeded']);
    expect(queue.remaining()).toHaveLength(0);
    expect(sink.heartbeats().at(-1)?.state).toBe('DRAINED');
  });

  it('leaves a malformed message on the queue for the DLQ and reports nothing', async () => {
    const { agent, queue, sink } = await setup();
    await queue.send(JSON.stringify({ version: 1, kind: 'RunTask', jobId: '' }));
    await waitFor(() => (queue.messages[0]?.receives ?? 0) > 0, 'message received');
    expect(agent.state).toBe('RUNNING');
    expect(queue.remaining()).toHaveLength(1);
    expect(queue.calls.filter((c) => c.op === 'delete')).toHaveLength(0);
    expect(sink.events()).toHaveLength(0);
  });

  it('keeps the message when the result cannot be reported, and reports it on redelivery', async () => {
    const { agent, queue, sink, dir } = await setup();
    const go = join(dir, 'go');
    await queue.send(runTask(blockingScript(join(dir, 'a.log'), go)));
    await waitFor(() => sink.events().some((e) => e.event === 'started'), 'started');
    sink.failNext(1);
    await writeFile(go, '');
    await waitFor(
      () => sink.pendingFailures === 0 && agent.snapshot().running.length === 0,
      'report attempted',
    );
    expect(queue.calls.filter((c) => c.op === 'delete')).toHaveLength(0);
    expect(queue.remaining()).toHaveLength(1);

    // Make the kept message visible again, as its visibility timeout would.
    await queue.changeVisibility(queue.messages[0]?.receipt ?? '', 0);
    const repeat = await waitFor(() => sink.events().find((e) => e.repeat === true), 'repeated report');
    expect(repeat).toMatchObject({ event: 'succeeded', exitCode: 0 });
    await waitFor(() => queue.remaining().length === 0, 'message deleted');
  });

  it('fails a task with an unstartable command and still reports it when the error text is long', async () => {
    const { queue, sink } = await setup();
    const command = `/nonexistent/${'x'.repeat(3000)}`;
    await queue.send(JSON.stringify({ ...JSON.parse(runTask('')), task: { kind: 'command', command } }));
    const failed = await waitFor(() => sink.events().find((e) => e.event === 'failed'), 'failed event');
    expect(failed).toMatchObject({ reason: 'spawn-error' });
    expect((failed.message as string).length).toBeLessThanOrEqual(2048);
    await waitFor(() => queue.remaining().length === 0, 'message deleted');
  });

  it('hands model commands to the model host and closes it on drain', async () => {
    const seen: string[] = [];
    const modelHost: ModelHost = {
      handle: async (command) => {
        seen.push(`${command.kind}:${command.modelId}`);
      },
      close: async () => {
        seen.push('close');
      },
    };
    const { agent, queue } = await setup({ modelHost });
    await queue.send(
      JSON.stringify({ version: 1, kind: 'ServeModel', modelId: 'resnet', model: { uri: '/models/r.onnx' } }),
    );
    await waitFor(() => queue.remaining().length === 0, 'ServeModel consumed');
    await agent.drain({ reason: 'test', graceMs: 0 });
    expect(seen).toEqual(['ServeModel:resnet', 'close']);
  });
});
