import type { ReportSink, ServingDirectory } from '../lib/core/ports.ts';
import type { RunTask } from '../lib/core/protocol/tasks.ts';
import { errorText, type Logger } from './log.ts';
import { setLongTimeout } from './long-timer.ts';
import type { ModelFetcher } from './model-server/options.ts';
import type { RouterOptions } from './router/index.ts';
import type { RunningTask, StopReason, TaskOutcome, TaskResult } from './task-runner.ts';

/**
 * Serving tasks: a `model` task runs a model server, a `router` task a pipeline's router, each until the
 * agent stops it. The agent treats them like command tasks (same ledger, dedupe, cancel and drain), but
 * there is no process: `started` carries the URL the server answers on, and the run ends only when it is
 * stopped (cancel: cancelled; drain: handed back; timeout: failed). A server that cannot start (a model
 * that does not load, a router without a directory) ends the run at once as failed, with the reason.
 */

export interface ServingRun extends RunningTask {
  /**
   * Where the task answers; undefined if it never started. A model task: its model's URL,
   * `http://host:port/v1/models/{modelId}` (`{endpoint}/infer` runs a batch). A router task: its base URL,
   * `http://host:port` (`{endpoint}/v1/pipelines/{id}/infer` runs a query).
   */
  readonly endpoint?: string;
}

export interface ServingHost {
  /**
   * Start the task's server. `stopGraceMs` (the agent's kill grace) bounds a stop: the run ends by then
   * even if its server has not finished stopping.
   */
  start(task: RunTask, limits?: { readonly stopGraceMs?: number }): Promise<ServingRun>;
}

export interface ServingHostOptions {
  readonly reportSink?: ReportSink;
  readonly instanceId: string;
  /** The address other instances reach this one on: 127.0.0.1 locally, the private IP on EC2. */
  readonly advertiseHost: string;
  readonly logger: Logger;
  /** The routers' directory of pipelines and replicas; built on the first router task. */
  readonly directory?: () => Promise<ServingDirectory>;
  readonly modelStore?: ModelFetcher;
  /** Router settings for tests (intervals, clock). */
  readonly router?: Partial<Omit<RouterOptions, 'pipelineId' | 'directory'>>;
  readonly now?: () => number;
}

const NO_OUTPUT = { stdout: '', stderr: '', truncated: false } as const;

const OUTCOME: Readonly<Record<StopReason, { outcome: TaskOutcome; reason: TaskResult['reason'] }>> = {
  cancel: { outcome: 'cancelled', reason: 'cancel' },
  drain: { outcome: 'handed-back', reason: 'drain' },
  timeout: { outcome: 'failed', reason: 'timeout' },
};

