import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { setLongTimeout } from '../../../agent/long-timer.ts';
import { startTask, type TaskRunSpec, taskEnvironment } from '../../../agent/task-runner.ts';
import { running } from './proc.ts';

async function shellTask(script: string, overrides: Partial<TaskRunSpec> = {}): Promise<TaskRunSpec> {
  return spec('', { command: '/bin/sh', args: ['-c', script], ...overrides });
}

async function spec(script: string, overrides: Partial<TaskRunSpec> = {}): Promise<TaskRunSpec> {
  const dir = await mkdtemp(join(tmpdir(), 'runner-'));
  return {
    command: process.execPath,
    args: ['-e', script],
    env: { PATH: process.env.PATH },
    cwd: join(dir, 'task'),
    killGraceMs: 500,
    tailBytes: 4096,
    ...overrides,
  };
}

describe('task runner', () => {
  it('gives the child exactly the CUDA_VISIBLE_DEVICES of its placement', async () => {
    const env = taskEnvironment(
      { PATH: process.env.PATH, CUDA_VISIBLE_DEVICES: '0,1,2,3' },
      {},
      {
        jobId: 'j1',
        taskIndex: 0,
        attempt: 1,
        gpuIndices: [1, 3],
      },
    );
    const run = await startTask(
      await spec("console.log('[' + process.env.CUDA_VISIBLE_DEVICES + ']')", { env }),
    );
    const result = await run.done;
    expect(result.outcome).toBe('succeeded');
    expect(result.output.stdout.trim()).toBe('[1,3]');
  });

  it('hides every GPU when the placement gave none, even if the task env asks for one', async () => {
    const env = taskEnvironment(
      { PATH: process.env.PATH },
      { CUDA_VISIBLE_DEVICES: '0' },
      {
        jobId: 'j1',
        taskIndex: 0,
        attempt: 0,
        gpuIndices: [],
      },
    );
    const run = await startTask(
      await spec('console.log(JSON.stringify(process.env.CUDA_VISIBLE_DEVICES))', { env }),
    );
    expect((await run.done).output.stdout.trim()).toBe('""');
  });

  it('runs the task in its own working directory with its args', async () => {
    const s = await spec("require('fs').writeFileSync('out.txt', process.argv.slice(1).join(' '))", {
      args: ['-e', "require('fs').writeFileSync('out.txt', process.argv.slice(1).join(' '))", 'a', 'b c'],
    });
    const result = await (await startTask(s)).done;
    expect(result.outcome).toBe('succeeded');
    expect(await readFile(join(s.cwd, 'out.txt'), 'utf8')).toBe('a b c');
  });

  it('reports the exit code and the tail of both streams of a failing command', async () => {
    const run = await startTask(
      await spec("console.log('x'.repeat(10000) + 'END-OUT'); console.error('boom'); process.exit(3)", {
        tailBytes: 256,
      }),
    );
    const result = await run.done;
    expect(result).toMatchObject({ outcome: 'failed', reason: 'exit', exitCode: 3 });
    expect(result.output.stdout.trim().endsWith('END-OUT')).toBe(true);
    expect(result.output.stdout.length).toBeLessThanOrEqual(256);
    expect(result.output.stderr.trim()).toBe('boom');
    expect(result.output.truncated).toBe(true);
  });

  it('SIGKILLs a task that ignores SIGTERM after its timeout and reports the signal', async () => {
    const run = await startTask(
      await spec(
        "process.on('SIGTERM', () => console.log('ignoring')); console.log('up'); setInterval(() => {}, 1000)",
        {
          // Long enough for node to start and install its handler on a loaded machine.
          timeoutMs: 2000,
          killGraceMs: 300,
        },
      ),
    );
    const result = await run.done;
    expect(result).toMatchObject({ outcome: 'failed', reason: 'timeout', signal: 'SIGKILL' });
    expect(result.exitCode).toBeUndefined();
    expect(result.output.stdout).toContain('ignoring');
  });

  it('stops a cancelled task with SIGTERM and reports it cancelled', async () => {
    const run = await startTask(await spec("console.log('up'); setInterval(() => {}, 1000)"));
    run.stop('cancel');
    const result = await run.done;
    expect(result).toMatchObject({ outcome: 'cancelled', reason: 'cancel', signal: 'SIGTERM' });
  });

  it('reports a drained task as handed back', async () => {
    const run = await startTask(await spec('setInterval(() => {}, 1000)'));
    run.stop('drain');
    expect(await run.done).toMatchObject({ outcome: 'handed-back', reason: 'drain' });
  });

  it('fails when the command does not exist, as a spawn error rather than a throw', async () => {
    const run = await startTask(await spec('', { command: '/nonexistent/tetrafleet-cmd', args: [] }));
    const result = await run.done;
    expect(result).toMatchObject({ outcome: 'failed', reason: 'spawn-error' });
    expect(result.message).toContain('/nonexistent/tetrafleet-cmd');
  });

  it('stops what a command left running in its group when it exits: SIGTERM, then SIGKILL after the grace', async () => {
    const task = await shellTask(
      "sleep 100 & echo $! > polite.pid; (trap '' TERM; exec sleep 100) & echo $! > stubborn.pid; echo started",
      { killGraceMs: 300 },
    );
    const run = await startTask(task);
    const result = await run.done;
    expect(result).toMatchObject({ outcome: 'succeeded', reason: 'exit', exitCode: 0 });
    expect(result.output.stdout).toContain('started');
    for (const file of ['polite.pid', 'stubborn.pid']) {
      const pid = Number(await readFile(join(task.cwd, file), 'utf8'));
      expect(await running(pid)).toBe(false);
    }
  });

  it('runs a task with a timeout beyond what setTimeout holds to its own end', async () => {
    const run = await startTask(
      await spec('setTimeout(() => {}, 200)', { timeoutMs: 30 * 24 * 3600 * 1000 }),
    );
    expect(await run.done).toMatchObject({ outcome: 'succeeded', reason: 'exit' });
  });
});

describe('long timeouts', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires a 30-day timeout after 30 days, not before', () => {
    vi.useFakeTimers();
    const day = 24 * 3600 * 1000;
    let fired = 0;
    setLongTimeout(() => fired++, 30 * day);
    vi.advanceTimersByTime(29 * day);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(day);
    expect(fired).toBe(1);
  });

  it('never fires once cleared', () => {
    vi.useFakeTimers();
    let fired = 0;
    setLongTimeout(() => fired++, 2 ** 32).clear();
    vi.advanceTimersByTime(2 ** 33);
    expect(fired).toBe(0);
  });
});
