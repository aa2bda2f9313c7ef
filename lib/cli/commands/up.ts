import { accessSync, constants, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, dirname, join, resolve } from 'node:path';
import type { CycleConfigInput } from '../../core/control/cycle-config.ts';
import { type Emulator, startEmulator } from '../../local/emulator.ts';
import { LocalCloud } from '../../local/local-cloud.ts';
import { CliEnvironmentError, CliUsageError } from '../errors.ts';
import {
  answers,
  DEFAULT_STACK_NAME,
  DEFAULT_STATE_FILE,
  type LocalState,
  readLocalState,
} from '../source.ts';

export interface UpOptions {
  /** @default 'tetrafleet-local' */
  readonly stackName?: string;
  /** Emulator port; 0 picks a free one. Ignored when AWS_ENDPOINT_URL names an emulator. @default 4566 */
  readonly port?: number;
  /** @default '.tetrafleet/local.json' */
  readonly stateFile?: string;
  readonly instanceTypes?: readonly string[];
  readonly maxFleetSize?: number;
  readonly budgetPerHour?: number;
  /** Schedule-cycle settings (timeouts, solve budget). @default LocalCloud's */
  readonly cycle?: CycleConfigInput;
  /** Each step as the cloud comes up: emulator, synth, bootstrap, deploy, runtime. */
  readonly onProgress?: (step: string) => void;
  readonly env?: NodeJS.ProcessEnv;
}

export const DEFAULT_PORT = 4566;

/** A local cloud started by `up`, recorded in the state file until `stop()`. */
export interface RunningLocal {
  readonly cloud: LocalCloud;
  readonly state: LocalState;
  readonly stateFile: string;
  /** Stops the cloud (and the emulator `up` started) and removes the state file. */
  stop(): Promise<void>;
}

/**
 * Starts the emulator (unless AWS_ENDPOINT_URL names one), deploys the stack into it, runs the local
 * runtime, and records the endpoint and stack name in the state file so other commands find it.
 */
export async function startLocal(opts: UpOptions = {}): Promise<RunningLocal> {
  const env = opts.env ?? process.env;
  const stateFile = resolve(opts.stateFile ?? DEFAULT_STATE_FILE);
  refuseUnwritable(stateFile);
  await refuseSecondCloud(stateFile);
  if (!env.AWS_ENDPOINT_URL) opts.onProgress?.('emulator');
  const emulator = env.AWS_ENDPOINT_URL ? undefined : await ownEmulator(opts.port ?? DEFAULT_PORT, env);
  let cloud: LocalCloud;
  try {
    cloud = await LocalCloud.start({
      stackName: opts.stackName ?? DEFAULT_STACK_NAME,
      instanceTypes: opts.instanceTypes,
      maxFleetSize: opts.maxFleetSize,
      budgetPerHour: opts.budgetPerHour,
      cycle: opts.cycle,
      onProgress: (step) => {
        // The emulator step was reported above when this command starts the emulator itself.
        if (step !== 'emulator' || !emulator) opts.onProgress?.(step);
      },
      env: emulator ? { ...env, AWS_ENDPOINT_URL: emulator.endpoint } : env,
    });
  } catch (error) {
    await emulator?.stop();
    throw error;
  }
  const state: LocalState = {
    version: 1,
    endpoint: cloud.endpoint,
    stackName: cloud.stackName,
    pid: process.pid,
    startedAt: Date.now(),
  };
  try {
    mkdirSync(dirname(stateFile), { recursive: true });
    writeFileSync(stateFile, `${JSON.stringify(state, null, 2)}\n`);
  } catch (error) {
    // Without its record no other command finds the cloud: stop it rather than leave it running unseen.
    try {
      await cloud.stop();
    } finally {
      await emulator?.stop();
    }
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    const message = `cannot record the local cloud in ${stateFile}: ${code}; pass another --state-file`;
    throw new CliEnvironmentError(message, { cause: error });
  }
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      // Only remove the record if it is still ours (another `up` may have replaced a stale one).
      if (readLocalState(stateFile)?.pid === process.pid) rmSync(stateFile, { force: true });
      await cloud.stop();
      await emulator?.stop();
    })();
    return stopped;
  };
  return { cloud, state, stateFile, stop };
}

/**
 * A state file that could not be written (a directory, or a path under a file) is refused before a deploy
 * of a minute, rather than after it.
 */
function refuseUnwritable(stateFile: string): void {
  for (let at = stateFile; ; at = dirname(at)) {
    const kind = kindOf(at);
    if (kind === 'missing') {
      if (dirname(at) === at) return;
      continue;
    }
    if (at === stateFile && kind === 'directory')
      throw new CliUsageError(
        `--state-file ${stateFile} is a directory: name a file, e.g. ${join(stateFile, 'local.json')}`,
      );
    if (at !== stateFile && kind !== 'directory')
      throw new CliUsageError(`--state-file ${stateFile} cannot be written: ${at} is not a directory`);
    return;
  }
}

function kindOf(path: string): 'directory' | 'file' | 'missing' {
  try {
    return statSync(path).isDirectory() ? 'directory' : 'file';
  } catch {
    return 'missing';
  }
}

async function refuseSecondCloud(stateFile: string): Promise<void> {
  const existing = readLocalState(stateFile);
  if (existing && (await answers(existing.endpoint)) && processAlive(existing.pid))
    throw new CliEnvironmentError(
      `a local cloud is already running at ${existing.endpoint} (pid ${existing.pid}): use it, or stop it with Ctrl-C where it runs`,
    );
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function ownEmulator(port: number, env: NodeJS.ProcessEnv): Promise<Emulator> {
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new CliUsageError(`--port must be a whole number from 0 to 65535, got ${port}`);
  if (port !== 0 && !(await portFree(port)))
    throw new CliEnvironmentError(
      `port ${port} is already in use: stop what listens there, pick another with --port (0 for any free port), ` +
        `or set AWS_ENDPOINT_URL=http://localhost:${port} if it is an AWS emulator you want to use`,
    );
  if (!onPath('moto_server', env))
    throw new CliEnvironmentError(
      'moto_server was not found on PATH: install moto 5.2.1 with its server extra ' +
        "(pip install 'moto[server]==5.2.1'), or set AWS_ENDPOINT_URL to a running emulator",
    );
  try {
    return await startEmulator({ env, port: port === 0 ? undefined : port });
  } catch (error) {
    if (error instanceof Error && error.name === 'EmulatorError')
      throw new CliEnvironmentError(error.message, { cause: error });
    throw error;
  }
}

/** Whether `command` is an executable file on the PATH that the emulator would be started with. */
function onPath(command: string, env: NodeJS.ProcessEnv): boolean {
  return (env.PATH ?? '').split(delimiter).some((dir) => {
    if (!dir) return false;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** True when nothing listens on the loopback port (moto binds 127.0.0.1). */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Resolves when `signal` aborts (Ctrl-C): `up` keeps the cloud running until then. */
export function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
