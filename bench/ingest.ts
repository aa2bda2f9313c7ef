/**
 * Ingest backlog benchmark on the emulator: a fleet of RUNNING instances with dispatched tasks, and a
 * backlog of their agents' reports (heartbeats, task started / succeeded) waiting in the reports queue,
 * all sent in the past. The real ingest handler drains it in process, ten messages a batch as the SQS
 * event source delivers them, deleting what it processed and leaving its batchItemFailures for redelivery.
 * The schedule handler runs at 25%, 50% and 75% of the drain and at its end, when the heartbeats applied
 * are older than the heartbeat timeout: a live fleet must not be retired for the backlog.
 *
 *   npm run bench:ingest                  # full run; JSON on stdout and in bench/results/ingest.json
 *   npm run bench:ingest -- --quick       # smoke run: 10 instances, 50 jobs, 400 reports
 *   options: --instances N  --jobs N  --reports N  --heartbeat-seconds 30,5 (one backlog each)  --seed N
 *            --no-write
 *
 * Throughput is the emulator's (moto, in Python), not DynamoDB's or SQS's.
 */
import { availableParallelism, cpus } from 'node:os';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { buildIngestHandler } from '../lambdas/ingest.ts';
import { type HandlerConfig, readHandlerConfig } from '../lambdas/shared/config.ts';
import { createAwsAdapters } from '../lib/aws/adapters.ts';
import { awsClientConfig } from '../lib/aws/client-config.ts';
import { type CycleConfig, parseCycleConfig } from '../lib/core/control/cycle-config.ts';
import type { Logger } from '../lib/core/ports.ts';
import { emulatorProcessEnv } from '../lib/local/deploy.ts';
import { startEmulator } from '../lib/local/emulator.ts';
import { handlerEnv } from '../test/support/stack-env.ts';
import { buildBacklog, enqueue, launchCloudInstances, seedFleet } from './ingest/backlog.ts';
import { creditCapS, outcome, type ScheduleStep, scheduleStep } from './ingest/checks.ts';
import { writeResultFile } from './results-file.ts';

interface Args {
  readonly quick: boolean;
  readonly write: boolean;
  readonly instances: number;
  readonly jobs: number;
  readonly reports: number;
  readonly heartbeatSeconds: number[];
  readonly seed: number;
}

const USAGE = `usage: npm run bench:ingest -- [--quick] [--no-write] [--instances N] [--jobs N] [--reports N]
       [--heartbeat-seconds S[,S...]] [--seed N]`;
const VALUED = ['--instances', '--jobs', '--reports', '--heartbeat-seconds', '--seed'];
const SWITCHES = ['--quick', '--no-write', '--help'];

/** Reads the flags, refusing unknown ones and numbers that are not whole and in range, naming the flag. */
function parseArgs(argv: readonly string[]): Args {
  const problems: string[] = [];
  const given = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    if (SWITCHES.includes(flag)) given.set(flag, '');
    else if (VALUED.includes(flag) && argv[i + 1] !== undefined) given.set(flag, argv[++i] as string);
    else problems.push(VALUED.includes(flag) ? `${flag} needs a value` : `unknown option ${flag}`);
  }
  if (given.has('--help')) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const whole = (flag: string, fallback: number, min: number, max: number) => {
    const raw = given.get(flag);
    const n = raw === undefined ? fallback : Number(raw);
    if (!Number.isInteger(n) || n < min || n > max)
      problems.push(`${flag} must be a whole number from ${min} to ${max}, got ${raw}`);
    return n;
  };
  const quick = given.has('--quick');
  const args: Args = {
    quick,
    write: !given.has('--no-write'),
    instances: whole('--instances', quick ? 10 : 20, 1, 1000),
    jobs: whole('--jobs', quick ? 50 : 200, 1, 100_000),
    reports: whole('--reports', quick ? 400 : 2000, 1, 1_000_000),
    heartbeatSeconds: (given.get('--heartbeat-seconds') ?? '30,5').split(',').map(Number),
    seed: whole('--seed', 1, 0, 2 ** 32 - 1),
  };
  for (const s of args.heartbeatSeconds)
    if (!Number.isInteger(s) || s < 1 || s > 3600)
      problems.push(
        `--heartbeat-seconds must list whole seconds from 1 to 3600, got ${given.get('--heartbeat-seconds')}`,
      );
  if (problems.length > 0) {
    process.stderr.write(`bench:ingest: ${[...new Set(problems)].join('; ')}\n${USAGE}\n`);
    process.exit(2);
  }
  return args;
}

