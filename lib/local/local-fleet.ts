import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findInstanceType } from '../core/model/catalog.ts';
import type { CloudInstance, FleetProvider, Logger } from '../core/ports.ts';
import { OWN_GROUP, ownChild } from './children.ts';

const AGENT_MAIN = fileURLToPath(new URL('../../agent/main.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface LocalFleetOptions {
  /** EC2's view of the fleet: the instances the local fleet should be running agents for. */
  readonly fleet: Pick<FleetProvider, 'list'>;
  /** The instance's own queue, once the scheduler has created it; undefined means "not yet". */
  readonly queueUrlFor: (instanceId: string) => Promise<string | undefined>;
  readonly reportsQueueUrl: string;
  /** Environment for agents: the emulator endpoint and credentials. */
  readonly env: NodeJS.ProcessEnv;
  /** Simulated boot: how long after EC2 reports an instance its agent starts. @default 10% of the type's boot time, at most 3 s */
  readonly bootMs?: (instance: CloudInstance) => number;
  /** Where agents keep task working directories. */
  readonly workRoot: string;
  /** @default 500 */
  readonly pollMs?: number;
  /** Extra agent settings, e.g. `{ TETRAFLEET_HEARTBEAT_SECONDS: '2' }`. */
  readonly agentEnv?: Readonly<Record<string, string>>;
  readonly log?: Logger;
}

interface AgentHandle {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  output: string;
}

/**
 * Stands in for EC2 booting instances: for every instance of the stack's fleet that EC2 reports as
 * pending or running, it starts the real agent as a process (after a simulated boot), with the instance's
 * id, type, capacity and queue; when EC2 stops listing an instance (terminated), it kills that agent the
 * way a termination would.
 */
export class LocalFleet {
  private readonly agents = new Map<string, AgentHandle>();
  private readonly seenAt = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: LocalFleetOptions) {}

  start(): void {
    this.timer = setInterval(() => {
      this.ticking = this.ticking
        .then(() => this.tick())
        .catch((error: unknown) => {
          this.options.log?.warn('local fleet tick failed', { error: String(error) });
        });
    }, this.options.pollMs ?? 500);
  }

  /** Instance ids that have a live agent. */
  running(): string[] {
    return [...this.agents.keys()];
  }

  /** The agent's output so far (for diagnostics). */
  output(instanceId: string): string {
    return this.agents.get(instanceId)?.output ?? '';
  }

  /** Sends a signal to one agent, e.g. SIGKILL to simulate a crash. */
  signal(instanceId: string, signal: NodeJS.Signals): boolean {
    return this.agents.get(instanceId)?.child.kill(signal) ?? false;
  }

  /** One reconciliation pass; exposed so tests and the demo can drive it without waiting. */
  async tick(): Promise<void> {
    if (this.stopped) return;
    const listed = (await this.options.fleet.list()).filter(
      (i) => i.state === 'pending' || i.state === 'running',
    );
    const live = new Set(listed.map((i) => i.id));
    for (const id of this.agents.keys()) if (!live.has(id)) await this.kill(id, 'SIGKILL');
    const now = Date.now();
    for (const instance of listed) {
      if (this.agents.has(instance.id)) continue;
      const first = this.seenAt.get(instance.id) ?? now;
      this.seenAt.set(instance.id, first);
      if (now - first < this.bootMs(instance)) continue;
      const queueUrl = await this.options.queueUrlFor(instance.id);
      if (queueUrl) this.launch(instance, queueUrl);
    }
  }

  private bootMs(instance: CloudInstance): number {
    if (this.options.bootMs) return this.options.bootMs(instance);
    const type = findInstanceType(instance.type);
    return Math.min(3000, (type?.bootSeconds ?? 60) * 100);
  }

  private launch(instance: CloudInstance, queueUrl: string): void {
    const type = findInstanceType(instance.type);
    const workDir = join(this.options.workRoot, instance.id);
    mkdirSync(workDir, { recursive: true });
    const child = spawn(process.execPath, ['--import', 'tsx', AGENT_MAIN], {
      ...OWN_GROUP,
      cwd: REPO_ROOT,
      env: {
        ...this.options.env,
        TETRAFLEET_MODE: 'local',
        TETRAFLEET_INSTANCE_ID: instance.id,
        TETRAFLEET_INSTANCE_TYPE: instance.type,
        TETRAFLEET_QUEUE_URL: queueUrl,
        TETRAFLEET_REPORTS_QUEUE_URL: this.options.reportsQueueUrl,
        TETRAFLEET_VCPU: String(type?.vcpu ?? 2),
        TETRAFLEET_MEMORY_MIB: String(type?.memoryMiB ?? 4096),
        TETRAFLEET_GPUS: String(type?.gpus ?? 0),
        TETRAFLEET_WORK_DIR: workDir,
        ...this.options.agentEnv,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    ownChild(child);
    const handle: AgentHandle = {
      child,
      output: '',
      exited: new Promise((resolve) => child.once('exit', () => resolve())),
    };
    const append = (chunk: Buffer) => {
      handle.output = (handle.output + chunk.toString()).slice(-64_000);
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    void handle.exited.then(() => {
      // An agent that died by itself (crash, SIGKILL) stays dead, as on a real instance.
      this.options.log?.info('agent exited', {
        instanceId: instance.id,
        code: child.exitCode,
        signal: child.signalCode,
      });
    });
    this.agents.set(instance.id, handle);
    this.options.log?.info('agent started', { instanceId: instance.id, type: instance.type });
  }

  private async kill(instanceId: string, signal: NodeJS.Signals, graceMs = 5000): Promise<void> {
    const handle = this.agents.get(instanceId);
    if (!handle) return;
    this.agents.delete(instanceId);
    if (handle.child.exitCode === null && handle.child.signalCode === null) {
      handle.child.kill(signal);
      const timer = setTimeout(() => handle.child.kill('SIGKILL'), graceMs);
      await handle.exited;
      clearTimeout(timer);
    }
  }

  /** Stops every agent: SIGTERM (drain) first, SIGKILL after `graceMs`. Leaves no process behind. */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.ticking;
    await Promise.all([...this.agents.keys()].map((id) => this.kill(id, 'SIGTERM', graceMs)));
  }
}
