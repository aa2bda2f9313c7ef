import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlp, modelTempDir, writeModel } from '../../lib/onnx/index.ts';
import { startAgentProcess } from '../support/agent-process.ts';
import { emulatorEnv, resetEmulator, testAwsConfig } from '../support/emulator.ts';

type Report = Record<string, unknown> & { kind: string };

describe('agent serving a model against the emulator', () => {
  const sqs = new SQSClient(testAwsConfig());
  beforeAll(resetEmulator);
  afterAll(() => sqs.destroy());

  async function createQueue(prefix: string): Promise<string> {
    const out = await sqs.send(
      new CreateQueueCommand({ QueueName: `${prefix}-${randomUUID().slice(0, 8)}` }),
    );
    return out.QueueUrl ?? '';
  }

  async function nextReport(url: string, predicate: (r: Report) => boolean, seen: Report[]): Promise<Report> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const found = seen.find(predicate);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no matching report; got ${JSON.stringify(seen)}`);
      const out = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      for (const m of out.Messages ?? []) {
        seen.push(JSON.parse(m.Body ?? '{}') as Report);
        await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
      }
    }
  }

  it('starts a model server on ServeModel, reports its latency, and stops it on drain', async () => {
    const models = await modelTempDir();
    const modelPath = await writeModel(
      join(models.dir, 'mlp.onnx'),
      buildMlp({ inputSize: 4, hiddenSizes: [8], outputSize: 2 }).bytes,
    );
    const queueUrl = await createQueue('agent-serve');
    const reportsUrl = await createQueue('reports-serve');
    const agent = startAgentProcess({
      env: {
        ...emulatorEnv(),
        TETRAFLEET_MODE: 'local',
        TETRAFLEET_INSTANCE_ID: 'i-serve',
        TETRAFLEET_QUEUE_URL: queueUrl,
        TETRAFLEET_REPORTS_QUEUE_URL: reportsUrl,
        TETRAFLEET_POLL_WAIT_SECONDS: '1',
        TETRAFLEET_GPUS: '0',
      },
    });
    const seen: Report[] = [];
    try {
      await nextReport(reportsUrl, (r) => r.kind === 'Heartbeat', seen);
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: JSON.stringify({
            version: 1,
            kind: 'ServeModel',
            modelId: 'mlp',
            model: { uri: modelPath },
            reportIntervalSeconds: 1,
            executionProvider: 'cpu',
          }),
        }),
      );
      await agent.waitForOutput(/"msg":"serving model"/);
      const line =
        agent
          .output()
          .split('\n')
          .find((l) => l.includes('"msg":"serving model"')) ?? '{}';
      const { url } = JSON.parse(line) as { url: string };
      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(200);
      const report = await nextReport(reportsUrl, (r) => r.kind === 'LatencyReport', seen);
      expect(report).toMatchObject({ modelId: 'mlp', instanceId: 'i-serve', provider: 'cpu' });

      const exit = await agent.stop('SIGTERM');
      expect(exit.code).toBe(0);
      await nextReport(reportsUrl, (r) => r.kind === 'Heartbeat' && r.state === 'DRAINED', seen);
      await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    } finally {
      await agent.stop('SIGKILL');
      await models.cleanup();
    }
  });
});
