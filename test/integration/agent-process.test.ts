import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunTaskInput } from '../../lib/core/protocol/tasks.ts';
import { type AgentProcess, startAgentProcess } from '../support/agent-process.ts';
import { emulatorEnv, resetEmulator, testAwsConfig } from '../support/emulator.ts';

type Report = Record<string, unknown> & { kind: string };

const sqs = new SQSClient(testAwsConfig());

async function createQueue(prefix: string): Promise<string> {
  const out = await sqs.send(new CreateQueueCommand({ QueueName: `${prefix}-${randomUUID().slice(0, 8)}` }));
  return out.QueueUrl ?? '';
}

/** Reads the reports queue into memory; `until` waits for a report matching a predicate. */
class Reports {
  readonly all: Report[] = [];
  constructor(readonly url: string) {}

  async until(predicate: (r: Report) => boolean, what: string, timeoutMs = 60_000): Promise<Report> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.all.find(predicate);
      if (found) return found;
      if (Date.now() > deadline)
        throw new Error(`no report ${what}; got ${JSON.stringify(this.all, null, 1)}`);
      const out = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: this.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      for (const m of out.Messages ?? []) {
        this.all.push(JSON.parse(m.Body ?? '{}') as Report);
        await sqs.send(new DeleteMessageCommand({ QueueUrl: this.url, ReceiptHandle: m.ReceiptHandle }));
      }
    }
  }

  events(jobId: string): Report[] {
    return this.all.filter((r) => r.kind === 'TaskEvent' && r.jobId === jobId);
  }
}

async function messagesLeft(url: string): Promise<number> {
  const out = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(out.Attributes?.ApproximateNumberOfMessages) +
    Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible)
  );
}

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function runTask(jobId: string, script: string, overrides: Partial<RunTaskInput> = {}): string {
  const message: RunTaskInput = {
    version: 1,
    kind: 'RunTask',
    jobId,
    attempt: 1,
    task: { kind: 'command', command: process.execPath, args: ['-e', script] },
    resources: { vcpu: 1, memoryMiB: 128, gpus: 0 },
    ...overrides,
  };
  return JSON.stringify(message);
}

/** Appends a line to `log`, then waits for `go` to exist. */
function blockingScript(log: string, go: string): string {
  return `const fs=require('fs');fs.appendFileSync(${JSON.stringify(log)},'ran\\n');setInterval(()=>{if(fs.existsSync(${JSON.stringify(go)}))process.exit(0)},50)`;
}

interface Harness {
  agent: AgentProcess;
  queueUrl: string;
  reports: Reports;
  dir: string;
  send(body: string): Promise<void>;
}

async function startAgent(name: string, extraEnv: Record<string, string> = {}): Promise<Harness> {
  const queueUrl = await createQueue(`agent-${name}`);
  const reports = new Reports(await createQueue(`reports-${name}`));
  const dir = await mkdtemp(join(tmpdir(), `agent-${name}-`));
  const agent = startAgentProcess({
    env: {
      ...emulatorEnv(),
      TETRAFLEET_MODE: 'local',
      TETRAFLEET_INSTANCE_ID: `i-${name}`,
      TETRAFLEET_INSTANCE_TYPE: 'g5.12xlarge',
      TETRAFLEET_QUEUE_URL: queueUrl,
      TETRAFLEET_REPORTS_QUEUE_URL: reports.url,
      TETRAFLEET_VCPU: '8',
      TETRAFLEET_MEMORY_MIB: '8192',
      TETRAFLEET_GPUS: '4',
      TETRAFLEET_POLL_WAIT_SECONDS: '1',
      TETRAFLEET_VISIBILITY_SECONDS: '30',
      TETRAFLEET_KILL_GRACE_SECONDS: '1',
      TETRAFLEET_WORK_DIR: join(dir, 'work'),
      ...extraEnv,
    },
  });
  await reports.until((r) => r.kind === 'Heartbeat' && r.seq === 0, 'announcement');
  const send = async (body: string) => {
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
  };
  return { agent, queueUrl, reports, dir, send };
}