const BATCH = 10;
const CHECKPOINTS = [0.25, 0.5, 0.75];
const log = (msg: string) => process.stderr.write(`[bench:ingest] ${msg}\n`);
const round = (x: number, digits = 1) => Number(x.toFixed(digits));
function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? Number.NaN;
}

/** Counts what ingest logs instead of printing it: which reports made no change, and why. */
function countingLogger() {
  const noChange: Record<string, number> = {};
  let warnings = 0;
  let errors = 0;
  const logger: Logger = {
    info(message, fields) {
      if (message !== 'ingest made no change') return;
      const key = `${String(fields?.kind)}:${String(fields?.outcome)}`;
      noChange[key] = (noChange[key] ?? 0) + 1;
    },
    warn() {
      warnings++;
    },
    error() {
      errors++;
    },
  };
  return { logger, summary: () => ({ noChange, warnings, errors }) };
}

const quiet: Logger = { info() {}, warn() {}, error() {} };

interface Drain {
  readonly applied: number;
  readonly batches: number;
  readonly retried: number;
  readonly drainMs: number;
  readonly batchMs: number[];
  readonly steps: ScheduleStep[];
}

/**
 * Receives, handles and deletes until the queue is empty. Drain time excludes the schedule steps, which
 * run between batches as a timer would fire while ingest works through the backlog.
 */
async function drain(
  sqs: SQSClient,
  queueUrl: string,
  total: number,
  ingest: (event: unknown) => Promise<{ batchItemFailures: { itemIdentifier: string }[] }>,
  step: (fraction: number, applied: number) => Promise<ScheduleStep>,
): Promise<Drain> {
  const batchMs: number[] = [];
  const steps: ScheduleStep[] = [];
  const pending = [...CHECKPOINTS];
  let applied = 0;
  let retried = 0;
  let empty = 0;
  let drainMs = 0;
  while (applied < total && empty < 10) {
    const t0 = performance.now();
    const got = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: BATCH,
        VisibilityTimeout: 5,
        WaitTimeSeconds: 1,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
    );
    const messages = got.Messages ?? [];
    if (messages.length === 0) {
      empty++;
      drainMs += performance.now() - t0;
      continue;
    }
    empty = 0;
    const records = messages.map((m) => ({
      messageId: m.MessageId as string,
      receiptHandle: m.ReceiptHandle as string,
      body: m.Body as string,
      attributes: { ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount },
    }));
    const h0 = performance.now();
    const response = await ingest({ Records: records });
    batchMs.push(performance.now() - h0);
    const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    const done = messages.filter((m) => !failed.has(m.MessageId as string));
    if (done.length > 0)
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle as string })),
        }),
      );
    applied += done.length;
    retried += failed.size;
    drainMs += performance.now() - t0;
    while (pending[0] !== undefined && applied >= pending[0] * total) {
      const fraction = pending.shift() as number;
      steps.push(await step(fraction, applied));
      log(`  schedule at ${fraction * 100}%: ${JSON.stringify(steps.at(-1))}`);
    }
  }
  return { applied, batches: batchMs.length, retried, drainMs, batchMs, steps };
}

