import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { ValidationError } from '../../lib/core/errors.ts';
import type { TunerOptions } from '../../lib/core/inference/tuner.ts';
import { parseOrThrow, toFieldIssues } from '../../lib/core/model/validate.ts';
import type { Clock, ReportSink, ServingDirectory } from '../../lib/core/ports.ts';
import { PROTOCOL_VERSION } from '../../lib/core/protocol/envelope.ts';
import { type PipelineReport, PipelineReportSchema } from '../../lib/core/protocol/pipeline.ts';
import { ActiveRequests, closeServer } from '../http-util.ts';
import { createRouterHttpServer } from './http-server.ts';
import { PipelineRouter } from './pipeline-router.ts';
import type { BatchObserver } from './pipeline-router-options.ts';
import { type BatchSender, type DescribeStage, fetchInputShape, postBatch } from './replica-client.ts';
import { TunerLoop } from './tuner-loop.ts';

/**
 * The router of one pipeline (the agent's frontend role): the HTTP front door, the per-stage EDF queues
 * and batch dispatch (`PipelineRouter`), the directory poll that keeps the replica set current, the
 * tuner loop, and the PipelineReport every interval. `agent/serving-host.ts` starts it for a `router`
 * task; tests start it directly with a fake directory and drive the loops by hand (intervals of 0).
 */

export { PipelineRouter } from './pipeline-router.ts';
export type { BatchObserver } from './pipeline-router-options.ts';
export { TunerLoop } from './tuner-loop.ts';

export interface RouterOptions {
  readonly pipelineId: string;
  /** Where the pipeline's record and replica endpoints are read. */
  readonly directory: ServingDirectory;
  /** Where PipelineReports and ReplicaRequests go; none are sent without one. */
  readonly reportSink?: ReportSink;
  /** Stamped on reports. @default 'local' */
  readonly instanceId?: string;
  /** @default '0.0.0.0' */
  readonly host?: string;
  /** @default 0 (any free port) */
  readonly port?: number;
  /** Directory poll period; 0 polls only at start and on `pollOnce`. @default 1000 */
  readonly pollIntervalMs?: number;
  /** PipelineReport period; 0 reports only on `reportOnce` and stop. @default 5000 */
  readonly reportIntervalMs?: number;
  /** Tuner period; 0 tunes only on `tuneOnce`. @default 1000 */
  readonly tunerIntervalMs?: number;
  readonly tuner?: TunerOptions;
  /** Queued queries per stage before shedding. @default the queries one SLO of the stage's replicas serve */
  readonly queueBound?: number;
  /** Seed of the conditional-edge draws. @default 1 */
  readonly seed?: number;
  /** Drop queued queries whose deadline passed. @default true */
  readonly dropExpired?: boolean;
  /** Longest a batch may be in flight; a batch's latest deadline (plus 50 ms) bounds it sooner. @default 30000 */
  readonly batchTimeoutMs?: number;
  /** How long a stop waits for answers in progress before cutting their connections. @default 5000 */
  readonly stopGraceMs?: number;
  /** How long a replica that failed a batch is skipped. @default 5000 */
  readonly replicaCooldownMs?: number;
  /** Wall clock of reports and the tuner. @default Date.now */
  readonly clock?: Clock;
  /** How batches reach replicas. @default HTTP to the model server */
  readonly send?: BatchSender;
  /**
   * Reads an entry stage's model input shape from one of its replicas, for checks at the door.
   * @default the model server's metadata over HTTP, with the default `send`; none with a given `send`
   */
  readonly describe?: DescribeStage;
  /** Told of every answered batch, when it was sent and how long it took (see BatchObserver). */
  readonly onBatch?: BatchObserver;
  readonly log?: (message: string) => void;
}

const OptionsSchema = z.object({
  pipelineId: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,62}$/, { error: 'pipelineId must be lowercase letters, digits and "-"' }),
  instanceId: z.string().min(1).default('local'),
  host: z.string().min(1).default('0.0.0.0'),
  port: z.number().int().min(0).max(65_535).default(0),
  pollIntervalMs: z.number().min(0).default(1000),
  reportIntervalMs: z.number().min(0).default(5000),
  tunerIntervalMs: z.number().min(0).default(1000),
  queueBound: z.number().int().min(1, { error: 'queueBound must be at least 1' }).optional(),
  seed: z.number().int().default(1),
  dropExpired: z.boolean().default(true),
  batchTimeoutMs: z.number().positive().default(30_000),
  stopGraceMs: z.number().min(0).default(5000),
  replicaCooldownMs: z.number().min(0).default(5000),
});

export interface RouterHandle {
  readonly pipelineId: string;
  readonly port: number;
  /** `http://host:port` (127.0.0.1 for a wildcard host). */
  readonly url: string;
  readonly router: PipelineRouter;
  readonly tuner: TunerLoop;
  /** Read the directory now. */
  pollOnce(): Promise<void>;
  /** Run one tuner step now. */
  tuneOnce(): ReturnType<TunerLoop['tick']>;
  /** Build (and send, with a sink) the PipelineReport of the interval since the last one. */
  reportOnce(): Promise<PipelineReport>;
  /**
   * Stop taking queries (503), fail queued ones (503 with Retry-After), let the answers in progress
   * finish for up to `graceMs` (default: the stopGraceMs option), send a last report, close the server.
   */
  stop(options?: { graceMs?: number }): Promise<void>;
}