describe('agent process against the emulator', () => {
  let h: Harness;
  beforeAll(async () => {
    await resetEmulator();
    h = await startAgent('main');
  });
  afterAll(async () => {
    await h?.agent.stop('SIGTERM');
  });

  it('announces its instance id, type, declared capacity and versions', async () => {
    const hello = await h.reports.until((r) => r.kind === 'Heartbeat' && r.seq === 0, 'announcement');
    expect(hello).toMatchObject({
      instanceId: 'i-main',
      instanceType: 'g5.12xlarge',
      state: 'RUNNING',
      capacity: { vcpu: 8, memoryMiB: 8192, gpus: 4 },
      protocolVersion: 1,
      queueUrl: h.queueUrl,
    });
  });

  it('gives the task exactly the CUDA_VISIBLE_DEVICES of its placement', async () => {
    await h.send(
      runTask('gpu-job', "console.log('gpus=' + process.env.CUDA_VISIBLE_DEVICES)", {
        resources: { vcpu: 1, memoryMiB: 128, gpus: 2 },
        gpuIndices: [1, 3],
      }),
    );
    const done = await h.reports.until(
      (r) => r.jobId === 'gpu-job' && r.event === 'succeeded',
      'gpu-job succeeded',
    );
    expect((done.output as { stdout: string }).stdout).toBe('gpus=1,3\n');
  });

  it('runs a RunTask delivered twice once and deletes both messages', async () => {
    const log = join(h.dir, 'dup.log');
    const go = join(h.dir, 'dup.go');
    const body = runTask('dup-job', blockingScript(log, go));
    await h.send(body);
    await h.send(body);
    await h.reports.until((r) => r.jobId === 'dup-job' && r.event === 'started', 'dup-job started');
    await h.agent.waitForOutput(/duplicate delivery joins the running task/);
    await writeFile(go, '');
    await h.reports.until((r) => r.jobId === 'dup-job' && r.event === 'succeeded', 'dup-job succeeded');
    await eventually(async () => (await messagesLeft(h.queueUrl)) === 0, 'both messages deleted');
    expect((await readFile(log, 'utf8')).split('\n').filter(Boolean)).toEqual(['ran']);
    expect(h.reports.events('dup-job').filter((e) => e.event === 'started')).toHaveLength(1);
  });

  it('stops a running task on CancelTask and reports it cancelled', async () => {
    const body = runTask('cancel-job', blockingScript(join(h.dir, 'cancel.log'), join(h.dir, 'never')));
    await h.send(body);
    await h.reports.until((r) => r.jobId === 'cancel-job' && r.event === 'started', 'cancel-job started');
    await h.send(JSON.stringify({ version: 1, kind: 'CancelTask', jobId: 'cancel-job', reason: 'user' }));
    const cancelled = await h.reports.until(
      (r) => r.jobId === 'cancel-job' && r.event === 'cancelled',
      'cancel-job cancelled',
    );
    expect(cancelled).toMatchObject({ signal: 'SIGTERM', reason: 'cancel', instanceId: 'i-main' });
    await eventually(async () => (await messagesLeft(h.queueUrl)) === 0, 'messages deleted');
  });

  it('reports the exit code and output tail of a failing command', async () => {
    await h.send(
      runTask('fail-job', "console.log('step 1 ok'); console.error('step 2: no such file'); process.exit(3)"),
    );
    const failed = await h.reports.until(
      (r) => r.jobId === 'fail-job' && r.event === 'failed',
      'fail-job failed',
    );
    expect(failed).toMatchObject({
      exitCode: 3,
      reason: 'exit',
      output: { stdout: 'step 1 ok\n', stderr: 'step 2: no such file\n' },
    });
    expect(failed.durationMs).toBeGreaterThan(0);
  });

  it('SIGKILLs a timed-out task that ignores SIGTERM and reports the signal', async () => {
    await h.send(
      runTask(
        'stubborn-job',
        "process.on('SIGTERM', () => console.log('not stopping')); setInterval(() => {}, 1000)",
        {
          timeoutSeconds: 3,
        },
      ),
    );
    const failed = await h.reports.until(
      (r) => r.jobId === 'stubborn-job' && r.event !== 'started',
      'stubborn-job ended',
    );
    expect(failed).toMatchObject({ event: 'failed', reason: 'timeout', signal: 'SIGKILL' });
    expect((failed.output as { stdout: string }).stdout).toContain('not stopping');
  });
});

