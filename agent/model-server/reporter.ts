import type { ReportSink } from '../../lib/core/ports.ts';
import type { LatencyReport } from '../../lib/core/protocol/inference.ts';

/**
 * Sends a LatencyReport every interval. A failed send is logged and dropped: the next interval carries
 * fresh figures, and the serving path must never wait on the reports queue.
 */
export interface Reporter {
  /** Send the current interval now (also used for the final report on stop). */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

export function startReporter(options: {
  readonly sink: ReportSink;
  readonly intervalMs: number;
  readonly take: () => LatencyReport;
  readonly log: (message: string) => void;
}): Reporter {
  let sending: Promise<void> = Promise.resolve();
  const flush = (): Promise<void> => {
    const report = options.take();
    sending = sending.then(() =>
      options.sink.send(report).catch((error: unknown) => {
        options.log(`latency report dropped: ${error instanceof Error ? error.message : String(error)}`);
      }),
    );
    return sending;
  };
  const timer = setInterval(() => void flush(), options.intervalMs);
  timer.unref();
  return {
    flush,
    async stop() {
      clearInterval(timer);
      await flush();
    },
  };
}