async function scenario(
  args: Args,
  heartbeatSeconds: number,
  aws: HandlerConfig['adapters']['aws'],
  env: NodeJS.ProcessEnv,
) {
  const dynamo = new DynamoDBClient(aws);
  const sqs = new SQSClient(aws);
  const prefix = `ingest-bench-${heartbeatSeconds}s`;
  try {
    const config = readHandlerConfig(await handlerEnv(dynamo, sqs, prefix, env));
    // Idle retirement is not what is measured here: only silence may retire an instance.
    const cycle: CycleConfig = parseCycleConfig({ solveTimeLimitMs: 1000, idleTimeoutSeconds: 86_400 });
    const adapters = createAwsAdapters(config.adapters);
    try {
      const ids = await launchCloudInstances(aws, prefix, args.instances);
      // The newest report was sent a minute more than the heartbeat timeout before the drain starts.
      const newestAgeMs = (cycle.heartbeatTimeoutSeconds + 60) * 1000;
      const plannedStart = Date.now();
      const backlog = buildBacklog({ ...args, heartbeatSeconds, newestAgeMs }, ids, plannedStart);
      await seedFleet(adapters, backlog);
      await enqueue(sqs, config.queues.reports, backlog.reports);
      log(
        `${heartbeatSeconds}s heartbeats: seeded ${ids.length} instances, ${backlog.jobIds.length} jobs, ${backlog.reports.length} reports`,
      );
      const counting = countingLogger();
      const ingest = buildIngestHandler(config, { now: () => Date.now() }, counting.logger);
      const startedAt = Date.now();
      const step = (fraction: number, applied: number) =>
        scheduleStep(config, cycle, adapters, () => Date.now(), quiet, fraction, applied);
      const d = await drain(sqs, config.queues.reports, backlog.reports.length, ingest, step);
      const end = await step(1, d.applied);
      log(`  schedule at the end: ${JSON.stringify(end)}`);
      const steps = [...d.steps, end];
      const result = await outcome(adapters, backlog.instanceIds, backlog.jobIds);
      return {
        heartbeatSeconds,
        heartbeatsPerInstance: backlog.heartbeatsPerInstance,
        backlogSpanS: round((backlog.lastAt - backlog.firstAt) / 1000),
        oldestReportAgeAtDrainStartS: round((startedAt - backlog.firstAt) / 1000),
        newestReportAgeAtDrainStartS: round((startedAt - backlog.lastAt) / 1000),
        reports: backlog.reports.length,
        applied: d.applied,
        batches: d.batches,
        redelivered: d.retried,
        reportsPerSecond: round((d.applied * 1000) / d.drainMs),
        batchLatencyMs: {
          p50: round(pct(d.batchMs, 50)),
          p99: round(pct(d.batchMs, 99)),
          max: round(Math.max(...d.batchMs)),
        },
        drainS: round(d.drainMs / 1000, 2),
        schedule: steps,
        outcome: {
          ...result,
          scheduleRetiredInstances: steps.reduce((a, s) => a + s.instancesRetired, 0),
          scheduleRequeuedJobs: steps.reduce((a, s) => a + s.requeued, 0),
        },
        ingestLog: counting.summary(),
      };
    } finally {
      adapters.destroy();
    }
  } finally {
    dynamo.destroy();
    sqs.destroy();
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const emulator = await startEmulator();
  const stop = () => void emulator.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const env = emulatorProcessEnv(emulator.endpoint);
    const aws = awsClientConfig({ ...env, AWS_REGION: 'us-east-1' }, emulator.endpoint);
    const cycle = parseCycleConfig({});
    const scenarios = [];
    for (const hb of args.heartbeatSeconds) scenarios.push(await scenario(args, hb, aws, env));
    const result = {
      bench: 'ingest',
      quick: args.quick,
      seed: args.seed,
      node: process.version,
      machine: `${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown cpu'}); emulator: moto_server (Python) on the same machine`,
      parameters: {
        instances: args.instances,
        jobs: args.jobs,
        reports: args.reports,
        batchSize: BATCH,
        heartbeatTimeoutS: cycle.heartbeatTimeoutSeconds,
        reportLagCreditCapS: creditCapS(cycle),
        scheduleAt: [...CHECKPOINTS, 1],
      },
      scenarios,
    };
    const json = JSON.stringify(result, null, 2);
    process.stdout.write(`${json}\n`);
    if (args.write) log(`wrote ${writeResultFile('ingest.json', json)}`);
  } finally {
    await emulator.stop();
  }
}

await main();
