import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { OutputTail as OutputTailMessage, RunTask, TaskEndReason } from '../lib/core/protocol/tasks.ts';
import { setLongTimeout } from './long-timer.ts';
import { OutputTail } from './output-tail.ts';

/**
 * Runs one task as a child process in its own process group, so that stopping it also stops whatever it
 * started (a shell and its children). Stopping is SIGTERM to the group, then SIGKILL after a grace
 * period. However the task ends, what its leader left running in the group (`sleep 100 &`) is stopped the
 * same way before the run is done, so nothing outlives the task's hold on its resources. The runner never
 * throws for the task's sake: every ending, a spawn failure included, comes back as a TaskResult.
 */

export interface TaskRunSpec {
  readonly command: string;
  readonly args: readonly string[];
  /** The whole environment of the child (the agent builds it). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Created when missing. */
  readonly cwd: string;
  /** Undefined means no limit. */
  readonly timeoutMs?: number;
  readonly killGraceMs: number;
  readonly tailBytes: number;
}

/** How a run ended, before the agent turns it into a TaskEvent. */
export type TaskOutcome = 'succeeded' | 'failed' | 'cancelled' | 'handed-back';

export interface TaskResult {
  readonly outcome: TaskOutcome;
  readonly reason: TaskEndReason;
  readonly exitCode?: number;
  readonly signal?: string;
  readonly durationMs: number;
  readonly message?: string;
  readonly output: OutputTailMessage;
}

/** Why the agent stops a task itself. */
export type StopReason = 'cancel' | 'drain' | 'timeout';

export interface RunningTask {
  readonly pid: number | undefined;
  /** Resolves once, when the process has exited (or failed to start). */
  readonly done: Promise<TaskResult>;
  /** SIGTERM now, SIGKILL after the grace period. The first reason given wins. */
  stop(reason: StopReason): void;
}

/** The environment a task sees: agent env, then the task's own, then what the agent must control. */
export function taskEnvironment(
  base: Readonly<Record<string, string | undefined>>,
  taskEnv: Readonly<Record<string, string>>,
  ids: { jobId: string; taskIndex: number; attempt: number; gpuIndices: readonly number[] },
): Record<string, string | undefined> {
  return {
    ...base,
    ...taskEnv,
    // Set last so a task cannot widen its own GPU share; empty hides every GPU from CUDA.
    CUDA_VISIBLE_DEVICES: ids.gpuIndices.join(','),
    TETRAFLEET_JOB_ID: ids.jobId,
    TETRAFLEET_TASK_INDEX: String(ids.taskIndex),
    TETRAFLEET_ATTEMPT: String(ids.attempt),
  };
}

/** A RunTask whose task is a command (a child process). */
export type CommandRunTask = RunTask & { readonly task: Extract<RunTask['task'], { kind: 'command' }> };

export function isCommandRunTask(task: RunTask): task is CommandRunTask {
  return task.task.kind === 'command';
}

/** The run spec of a RunTask: its own directory under `workDir`, its timeout, its GPUs. */
export function runSpecFor(
  task: CommandRunTask,
  settings: {
    workDir: string;
    baseEnv: Readonly<Record<string, string | undefined>>;
    killGraceMs: number;
    tailBytes: number;
  },
): TaskRunSpec {
  const timeoutSeconds = task.timeoutSeconds ?? task.task.timeoutSeconds;
  const dir = `${task.jobId}-${task.taskIndex}-${task.attempt}`.replace(/[^A-Za-z0-9._-]/g, '_');
  return {
    command: task.task.command,
    args: task.task.args,
    env: taskEnvironment(settings.baseEnv, task.task.env, task),
    cwd: join(settings.workDir, dir),
    ...(timeoutSeconds !== undefined ? { timeoutMs: timeoutSeconds * 1000 } : {}),
    killGraceMs: settings.killGraceMs,
    tailBytes: settings.tailBytes,
  };
}

/** Signal a whole process group, falling back to the child alone; a gone process is not an error. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
    else child.kill(signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // Already gone.
    }
  }
}

/** Whether any process of the group is still there (zombies included). */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Wait until the group is empty, SIGKILLing it at `killAt` (performance.now ms) if it is not. */
async function reapGroup(pgid: number, killAt: number): Promise<void> {
  while (groupAlive(pgid)) {
    const left = killAt - performance.now();
    if (left <= 0) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
      return;
    }
    // The group's other members are not our children: there is no event for their exit to wait on.
    await new Promise((resolve) => setTimeout(resolve, Math.min(left, 20)));
  }
}

const OUTCOME_BY_STOP: Readonly<Record<StopReason, TaskOutcome>> = {
  cancel: 'cancelled',
  drain: 'handed-back',
  timeout: 'failed',
};