export async function startRouter(options: RouterOptions): Promise<RouterHandle> {
  const {
    directory,
    reportSink,
    tuner: tunerOptions,
    clock: givenClock,
    send,
    describe: givenDescribe,
    onBatch,
    log: givenLog,
    ...plain
  } = options;
  const parsed = OptionsSchema.safeParse(plain);
  if (!parsed.success) throw new ValidationError('router options', toFieldIssues(parsed.error));
  const o = parsed.data;
  const clock = givenClock ?? { now: () => Date.now() };
  const log = givenLog ?? ((m: string) => process.stderr.write(`[router ${o.pipelineId}] ${m}\n`));
  let onArrival = () => {};
  const router = new PipelineRouter({
    pipelineId: o.pipelineId,
    send: send ?? postBatch,
    now: () => performance.now(),
    seed: o.seed,
    ...(o.queueBound !== undefined ? { queueBound: o.queueBound } : {}),
    dropExpired: o.dropExpired,
    batchTimeoutMs: o.batchTimeoutMs,
    replicaCooldownMs: o.replicaCooldownMs,
    retryAfterSeconds: 1,
    onArrival: () => onArrival(),
    ...(onBatch ? { onBatch } : {}),
    log,
  });
  const tuner = new TunerLoop({
    router,
    pipelineId: o.pipelineId,
    instanceId: o.instanceId,
    clock,
    ...(tunerOptions ? { options: tunerOptions } : {}),
    request: async (m) => reportSink?.send(m),
    log,
  });
  onArrival = () => tuner.recordArrival();
  let stopping = false;
  const active = new ActiveRequests();
  const server = createRouterHttpServer({
    pipelineId: o.pipelineId,
    router,
    stopping: () => stopping,
    log,
    active,
  });

  const describe = givenDescribe ?? (send ? undefined : fetchInputShape);
  const asking = new Set<string>();
  const learnShapes = () => {
    for (const { stageId, urls } of router.entryStagesWithoutShape()) {
      const url = urls[0];
      if (!describe || !url || asking.has(stageId)) continue;
      asking.add(stageId);
      describe(url)
        .then((shape) => shape && router.setInputShape(stageId, shape))
        .catch((e: unknown) => log(`input shape of stage ${stageId} not read from ${url}: ${String(e)}`))
        .finally(() => asking.delete(stageId));
    }
  };
  const readDirectory = async () => {
    const serving = await directory.getServing(o.pipelineId);
    if (serving) router.apply(serving);
    else router.unavailable(`pipeline ${o.pipelineId} is not in the directory`);
    learnShapes();
  };
  // One read at a time: reads that overlap can finish out of order and apply an older record last.
  let polling: Promise<void> | undefined;
  const pollOnce = async (): Promise<void> => {
    while (polling) await polling.catch(() => undefined);
    polling = readDirectory().finally(() => {
      polling = undefined;
    });
    return polling;
  };
  let intervalStart = clock.now();
  const reportOnce = async (): Promise<PipelineReport> => {
    const end = clock.now();
    const interval = router.takeInterval();
    const report = parseOrThrow(
      PipelineReportSchema,
      {
        version: PROTOCOL_VERSION,
        kind: 'PipelineReport',
        pipelineId: o.pipelineId,
        instanceId: o.instanceId,
        intervalStartMs: intervalStart,
        intervalEndMs: Math.max(end, intervalStart),
        arrivals: interval.counts.arrivals,
        completed: interval.counts.completed,
        shed: interval.counts.shed,
        late: interval.counts.late,
        errors: interval.counts.errors,
        dropped: interval.counts.dropped,
        latency: interval.latency,
        stages: interval.stageReports,
      },
      'pipeline report',
    );
    intervalStart = end;
    await reportSink?.send(report);
    return report;
  };

  await pollOnce().catch((error: unknown) => log(`first directory read failed: ${String(error)}`));
  await listen(server, o.port, o.host);
  const port = (server.address() as AddressInfo).port;
  const timers = [
    // A tick while a read is still in flight is skipped, not queued behind it.
    every(o.pollIntervalMs, () =>
      polling ? undefined : pollOnce().catch((e: unknown) => log(`directory read failed: ${String(e)}`)),
    ),
    every(o.reportIntervalMs, () => reportOnce().catch((e: unknown) => log(`report not sent: ${String(e)}`))),
    every(o.tunerIntervalMs, () => {
      try {
        tuner.tick();
      } catch (e) {
        log(`tuner step failed: ${String(e)}`);
      }
    }),
    // Expired queries in a stage whose replicas are all gone are dropped here, not at the next batch.
    every(100, () => router.sweep()),
  ];
  let stopped: Promise<void> | undefined;
  return {
    pipelineId: o.pipelineId,
    port,
    url: `http://${o.host === '0.0.0.0' || o.host === '::' ? '127.0.0.1' : o.host}:${port}`,
    router,
    tuner,
    pollOnce,
    tuneOnce: () => tuner.tick(),
    reportOnce,
    stop(stopOptions = {}) {
      stopped ??= (async () => {
        stopping = true;
        for (const t of timers) if (t) clearInterval(t);
        router.close();
        // Batches in flight end within their deadlines; their answers get the grace to reach the clients.
        await closeServer(server, active, stopOptions.graceMs ?? o.stopGraceMs);
        await reportOnce().catch((e: unknown) => log(`last report not sent: ${String(e)}`));
      })();
      return stopped;
    },
  };
}

function every(ms: number, f: () => unknown): NodeJS.Timeout | undefined {
  if (ms <= 0) return undefined;
  const t = setInterval(f, ms);
  t.unref();
  return t;
}

function listen(
  server: ReturnType<typeof createRouterHttpServer>,
  port: number,
  host: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
