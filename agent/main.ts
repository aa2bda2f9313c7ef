import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { join } from 'node:path';
import { SQSClient } from '@aws-sdk/client-sqs';
import { awsClientConfig } from '../lib/aws/client-config.ts';
import { SqsReportSink, SqsWorkQueue } from '../lib/aws/sqs-work-queue.ts';
import { ValidationError } from '../lib/core/errors.ts';
import pkg from '../package.json' with { type: 'json' };
import { Agent } from './agent.ts';
import { detectCapacity, nvidiaSmiRunner } from './capacity.ts';
import { type AgentConfig, readAgentConfig } from './config.ts';
import { drainOnSignals, spotGraceMs, watchSpotInterruption } from './drain.ts';
import { ImdsClient, type InstanceIdentity, resolveIdentity } from './identity.ts';
import { errorText, jsonLogger, type Logger } from './log.ts';
import { modelServerHost } from './model-host.ts';
import { Reporter } from './reporter.ts';
import { dynamoServingDirectory } from './serving-directory.ts';
import { servingHost } from './serving-host.ts';
import { agentTaskEnv } from './task-env.ts';

/**
 * The agent program: `node --import tsx agent/main.ts [--flag value ...]`. On EC2 user data starts it;
 * in local mode the local fleet does. It wires adapters to the Agent and does nothing else. Exit codes:
 * 0 after a drain, 2 for bad configuration, 1 for a failed start.
 */

const logger = jsonLogger();

function loadConfig(): AgentConfig {
  try {
    return readAgentConfig(process.env, process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    process.stderr.write(`tetrafleet agent: ${error.message}\n`);
    process.exit(2);
  }
}

/** IMDS can lag at boot; a few spaced tries beat failing the instance. */
async function identityWithRetries(
  config: AgentConfig,
  imds: ImdsClient | undefined,
): Promise<InstanceIdentity> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await resolveIdentity(config, imds);
    } catch (error) {
      if (attempt >= 5) throw error;
      logger.log('warn', 'instance identity not available yet', { attempt, error: errorText(error) });
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
}

/**
 * The address serving endpoints advertise: they must be reachable from other instances, so the private
 * IP, not the wildcard. Without it from IMDS, the first non-internal IPv4 address of this host.
 */
async function privateAddress(imds: ImdsClient, log: Logger): Promise<string> {
  try {
    return await imds.privateIp();
  } catch (error) {
    const own = Object.values(os.networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    log.log('warn', 'no private address from instance metadata', { error: errorText(error), using: own });
    return own ?? '127.0.0.1';
  }
}

/** Tasks see the agent's environment without the agent's own settings. */
function baseTaskEnv(env: NodeJS.ProcessEnv): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith('TETRAFLEET_')));
}

async function main(log: Logger): Promise<void> {
  const config = loadConfig();
  const imds = config.mode === 'ec2' ? new ImdsClient(config.imdsUrl, config.imdsTimeoutMs) : undefined;
  const identity = await identityWithRetries(config, imds);
  const capacity = await detectCapacity({
    declared: { vcpu: config.vcpu, memoryMiB: config.memoryMiB, gpus: config.gpus },
    instanceType: identity.instanceType,
    runNvidiaSmi: nvidiaSmiRunner(config.nvidiaSmi),
  });
  log.log('info', 'agent starting', {
    ...identity,
    capacity: capacity.capacity,
    gpuSource: capacity.gpuSource,
  });

  const advertiseHost = config.advertiseHost ?? (imds ? await privateAddress(imds, log) : '127.0.0.1');
  const sqs = new SQSClient(awsClientConfig());
  const sink = new SqsReportSink(sqs, config.reportsQueueUrl);
  const reporter = new Reporter(
    sink,
    { ...identity, agentVersion: pkg.version, bootId: randomUUID(), queueUrl: config.queueUrl },
    Date.now,
    log,
  );
  const agent = new Agent({
    queue: new SqsWorkQueue(sqs, config.queueUrl),
    reporter,
    logger: log,
    capacity,
    modelHost: modelServerHost({ reportSink: sink, instanceId: identity.instanceId, logger: log }),
    servingHost: servingHost({
      reportSink: sink,
      instanceId: identity.instanceId,
      advertiseHost,
      logger: log,
      directory: dynamoServingDirectory(config.controlTable),
    }),
    settings: {
      visibilitySeconds: config.visibilitySeconds,
      pollWaitSeconds: config.pollWaitSeconds,
      heartbeatMs: config.heartbeatSeconds * 1000,
      killGraceMs: config.killGraceSeconds * 1000,
      drainGraceMs: config.drainGraceSeconds * 1000,
      tailBytes: config.outputTailBytes,
      rememberCompleted: config.rememberCompleted,
      workDir: config.workDir ?? join(os.tmpdir(), 'tetrafleet-agent', identity.instanceId),
      baseEnv: {
        ...baseTaskEnv(process.env),
        ...agentTaskEnv({
          instanceType: identity.instanceType,
          ...(config.profileCli ? { profileCli: config.profileCli } : {}),
        }),
      },
    },
  });

  const removeSignalHandlers = drainOnSignals((request) => void agent.drain(request));
  const stopWatching = new AbortController();
  if (imds) {
    void watchSpotInterruption({
      check: () => imds.spotInterruption(),
      intervalMs: config.spotPollSeconds * 1000,
      signal: stopWatching.signal,
      logger: log,
      onNotice: (notice) =>
        void agent.drain({
          reason: `spot ${notice.action}`,
          graceMs: spotGraceMs(notice, Date.now(), config.drainGraceSeconds * 1000),
          // The control plane requeues this instance's work on the same warning (EventBridge), so serving
          // tasks serve on while their replacements boot.
          serveThroughGrace: true,
        }),
    });
  }

  await agent.run();
  log.log('info', 'agent ready', { queueUrl: config.queueUrl });
  await agent.drained;
  stopWatching.abort();
  removeSignalHandlers();
  sqs.destroy();
  if (agent.drainError) throw agent.drainError;
}

main(logger).then(
  () => process.exit(0),
  (error: unknown) => {
    logger.log('error', 'agent failed', { error: errorText(error) });
    process.exit(1);
  },
);
