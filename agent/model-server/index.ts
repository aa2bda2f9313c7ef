import type { AddressInfo } from 'node:net';
import type { ExecutionProvider, LatencyReport } from '../../lib/core/protocol/inference.ts';
import { ActiveRequests, closeServer } from '../http-util.ts';
import { ModelEngine } from './engine.ts';
import { createModelHttpServer } from './http-server.ts';
import { LatencyRecorder, type LatencySnapshot } from './latency-stats.ts';
import { localModelPath } from './model-path.ts';
import { type ModelServerOptions, type ResolvedOptions, resolveOptions } from './options.ts';
import { startReporter } from './reporter.ts';
import { type LoadedModel, loadModel, type TensorInfo } from './session.ts';

/**
 * The agent's model server: load an ONNX model, batch requests dynamically, serve them over HTTP, and
 * report latency every interval. `agent/main.ts` calls `startModelServer` when a ServeModel arrives and
 * `stop()` on StopModel or drain.
 */

export type { ModelFetcher, ModelServerOptions } from './options.ts';
export { optionsFromServeModel } from './options.ts';

export interface ModelServerStats extends LatencySnapshot {
  readonly modelId: string;
  readonly provider: ExecutionProvider;
  readonly queueDepth: number;
  readonly inFlight: number;
}

export interface ModelServerHandle {
  readonly modelId: string;
  readonly host: string;
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** `http://host:port`, with 127.0.0.1 for a wildcard host. */
  readonly url: string;
  readonly provider: ExecutionProvider;
  /** Why CUDA is not in use, when it was wanted or could have been. */
  readonly fallbackReason?: string;
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  /** Everything since start: counts, latency percentiles (total, queueing, compute), batch sizes. */
  stats(): ModelServerStats;
  /**
   * Stop taking requests, finish (drain) or fail queued ones, let their answers reach the clients for
   * up to `graceMs` (default 5000), send a last report, free the session.
   */
  stop(options?: { drain?: boolean; graceMs?: number }): Promise<void>;
}

export async function startModelServer(options: ModelServerOptions): Promise<ModelServerHandle> {
  const opts = resolveOptions(options);
  const path = await localModelPath(opts.modelPath, opts.modelStore);
  const model = await loadModel(path, {
    provider: opts.executionProvider,
    intraOpThreads: opts.intraOpThreads,
    log: opts.log,
  });
  opts.log(`loaded ${path} on ${model.provider}${model.fallbackReason ? ` (${model.fallbackReason})` : ''}`);
  const recorder = new LatencyRecorder(() => opts.clock.now());
  const engine = new ModelEngine(model, opts, recorder);
  let stopping = false;
  const active = new ActiveRequests();
  const server = createModelHttpServer({
    modelId: opts.modelId,
    engine,
    metadata: () => metadata(opts, model),
    stopping: () => stopping,
    log: opts.log,
    active,
  });
  try {
    await listen(server, opts.port, opts.host);
  } catch (error) {
    // A port already taken must not leak the loaded session.
    await engine.close(false);
    await model.session.release();
    throw error;
  }
  const port = (server.address() as AddressInfo).port;
  const reporter = opts.reportSink
    ? startReporter({
        sink: opts.reportSink,
        intervalMs: opts.reportIntervalMs,
        take: () => latencyReport(opts, model, recorder),
        log: opts.log,
      })
    : undefined;
  let stopped: Promise<void> | undefined;
  return {
    modelId: opts.modelId,
    host: opts.host,
    port,
    url: `http://${opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host}:${port}`,
    provider: model.provider,
    ...(model.fallbackReason ? { fallbackReason: model.fallbackReason } : {}),
    inputs: model.inputs,
    outputs: model.outputs,
    stats: () => ({
      ...recorder.totals(),
      modelId: opts.modelId,
      provider: model.provider,
      queueDepth: engine.queueDepth,
      inFlight: engine.inFlight,
    }),
    stop(stopOptions = {}) {
      stopped ??= (async () => {
        stopping = true;
        // Drained answers are still being written when the queue empties: a large one takes many socket
        // writes, so the connections stay until they are sent (bounded by the grace), not cut mid-body.
        await closeServer(server, active, stopOptions.graceMs ?? 5000, () =>
          engine.close(stopOptions.drain ?? true),
        );
        await reporter?.stop();
        await model.session.release();
        opts.log('stopped');
      })();
      return stopped;
    },
  };
}

function listen(server: ReturnType<typeof createModelHttpServer>, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function metadata(opts: ResolvedOptions, model: LoadedModel): Record<string, unknown> {
  return {
    modelId: opts.modelId,
    inputs: model.inputs,
    outputs: model.outputs,
    provider: model.provider,
    ...(model.fallbackReason ? { fallbackReason: model.fallbackReason } : {}),
    maxBatch: opts.maxBatch,
    maxQueueDelayMs: opts.maxQueueDelayMs,
    queueCapacity: opts.queueCapacity,
    concurrentRunners: opts.concurrentRunners,
    intraOpThreads: opts.intraOpThreads,
  };
}

function latencyReport(opts: ResolvedOptions, model: LoadedModel, recorder: LatencyRecorder): LatencyReport {
  return {
    version: 1,
    kind: 'LatencyReport',
    modelId: opts.modelId,
    ...(opts.instanceId ? { instanceId: opts.instanceId } : {}),
    provider: model.provider,
    ...recorder.takeInterval(),
  };
}