export function servingHost(options: ServingHostOptions): ServingHost {
  const now = options.now ?? Date.now;
  let directory: Promise<ServingDirectory> | undefined;
  const log = (fields: Record<string, unknown>) => (message: string) =>
    options.logger.log('info', message, fields);
  return {
    async start(task, limits = {}) {
      const startedAt = now();
      const graceMs = limits.stopGraceMs ?? DEFAULT_STOP_GRACE_MS;
      const t = task.task;
      try {
        if (t.kind === 'model') {
          const { startModelServer } = await import('./model-server/index.ts');
          const server = await startModelServer({
            modelPath: t.model.uri,
            modelId: t.modelId,
            maxBatch: t.maxBatch,
            maxQueueDelayMs: t.maxQueueDelayMs,
            intraOpThreads: t.intraOpThreads,
            executionProvider: 'auto',
            port: 0,
            host: '0.0.0.0',
            instanceId: options.instanceId,
            ...(options.reportSink ? { reportSink: options.reportSink } : {}),
            ...(options.modelStore ? { modelStore: options.modelStore } : {}),
            log: log({ modelId: t.modelId, jobId: task.jobId }),
          });
          // A replica's model URL: the router sends batches to `{endpoint}/infer` (the endpoint record
          // has no model id of its own, so the URL carries it).
          const endpoint = `http://${options.advertiseHost}:${server.port}/v1/models/${t.modelId}`;
          return servingRun(
            task,
            endpoint,
            (reason) => server.stop({ drain: reason !== 'timeout', graceMs }),
            { startedAt, now, graceMs },
          );
        }
        if (t.kind === 'router') {
          if (!options.directory)
            throw new Error('this agent has no serving directory to read pipelines from');
          directory ??= options.directory();
          const dir = await directory.catch((error: unknown) => {
            directory = undefined;
            throw error;
          });
          const { startRouter } = await import('./router/index.ts');
          const router = await startRouter({
            ...options.router,
            pipelineId: t.pipelineId,
            directory: dir,
            instanceId: options.instanceId,
            port: 0,
            host: '0.0.0.0',
            ...(options.reportSink ? { reportSink: options.reportSink } : {}),
            log: log({ pipelineId: t.pipelineId, jobId: task.jobId }),
          });
          // The router's base URL: clients call `{endpoint}/v1/pipelines/{id}/infer`.
          const endpoint = `http://${options.advertiseHost}:${router.port}`;
          return servingRun(task, endpoint, () => router.stop({ graceMs }), { startedAt, now, graceMs });
        }
        throw new Error(`task kind ${t.kind} is not a serving task`);
      } catch (error) {
        const what = t.kind === 'model' ? `model ${t.modelId} did not load` : `${t.kind} did not start`;
        options.logger.log('warn', what, { jobId: task.jobId, error: errorText(error) });
        return notStarted(`${what}: ${errorText(error)}`);
      }
    },
  };
}

/** A run that failed before serving: reported failed with the reason, nothing to stop. */
export function notStarted(message: string): ServingRun {
  const result: TaskResult = {
    outcome: 'failed',
    reason: 'spawn-error',
    durationMs: 0,
    message,
    output: NO_OUTPUT,
  };
  return { pid: undefined, done: Promise.resolve(result), stop: () => {} };
}

/** Stop grace of a serving task started without one. */
const DEFAULT_STOP_GRACE_MS = 10_000;

function servingRun(
  task: RunTask,
  endpoint: string,
  stopServer: (reason: StopReason) => Promise<void>,
  clock: { readonly startedAt: number; readonly now: () => number; readonly graceMs: number },
): ServingRun {
  const { startedAt, now, graceMs } = clock;
  let finish!: (result: TaskResult) => void;
  const done = new Promise<TaskResult>((resolve) => {
    finish = resolve;
  });
  let stopping: StopReason | undefined;
  const limitSeconds =
    task.timeoutSeconds ?? (task.task.kind === 'command' ? task.task.timeoutSeconds : undefined);
  const stop = (reason: StopReason) => {
    if (stopping) return;
    stopping = reason;
    timer?.clear();
    const { outcome, reason: why } = OUTCOME[reason];
    const ended = (message?: string) =>
      finish({
        outcome,
        reason: why,
        durationMs: Math.max(0, now() - startedAt),
        ...(reason === 'timeout' ? { message: `timed out after ${(limitSeconds ?? 0) * 1000} ms` } : {}),
        ...(message ? { message } : {}),
        output: NO_OUTPUT,
      });
    // The server lets answers in progress finish within the grace; a stop still running after it
    // (a drain stuck behind a slow batch) must not hold the agent's drain, so the run ends anyway.
    let graceTimer: NodeJS.Timeout | undefined;
    const overdue = new Promise<string>((resolve) => {
      graceTimer = setTimeout(() => resolve(`server still stopping after ${graceMs} ms`), graceMs + 1000);
    });
    Promise.race([
      stopServer(reason).then(
        () => undefined,
        (error: unknown) => `server did not stop cleanly: ${errorText(error)}`,
      ),
      overdue,
    ]).then((message) => {
      clearTimeout(graceTimer);
      ended(message);
    });
  };
  const timer =
    limitSeconds === undefined ? undefined : setLongTimeout(() => stop('timeout'), limitSeconds * 1000);
  return { pid: undefined, endpoint, done, stop };
}
