import { readdirSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startTask, type TaskRunSpec } from '../../../agent/task-runner.ts';
import type { RunTaskInput } from '../../../lib/core/protocol/tasks.ts';
import { drainTestAgents, startTestAgent } from './agent-harness.ts';
import { FakeReportSink, waitFor } from './fakes.ts';
import { running } from './proc.ts';

const strays: number[] = [];

afterEach(async () => {
  await drainTestAgents();
  for (const pid of strays.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
});

async function shellSpec(script: string, overrides: Partial<TaskRunSpec> = {}): Promise<TaskRunSpec> {
  const dir = await mkdtemp(join(tmpdir(), 'robust-'));
  return {
    command: '/bin/sh',
    args: ['-c', script],
    env: { PATH: process.env.PATH },
    cwd: join(dir, 'task'),
    killGraceMs: 500,
    tailBytes: 1024,
    ...overrides,
  };
}

function agentWith(
  killGraceMs: number,
  sink: FakeReportSink = new FakeReportSink(),
  capacity = { vcpu: 2, memoryMiB: 4096, gpus: 0 },
) {
  return startTestAgent({ killGraceMs, sink, capacity });
}

function shellRunTask(script: string, overrides: Partial<RunTaskInput> = {}): string {
  const message: RunTaskInput = {
    version: 1,
    kind: 'RunTask',
    jobId: 'job-1',
    attempt: 0,
    task: { kind: 'command', command: '/bin/sh', args: ['-c', script] },
    resources: { vcpu: 1, memoryMiB: 256, gpus: 0 },
    ...overrides,
  };
  return JSON.stringify(message);
}

const cancelBody = JSON.stringify({ version: 1, kind: 'CancelTask', jobId: 'job-1', reason: 'user' });

describe('task runner under hostile commands', () => {
  it('fails a command that is not executable as a spawn error naming it', async () => {
    const spec = await shellSpec('');
    const file = join(spec.cwd, '..', 'not-executable');
    await writeFile(file, 'echo hi\n', { mode: 0o644 });
    const result = await (await startTask({ ...spec, command: file, args: [] })).done;
    expect(result).toMatchObject({ outcome: 'failed', reason: 'spawn-error' });
    expect(result.message).toContain(file);
  });

  it('fails a command that cannot be spawned at all (a NUL byte in its env) without throwing', async () => {
    const spec = await shellSpec('echo hi', { env: { PATH: process.env.PATH, BAD: 'a\0b' } });
    const result = await (await startTask(spec)).done;
    expect(result).toMatchObject({ outcome: 'failed', reason: 'spawn-error' });
    expect(result.message).toContain('/bin/sh');
  });

  it('reports a command killed by a signal with that signal', async () => {
    const result = await (await startTask(await shellSpec('kill -KILL $$'))).done;
    expect(result).toMatchObject({ outcome: 'failed', reason: 'signal', signal: 'SIGKILL' });
    expect(result.message).toContain('SIGKILL');
  });

  it('keeps only a bounded tail of megabytes of binary output', async () => {
    const result = await (
      await startTask(await shellSpec('head -c 8000000 /dev/urandom; printf "\\377\\376END"'))
    ).done;
    expect(result).toMatchObject({ outcome: 'succeeded', reason: 'exit' });
    expect(result.output.truncated).toBe(true);
    expect(Buffer.byteLength(result.output.stdout)).toBeLessThanOrEqual(1024 * 3);
    expect(result.output.stdout.length).toBeLessThanOrEqual(1024);
    expect(result.output.stdout.endsWith('END')).toBe(true);
  });

  it('closes its ends of the output pipes once the task is over, even when a process that left the group holds them', async () => {
    const fds = () => readdirSync('/proc/self/fd').length;
    // The leader exits only once the daemon has left its group (the daemon writes its pid after setsid).
    const spec = await shellSpec(
      "setsid sh -c 'echo $$ > daemon.pid; exec sleep 60' & while [ ! -s daemon.pid ]; do sleep 0.01; done; echo up",
    );
    const before = fds();
    const result = await (await startTask(spec)).done;
    const daemon = Number(await readFile(join(spec.cwd, 'daemon.pid'), 'utf8'));
    strays.push(daemon);
    expect(await running(daemon)).toBe(true);
    expect(result).toMatchObject({ outcome: 'succeeded', reason: 'exit' });
    expect(result.output.stdout).toContain('up');
    expect(fds()).toBeLessThanOrEqual(before);
  });
});

describe('agent terminal reports', () => {
  it('keeps the exit reason when a cancel arrives after the command exited, while its group is reaped', async () => {
    const { queue, sink, dir } = await agentWith(60_000);
    const go = join(dir, 'go');
    const leader = join(dir, 'leader.pid');
    // The leader exits 3 at once; its child ignores SIGTERM and lingers until `go` exists.
    const script = `(trap '' TERM; while [ ! -f ${go} ]; do sleep 0.05; done) & echo $$ > ${leader}; exit 3`;
    await queue.send(shellRunTask(script));
    await waitFor(() => sink.events().some((e) => e.event === 'started'), 'started');
    const pid = await waitFor(
      async () => Number(await readFile(leader, 'utf8').catch(() => '')) || undefined,
      'leader pid',
    );
    await waitFor(async () => !(await running(pid)), 'leader exited');
    await queue.send(cancelBody);
    await waitFor(() => queue.remaining().length === 1, 'cancel consumed');
    await writeFile(go, '');
    const end = await waitFor(() => sink.events().find((e) => e.event !== 'started'), 'terminal event');
    expect(end).toMatchObject({
      event: 'failed',
      reason: 'exit',
      exitCode: 3,
      message: 'exited with code 3',
    });
    expect(sink.events().filter((e) => e.event !== 'started')).toHaveLength(1);
  });

  it('keeps the timeout reason when a cancel arrives while a timed-out command is being stopped', async () => {
    const { queue, sink, dir } = await agentWith(60_000);
    const go = join(dir, 'go');
    const termed = join(dir, 'termed');
    const script = `trap 'touch ${termed}' TERM; while [ ! -f ${go} ]; do sleep 0.05; done`;
    await queue.send(shellRunTask(script, { timeoutSeconds: 1 }));
    await waitFor(() => sink.events().some((e) => e.event === 'started'), 'started');
    await waitFor(
      async () => (await readFile(termed).catch(() => undefined)) !== undefined,
      'timeout SIGTERM',
    );
    await queue.send(cancelBody);
    await waitFor(() => queue.remaining().length === 1, 'cancel consumed');
    await writeFile(go, '');
    const end = await waitFor(() => sink.events().find((e) => e.event !== 'started'), 'terminal event');
    expect(end).toMatchObject({ event: 'failed', reason: 'timeout' });
    expect(end.message).toContain('timed out');
  });
});

/** A report sink that holds every send while closed, so a test can interleave the agent's steps. */
class GatedSink extends FakeReportSink {
  readonly held: { message: Record<string, unknown>; release: () => void }[] = [];
  private closed = false;

  close(): void {
    this.closed = true;
  }

  open(): void {
    this.closed = false;
    for (const h of this.held.splice(0)) h.release();
  }

  override async send(message: { readonly kind: string; readonly version: number }): Promise<void> {
    if (this.closed)
      await new Promise<void>((release) => this.held.push({ message: { ...message }, release }));
    return super.send(message);
  }
}

/** One task running on a 1-vCPU agent and two of job `waits` waiting behind it, with a gated sink. */
async function twoWaiting() {
  const sink = new GatedSink();
  const { agent, queue, dir } = await agentWith(500, sink, { vcpu: 1, memoryMiB: 4096, gpus: 0 });
  const block = `while [ ! -f ${join(dir, 'never')} ]; do sleep 0.05; done`;
  await queue.send(shellRunTask(block, { jobId: 'runs' }));
  await waitFor(() => agent.snapshot().running.length === 1, 'first task running');
  await queue.send(shellRunTask(block, { jobId: 'waits', taskIndex: 0 }));
  await queue.send(shellRunTask(block, { jobId: 'waits', taskIndex: 1 }));
  await waitFor(() => agent.snapshot().waiting.length === 2, 'two tasks waiting');
  /** Whether a send of this event for `waits` task `taskIndex` is held at the gate. */
  const held = (event: string, taskIndex: number) => () =>
    sink.held.some(
      (h) => h.message.event === event && h.message.jobId === 'waits' && h.message.taskIndex === taskIndex,
    );
  const cancel = (taskIndex?: number) =>
    agent.handle({
      id: 'c1',
      body: JSON.stringify({ version: 1, kind: 'CancelTask', jobId: 'waits', taskIndex }),
      receiptHandle: 'c1-r1',
      receiveCount: 1,
    });
  return { agent, sink, held, cancel };
}

describe('agent races between a drain and a cancel', () => {
  it('reports a waiting task once when a cancel for it lands while the drain hands back the waiting tasks', async () => {
    const { agent, sink, held, cancel } = await twoWaiting();
    sink.close();
    const drained = agent.drain({ reason: 'test', graceMs: 0 });
    await waitFor(held('handed-back', 0), 'drain handing back the first waiting task');
    const cancelled = cancel(1);
    await waitFor(held('cancelled', 1), 'cancel reporting the second waiting task');
    sink.open();
    await cancelled;
    await drained;
    const ends = sink.events('waits').filter((e) => e.taskIndex === 1);
    expect(ends.map((e) => e.event)).toEqual(['cancelled']);
  });

  it('reports a waiting task once when a drain hands it back while a cancel of its job is being reported', async () => {
    const { agent, sink, held, cancel } = await twoWaiting();
    sink.close();
    const cancelled = cancel();
    await waitFor(held('cancelled', 0), 'cancel reporting the first waiting task');
    const drained = agent.drain({ reason: 'test', graceMs: 0 });
    await waitFor(held('handed-back', 1), 'drain handing back the second waiting task');
    sink.open();
    await cancelled;
    await drained;
    const ends = sink.events('waits').filter((e) => e.taskIndex === 1);
    expect(ends.map((e) => e.event)).toEqual(['handed-back']);
  });
});
