import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { OWN_GROUP, ownChild } from './children.ts';

/**
 * The AWS emulator for tests and local mode. With `AWS_ENDPOINT_URL` set (LocalStack or a running moto)
 * that endpoint is used and nothing is started; otherwise `moto_server` is started on a free loopback
 * port and stopped with `stop()`.
 */
export interface Emulator {
  readonly endpoint: string;
  /** True when this process started the emulator (and so may reset and stop it). */
  readonly owned: boolean;
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export class EmulatorError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EmulatorError';
  }
}

export interface StartEmulatorOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Port to bind; a free one is picked by default. */
  readonly port?: number;
  readonly readyTimeoutMs?: number;
  readonly command?: string;
}

export async function startEmulator(options: StartEmulatorOptions = {}): Promise<Emulator> {
  const env = options.env ?? process.env;
  const external = env.AWS_ENDPOINT_URL;
  if (external) return externalEmulator(external);

  const command = options.command ?? 'moto_server';
  if (!commandExists(command, env)) {
    throw new EmulatorError(
      `${command} was not found on PATH: install moto 5.2.1 with its server extra, or set AWS_ENDPOINT_URL to a running emulator`,
    );
  }
  const port = options.port ?? (await freePort());
  const child = ownChild(
    spawn(command, ['-H', '127.0.0.1', '-p', String(port)], {
      ...OWN_GROUP,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...env, MOTO_ALLOW_NONEXISTENT_REGION: 'true' },
    }),
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const endpoint = `http://localhost:${port}`;
  try {
    await waitUntilReady(endpoint, child, options.readyTimeoutMs ?? 60_000, () => stderr);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    endpoint,
    owned: true,
    reset: () => resetMoto(endpoint),
    stop: () => stopChild(child),
  };
}

function externalEmulator(endpoint: string): Emulator {
  return {
    endpoint,
    owned: false,
    // A shared external emulator is not ours to wipe; suites isolate themselves by naming.
    reset: async () => {},
    stop: async () => {},
  };
}

/** Wipes all emulator state (moto's reset API). */
export async function resetMoto(endpoint: string): Promise<void> {
  const res = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
  if (!res.ok) throw new EmulatorError(`emulator reset failed with HTTP ${res.status}`);
}

function commandExists(command: string, env: NodeJS.ProcessEnv): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore', env }).status === 0;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitUntilReady(endpoint: string, child: ChildProcess, timeoutMs: number, log: () => string) {
  const deadline = performance.now() + timeoutMs;
  let exited: number | null = null;
  child.once('exit', (code) => {
    exited = code ?? -1;
  });
  // A spawn failure (e.g. the command vanished from PATH) arrives as 'error', not 'exit'.
  child.once('error', () => {
    exited = -1;
  });
  while (performance.now() < deadline) {
    if (exited !== null)
      throw new EmulatorError(`moto_server exited with code ${exited} before it was ready: ${log()}`);
    try {
      const res = await fetch(`${endpoint}/moto-api/`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new EmulatorError(`moto_server did not answer on ${endpoint} within ${timeoutMs} ms: ${log()}`);
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
