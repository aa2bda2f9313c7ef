import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../../../agent/agent.ts';
import type { Logger } from '../../../agent/log.ts';
import type { ModelHost } from '../../../agent/model-host.ts';
import { Reporter } from '../../../agent/reporter.ts';
import type { ServingHost } from '../../../agent/serving-host.ts';
import type { Resources } from '../../../lib/core/model/resources.ts';
import { FakeReportSink, FakeWorkQueue } from './fakes.ts';

export const quiet: Logger = { log: () => {} };

export interface TestAgentOptions {
  readonly sink?: FakeReportSink;
  readonly instanceType?: string;
  /** @default 4 vCPU, 8 GiB, no GPU; GPUs are declared as A10Gs. */
  readonly capacity?: Resources;
  readonly killGraceMs?: number;
  readonly drainGraceMs?: number;
  readonly heartbeatMs?: number;
  readonly visibilitySeconds?: number;
  readonly tailBytes?: number;
  readonly baseEnv?: NodeJS.ProcessEnv;
  readonly modelHost?: ModelHost;
  readonly servingHost?: ServingHost;
}

/** Agents started by startTestAgent, for the test file's afterEach to drain (drainTestAgents). */
const started: Agent[] = [];

/**
 * An agent on a fake work queue and report sink, running in a fresh work directory, with settings a
 * test can wait on (fast report retries, no heartbeat unless asked).
 */
export async function startTestAgent(o: TestAgentOptions = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'agent-'));
  const queue = new FakeWorkQueue();
  const sink = o.sink ?? new FakeReportSink();
  const capacity = o.capacity ?? { vcpu: 4, memoryMiB: 8192, gpus: 0 };
  const reporter = new Reporter(
    sink,
    {
      instanceId: 'i-test',
      instanceType: o.instanceType ?? 'c7i.large',
      agentVersion: '0.0.0',
      bootId: 'boot-1',
    },
    Date.now,
    quiet,
    { baseDelayMs: 1 },
  );
  const agent = new Agent({
    queue,
    reporter,
    logger: quiet,
    ...(o.modelHost ? { modelHost: o.modelHost } : {}),
    ...(o.servingHost ? { servingHost: o.servingHost } : {}),
    capacity: {
      capacity,
      gpus: Array.from({ length: capacity.gpus }, (_, index) => ({ index, name: 'A10G' })),
      gpuSource: 'declared',
    },
    settings: {
      visibilitySeconds: o.visibilitySeconds ?? 30,
      pollWaitSeconds: 1,
      heartbeatMs: o.heartbeatMs ?? 60_000,
      killGraceMs: o.killGraceMs ?? 500,
      drainGraceMs: o.drainGraceMs ?? 30_000,
      tailBytes: o.tailBytes ?? 1024,
      rememberCompleted: 100,
      workDir: join(dir, 'work'),
      baseEnv: o.baseEnv ?? { PATH: process.env.PATH },
    },
  });
  started.push(agent);
  await agent.run();
  return { agent, queue, sink, dir };
}

/** Drains every agent startTestAgent started (for afterEach). */
export async function drainTestAgents(): Promise<void> {
  await Promise.all(started.splice(0).map((a) => a.drain({ reason: 'test over', graceMs: 0 })));
}
