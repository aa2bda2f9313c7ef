import type { SpotInterruption } from './identity.ts';
import { errorText, type Logger } from './log.ts';
import { abortableDelay } from './poller.ts';

/**
 * What starts a drain besides a Drain message: SIGTERM/SIGINT from the OS (shutdown, the local fleet
 * stopping the process) and a spot interruption notice from the instance metadata service.
 */

export interface DrainRequest {
  readonly reason: string;
  /** Override of the configured grace period. */
  readonly graceMs?: number;
  /**
   * Keep serving tasks serving until the grace ends (a spot interruption: their replacements are already
   * starting elsewhere); otherwise they are handed back at once.
   */
  readonly serveThroughGrace?: boolean;
}

/** SQS's largest visibility timeout (12 h). */
const MAX_VISIBILITY_SECONDS = 43_200;

/**
 * How long a draining agent hides a message it will not act on: until the drain's grace and the kill grace
 * after it are over (a stopped task is SIGKILLed then), at least a second, at most SQS's limit.
 */
export function secondsPastDrain(drainDeadline: number, now: number, killGraceMs: number): number {
  const left = Math.ceil((drainDeadline - now + killGraceMs) / 1000);
  return Math.min(Math.max(left, 1), MAX_VISIBILITY_SECONDS);
}

/**
 * Keep two minutes' notice from becoming a lost task: finish work only while there is time to hand it
 * back afterwards, leaving `marginMs` for the hand-back and the final report.
 */
export function spotGraceMs(
  notice: SpotInterruption,
  now: number,
  configuredMs: number,
  marginMs = 20_000,
): number {
  return Math.max(0, Math.min(configuredMs, notice.at - now - marginMs));
}

/** Polls IMDS for a spot interruption until `signal` aborts; calls `onNotice` once when one appears. */
export async function watchSpotInterruption(options: {
  readonly check: () => Promise<SpotInterruption | undefined>;
  readonly intervalMs: number;
  readonly signal: AbortSignal;
  readonly onNotice: (notice: SpotInterruption) => void;
  readonly logger: Logger;
}): Promise<void> {
  while (!options.signal.aborted) {
    try {
      const notice = await options.check();
      if (notice) {
        options.logger.log('warn', 'spot interruption notice', { action: notice.action, at: notice.at });
        options.onNotice(notice);
        return;
      }
    } catch (error) {
      // IMDS hiccups are common under load; a missed poll is retried on the next tick.
      options.logger.log('warn', 'spot notice check failed', { error: errorText(error) });
    }
    await abortableDelay(options.intervalMs, options.signal);
  }
}

/** Route SIGTERM and SIGINT to a drain; returns a function that removes the handlers. */
export function drainOnSignals(onDrain: (request: DrainRequest) => void): () => void {
  const handlers = (['SIGTERM', 'SIGINT'] as const).map((signal) => {
    const handler = () => onDrain({ reason: signal });
    process.on(signal, handler);
    return () => process.off(signal, handler);
  });
  return () => {
    for (const off of handlers) off();
  };
}