describe('agent drain against the emulator', () => {
  beforeAll(resetEmulator);

  it('hands back unfinished work on SIGTERM, reports DRAINED and exits 0', async () => {
    const h = await startAgent('drain', { TETRAFLEET_DRAIN_GRACE_SECONDS: '1' });
    const body = runTask('long-job', blockingScript(join(h.dir, 'long.log'), join(h.dir, 'never')));
    await h.send(body);
    await h.reports.until((r) => r.jobId === 'long-job' && r.event === 'started', 'long-job started');
    const exit = await h.agent.stop('SIGTERM');
    expect(exit.code).toBe(0);
    const handedBack = await h.reports.until(
      (r) => r.jobId === 'long-job' && r.event === 'handed-back',
      'long-job handed back',
    );
    expect(handedBack).toMatchObject({ reason: 'drain', instanceId: 'i-drain' });
    await h.reports.until((r) => r.kind === 'Heartbeat' && r.state === 'DRAINED', 'DRAINED heartbeat');
    // Visible again at once (visibility 0), long before the 30 s timeout the agent received it with.
    const again = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: h.queueUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 2 }),
    );
    expect(again.Messages?.[0]?.Body).toBe(body);
  });

  it('drains on a Drain message and deletes it', async () => {
    const h = await startAgent('drain-msg');
    await h.send(JSON.stringify({ version: 1, kind: 'Drain', reason: 'scale-in' }));
    expect((await h.agent.exited).code).toBe(0);
    await h.reports.until((r) => r.kind === 'Heartbeat' && r.state === 'DRAINED', 'DRAINED heartbeat');
    expect(await messagesLeft(h.queueUrl)).toBe(0);
  });
});

/** A fake IMDSv2 whose answers the test can change (e.g. to post a spot notice). */
async function fakeImds(paths: Record<string, string>): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    if (req.method === 'PUT' && req.url === '/latest/api/token') return void res.writeHead(200).end('tok');
    if (req.headers['x-aws-ec2-metadata-token'] !== 'tok') return void res.writeHead(401).end();
    const body = paths[req.url ?? ''];
    if (body === undefined) res.writeHead(404).end();
    else res.writeHead(200).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('agent on EC2 against the emulator', () => {
  beforeAll(resetEmulator);

  it('reads its identity through IMDSv2 and drains on a spot interruption notice', async () => {
    const paths: Record<string, string> = {
      '/latest/meta-data/instance-id': 'i-0spot',
      '/latest/meta-data/instance-type': 'g5.xlarge',
    };
    const imds = await fakeImds(paths);
    try {
      const h = await startAgent('spot', {
        TETRAFLEET_MODE: 'ec2',
        TETRAFLEET_INSTANCE_ID: '',
        TETRAFLEET_INSTANCE_TYPE: '',
        TETRAFLEET_GPUS: '',
        TETRAFLEET_NVIDIA_SMI: '/nonexistent/nvidia-smi',
        TETRAFLEET_IMDS_URL: imds.url,
        TETRAFLEET_SPOT_POLL_SECONDS: '0.2',
        TETRAFLEET_DRAIN_GRACE_SECONDS: '1',
      });
      const hello = await h.reports.until((r) => r.kind === 'Heartbeat' && r.seq === 0, 'announcement');
      // No driver here, so the GPU count comes from the instance type's catalog entry.
      expect(hello).toMatchObject({
        instanceId: 'i-0spot',
        instanceType: 'g5.xlarge',
        capacity: { gpus: 1 },
      });

      await h.send(runTask('spot-job', blockingScript(join(h.dir, 'spot.log'), join(h.dir, 'never'))));
      await h.reports.until((r) => r.jobId === 'spot-job' && r.event === 'started', 'spot-job started');
      paths['/latest/meta-data/spot/instance-action'] = JSON.stringify({
        action: 'terminate',
        time: new Date(Date.now() + 120_000).toISOString(),
      });
      expect((await h.agent.exited).code).toBe(0);
      await h.reports.until(
        (r) => r.jobId === 'spot-job' && r.event === 'handed-back',
        'spot-job handed back',
      );
      await h.reports.until((r) => r.kind === 'Heartbeat' && r.state === 'DRAINED', 'DRAINED heartbeat');
      expect(h.agent.output()).toContain('spot interruption notice');
    } finally {
      imds.server.closeAllConnections();
      imds.server.close();
    }
  });
});

describe('agent configuration', () => {
  it('fails when the configuration is wrong, listing every bad variable in one message', async () => {
    const agent = startAgentProcess({
      env: {
        PATH: process.env.PATH,
        TETRAFLEET_MODE: 'local',
        TETRAFLEET_VCPU: 'lots',
        TETRAFLEET_POLL_WAIT_SECONDS: '60',
        TETRAFLEET_QUEUE_URL: 'not a url',
      },
    });
    const exit = await agent.exited;
    expect(exit.code).toBe(2);
    const message =
      agent
        .output()
        .split('\n')
        .find((l) => l.includes('invalid agent config')) ?? '';
    for (const name of [
      'TETRAFLEET_VCPU',
      'TETRAFLEET_POLL_WAIT_SECONDS',
      'TETRAFLEET_QUEUE_URL',
      'TETRAFLEET_REPORTS_QUEUE_URL',
      'TETRAFLEET_INSTANCE_ID',
    ])
      expect(message).toContain(name);
    expect(message).toContain('got "lots"');
  });
});

afterAll(() => sqs.destroy());
