import type { ReportSink } from '../lib/core/ports.ts';
import type { ModelCommand } from '../lib/core/protocol/inference.ts';
import type { Logger } from './log.ts';
import type { ModelServerHandle } from './model-server/index.ts';

/**
 * The hook through which the agent serves models: ServeModel starts a model server, StopModel stops it,
 * and a drain closes them all. The agent core only knows this interface.
 */
export interface ModelHost {
  handle(command: ModelCommand): Promise<void>;
  /** Stop every model (finishing queued requests) before the agent reports DRAINED. */
  close(): Promise<void>;
}

/**
 * ModelHost over `agent/model-server`. The server module (and onnxruntime with it) is loaded on the first
 * ServeModel, so agents that only run commands never pay for it or depend on its native library.
 */
export function modelServerHost(options: {
  readonly reportSink: ReportSink;
  readonly instanceId: string;
  readonly logger: Logger;
}): ModelHost {
  const servers = new Map<string, Promise<ModelServerHandle>>();
  return {
    async handle(command) {
      if (command.kind === 'StopModel') {
        const server = servers.get(command.modelId);
        servers.delete(command.modelId);
        await (await server?.catch(() => undefined))?.stop({ drain: command.drain });
        return;
      }
      // A redelivered ServeModel for a model already served is a no-op rather than a second server.
      if (servers.has(command.modelId)) return;
      const starting = import('./model-server/index.ts').then((m) =>
        m.startModelServer(
          m.optionsFromServeModel(command, {
            reportSink: options.reportSink,
            instanceId: options.instanceId,
            log: (message) => options.logger.log('info', message, { modelId: command.modelId }),
          }),
        ),
      );
      servers.set(command.modelId, starting);
      try {
        const handle = await starting;
        options.logger.log('info', 'serving model', { modelId: handle.modelId, url: handle.url });
      } catch (error) {
        servers.delete(command.modelId);
        throw error;
      }
    },
    async close() {
      const all = [...servers.values()];
      servers.clear();
      await Promise.allSettled(all.map(async (s) => (await s).stop({ drain: true })));
    },
  };
}
