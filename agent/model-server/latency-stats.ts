import * as hdr from 'hdr-histogram-js';
import type { LatencySummary } from '../../lib/core/protocol/inference.ts';
import type { BatchObserver, RequestTiming } from './batcher.ts';

/**
 * Per-request latency, split into queueing and compute, in HDR histograms (3 significant digits, values
 * in microseconds). Two sets are kept: the interval set, which a LatencyReport empties, and the
 * cumulative set behind `stats()`.
 */

const US_PER_MS = 1000;

export function latencyHistogram(): hdr.Histogram {
  // Pure-JS build: the WASM one needs async init and gains little at our request rates.
  return hdr.build({ lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3, autoResize: true });
}

/** P50, P90, P99 and max of a histogram of microseconds, in milliseconds. */
export function summarizeHistogram(h: hdr.Histogram): LatencySummary {
  if (h.totalCount === 0) return { p50Ms: 0, p90Ms: 0, p99Ms: 0, maxMs: 0 };
  // A percentile comes back as the top of its bucket, which can exceed the exact recorded maximum;
  // clamping keeps p50 <= p90 <= p99 <= max, and each value stays within the histogram's precision.
  const max = h.maxValue;
  const at = (p: number) => Math.min(h.getValueAtPercentile(p), max) / US_PER_MS;
  return { p50Ms: at(50), p90Ms: at(90), p99Ms: at(99), maxMs: max / US_PER_MS };
}

function toMicros(ms: number): number {
  return Math.max(1, Math.round(ms * US_PER_MS));
}

export interface LatencySnapshot {
  readonly count: number;
  readonly arrivals: number;
  readonly shed: number;
  readonly errors: number;
  readonly total: LatencySummary;
  readonly queueing: LatencySummary;
  readonly compute: LatencySummary;
  readonly batchSizes: { size: number; count: number }[];
}

class Window {
  readonly total = latencyHistogram();
  readonly queueing = latencyHistogram();
  readonly compute = latencyHistogram();
  arrivals = 0;
  shed = 0;
  errors = 0;
  readonly batches = new Map<number, number>();

  record(timing: RequestTiming): void {
    this.total.recordValue(toMicros(timing.totalMs));
    this.queueing.recordValue(toMicros(timing.queueMs));
    this.compute.recordValue(toMicros(timing.computeMs));
  }

  snapshot(): LatencySnapshot {
    return {
      count: this.total.totalCount,
      arrivals: this.arrivals,
      shed: this.shed,
      errors: this.errors,
      total: summarizeHistogram(this.total),
      queueing: summarizeHistogram(this.queueing),
      compute: summarizeHistogram(this.compute),
      batchSizes: [...this.batches.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([size, count]) => ({ size, count })),
    };
  }

  reset(): void {
    this.total.reset();
    this.queueing.reset();
    this.compute.reset();
    this.arrivals = 0;
    this.shed = 0;
    this.errors = 0;
    this.batches.clear();
  }
}

export class LatencyRecorder implements BatchObserver {
  private readonly interval = new Window();
  private readonly cumulative = new Window();
  private intervalStart: number;

  constructor(private readonly wallClock: () => number) {
    this.intervalStart = wallClock();
  }

  onArrival(): void {
    this.interval.arrivals++;
    this.cumulative.arrivals++;
  }

  onShed(): void {
    this.interval.shed++;
    this.cumulative.shed++;
  }

  onBatch(rows: number): void {
    for (const w of [this.interval, this.cumulative]) w.batches.set(rows, (w.batches.get(rows) ?? 0) + 1);
  }

  onComplete(timing: RequestTiming): void {
    this.interval.record(timing);
    this.cumulative.record(timing);
  }

  onError(requests: number): void {
    this.interval.errors += requests;
    this.cumulative.errors += requests;
  }

  /** Everything since the server started. */
  totals(): LatencySnapshot {
    return this.cumulative.snapshot();
  }

  /** The current interval, then start a new one. */
  takeInterval(): LatencySnapshot & { intervalStartMs: number; intervalEndMs: number } {
    const end = this.wallClock();
    const snapshot = { ...this.interval.snapshot(), intervalStartMs: this.intervalStart, intervalEndMs: end };
    this.interval.reset();
    this.intervalStart = end;
    return snapshot;
  }
}
