import { parseArgs } from 'node:util';
import { type ModelServerHandle, startModelServer } from './index.ts';

/**
 * Serve one model file outside the agent (benchmarks, tests that need servers in their own processes):
 *   tsx agent/model-server/serve-cli.ts --model PATH|s3://... --model-id ID [--max-batch 8]
 *     [--max-queue-delay-ms 2] [--threads 0] [--provider auto|cuda|cpu] [--host 127.0.0.1] [--port 0]
 * Prints one JSON line `{"url": ..., "port": ..., "provider": ...}` on stdout once it answers, and stops
 * (finishing queued requests) on SIGTERM or SIGINT.
 */

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      'model-id': { type: 'string' },
      'max-batch': { type: 'string', default: '8' },
      'max-queue-delay-ms': { type: 'string', default: '2' },
      threads: { type: 'string', default: '0' },
      provider: { type: 'string', default: 'auto' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
    },
  });
  if (!values.model || !values['model-id'])
    throw new Error(
      'usage: serve-cli --model PATH --model-id ID [--max-batch N] [--max-queue-delay-ms MS] ...',
    );
  // The server validates every option and reports all bad ones together.
  const server: ModelServerHandle = await startModelServer({
    modelPath: values.model,
    modelId: values['model-id'],
    maxBatch: Number(values['max-batch']),
    maxQueueDelayMs: Number(values['max-queue-delay-ms']),
    intraOpThreads: Number(values.threads),
    executionProvider: values.provider as 'auto' | 'cuda' | 'cpu',
    host: values.host,
    port: Number(values.port),
    log: (m) => process.stderr.write(`${m}\n`),
  });
  process.stdout.write(
    `${JSON.stringify({ url: server.url, port: server.port, provider: server.provider })}\n`,
  );
  const stop = () => {
    server.stop({ drain: true }).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