export async function startTask(spec: TaskRunSpec, now: () => number = Date.now): Promise<RunningTask> {
  const stdout = new OutputTail(spec.tailBytes);
  const stderr = new OutputTail(spec.tailBytes);
  const output = (): OutputTailMessage => ({
    stdout: stdout.text(),
    stderr: stderr.text(),
    truncated: stdout.truncated || stderr.truncated,
  });
  const startedAt = now();
  const notStarted = (message: string): RunningTask => {
    const result: TaskResult = {
      outcome: 'failed',
      reason: 'spawn-error',
      durationMs: 0,
      message,
      output: output(),
    };
    return { pid: undefined, done: Promise.resolve(result), stop: () => {} };
  };
  let child: ChildProcess;
  try {
    await mkdir(spec.cwd, { recursive: true });
  } catch (error) {
    return notStarted(`cannot create working directory ${spec.cwd}: ${(error as Error).message}`);
  }
  try {
    child = spawn(spec.command, [...spec.args], {
      cwd: spec.cwd,
      env: spec.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
  } catch (error) {
    // Bad arguments (a NUL byte in an env value) throw here instead of emitting 'error'.
    return notStarted(`cannot start ${spec.command}: ${(error as Error).message}`);
  }
  child.stdout?.on('data', (c: Buffer) => stdout.push(c));
  child.stderr?.on('data', (c: Buffer) => stderr.push(c));

  let stopReason: StopReason | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  /** When the group was sent SIGTERM (performance.now ms): SIGKILL follows a grace later. */
  let termSentAt: number | undefined;
  const stop = (reason: StopReason) => {
    // Once the leader has exited its group is being reaped: a late cancel changes nothing.
    if (stopReason || child.exitCode !== null || child.signalCode !== null) return;
    stopReason = reason;
    termSentAt = performance.now();
    signalGroup(child, 'SIGTERM');
    killTimer = setTimeout(() => signalGroup(child, 'SIGKILL'), spec.killGraceMs);
  };
  const timeoutTimer =
    spec.timeoutMs === undefined ? undefined : setLongTimeout(() => stop('timeout'), spec.timeoutMs);

  const done = new Promise<TaskResult>((resolve) => {
    let settled = false;
    const finish = (result: Omit<TaskResult, 'output' | 'durationMs'>) => {
      if (settled) return;
      settled = true;
      timeoutTimer?.clear();
      clearTimeout(killTimer);
      resolve({ ...result, durationMs: Math.max(0, now() - startedAt), output: output() });
      // A process that left the group (setsid) may still hold the pipes: close our ends, or they leak.
      child.stdout?.destroy();
      child.stderr?.destroy();
    };
    child.once('error', (error) =>
      finish({
        outcome: 'failed',
        reason: 'spawn-error',
        message: `cannot start ${spec.command}: ${error.message}`,
      }),
    );
    child.once('exit', (code, signal) => {
      const outcome = classifyExit(code, signal, stopReason, spec.timeoutMs);
      // What the leader left in its group ends too: SIGTERM now (unless a stop sent it), SIGKILL once the
      // grace since that SIGTERM has passed. Ending it also frees the pipes it may hold.
      const pgid = child.pid as number;
      let reaped = Promise.resolve();
      if (groupAlive(pgid)) {
        if (termSentAt === undefined) {
          termSentAt = performance.now();
          signalGroup(child, 'SIGTERM');
        }
        reaped = reapGroup(pgid, termSentAt + spec.killGraceMs);
      }
      // Wait for the pipes to drain so the tail is complete, but not forever: a grandchild may hold them.
      const drained = new Promise<void>((resolve) => {
        const drainTimer = setTimeout(resolve, 2000);
        child.once('close', () => {
          clearTimeout(drainTimer);
          resolve();
        });
      });
      void Promise.all([reaped, drained]).then(() => finish(outcome));
    });
  });
  return { pid: child.pid, done, stop };
}

function classifyExit(
  code: number | null,
  signal: NodeJS.Signals | null,
  stopReason: StopReason | undefined,
  timeoutMs: number | undefined,
): Omit<TaskResult, 'output' | 'durationMs'> {
  const how = { ...(code !== null ? { exitCode: code } : {}), ...(signal ? { signal } : {}) };
  if (stopReason === 'timeout')
    return { outcome: 'failed', reason: 'timeout', message: `timed out after ${timeoutMs} ms`, ...how };
  if (stopReason) return { outcome: OUTCOME_BY_STOP[stopReason], reason: stopReason, ...how };
  if (signal) return { outcome: 'failed', reason: 'signal', message: `killed by ${signal}`, ...how };
  if (code === 0) return { outcome: 'succeeded', reason: 'exit', ...how };
  return { outcome: 'failed', reason: 'exit', message: `exited with code ${code}`, ...how };
}
