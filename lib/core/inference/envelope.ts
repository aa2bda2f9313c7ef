import { z } from 'zod';
import { parseOrThrow } from '../model/validate.ts';

/**
 * Traffic envelopes (InferLine's tuner, after network calculus). For window sizes ΔT_i doubling from the
 * service time up to 60 s, q_i is the largest number of arrivals in any window of that size and
 * r_i = q_i / ΔT_i its rate. Small windows capture bursts, large ones approach the mean rate. A live
 * envelope that exceeds the planning trace's envelope at any window means traffic the plan was not sized
 * for.
 *
 * Windows are half-open, [t, t + ΔT), and strictly doubling (the last one is the largest T·2^k <= 60 s):
 * any window of 2ΔT splits into two of ΔT, so q is non-decreasing in window size and r non-increasing.
 */

export interface Envelope {
  readonly windowsMs: readonly number[];
  /** q_i: most arrivals in any window of windowsMs[i]. */
  readonly counts: readonly number[];
  /** r_i = q_i / ΔT_i, in queries per second. */
  readonly ratesPerSecond: readonly number[];
}

export const MAX_WINDOW_MS = 60_000;

const WindowsSchema = z.object({
  serviceTimeMs: z
    .number()
    .positive({ error: 'serviceTimeMs must be greater than 0' })
    .max(MAX_WINDOW_MS, { error: `serviceTimeMs must be at most ${MAX_WINDOW_MS}` }),
  maxWindowMs: z.number().positive({ error: 'maxWindowMs must be greater than 0' }),
});

/** T_s, 2T_s, 4T_s, ... while at most maxWindowMs. */
export function envelopeWindows(serviceTimeMs: number, maxWindowMs = MAX_WINDOW_MS): number[] {
  const o = parseOrThrow(WindowsSchema, { serviceTimeMs, maxWindowMs }, 'envelope windows');
  const windows: number[] = [];
  for (let w = o.serviceTimeMs; w <= o.maxWindowMs; w *= 2) windows.push(w);
  return windows;
}

/**
 * Most arrivals in any window [t, t + windowMs) over sorted arrivals, by two pointers: a busiest window
 * can always be slid right until it starts at an arrival, so only windows starting at arrivals count.
 */
export function maxArrivalsInWindow(arrivalsMs: Float64Array, windowMs: number): number {
  let best = 0;
  let j = 0;
  const n = arrivalsMs.length;
  for (let i = 0; i < n; i++) {
    const end = (arrivalsMs[i] as number) + windowMs;
    if (j < i) j = i;
    while (j < n && (arrivalsMs[j] as number) < end) j++;
    if (j - i > best) best = j - i;
  }
  return best;
}

export function computeEnvelope(arrivalsMs: Float64Array, windowsMs: readonly number[]): Envelope {
  const counts = windowsMs.map((w) => maxArrivalsInWindow(arrivalsMs, w));
  return {
    windowsMs: [...windowsMs],
    counts,
    ratesPerSecond: counts.map((q, i) => (q * 1000) / (windowsMs[i] as number)),
  };
}

export type Exceedance =
  | { readonly exceeded: false }
  | {
      readonly exceeded: true;
      /** The largest live rate among the windows where live exceeds the sample. */
      readonly maxRatePerSecond: number;
      readonly windowMs: number;
    };

/** Compare a live envelope with the planning one, window by window (both must use the same windows). */
export function compareEnvelopes(live: Envelope, sample: Envelope): Exceedance {
  let best: Exceedance = { exceeded: false };
  live.ratesPerSecond.forEach((rate, i) => {
    const planned = sample.ratesPerSecond[i];
    if (planned === undefined || live.windowsMs[i] !== sample.windowsMs[i]) return;
    if (rate > planned && (!best.exceeded || rate > best.maxRatePerSecond))
      best = { exceeded: true, maxRatePerSecond: rate, windowMs: live.windowsMs[i] as number };
  });
  return best;
}

/** First index with arrivals[i] > t (arrivals sorted). */
export function upperBound(arrivalsMs: Float64Array, t: number): number {
  let lo = 0;
  let hi = arrivalsMs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((arrivalsMs[mid] as number) <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Arrivals in (nowMs - historyMs, nowMs], as a view (no copy). */
export function recentArrivals(arrivalsMs: Float64Array, nowMs: number, historyMs: number): Float64Array {
  return arrivalsMs.subarray(upperBound(arrivalsMs, nowMs - historyMs), upperBound(arrivalsMs, nowMs));
}

/**
 * Highest rate, in queries per second, over consecutive buckets (nowMs - k·bucketMs, nowMs - (k-1)·bucketMs]
 * covering the last lookbackMs: the tuner's scale-down rate (max over 5 s buckets of the last 30 s).
 */
export function maxBucketRate(
  arrivalsMs: Float64Array,
  nowMs: number,
  lookbackMs: number,
  bucketMs: number,
): number {
  let best = 0;
  for (let end = nowMs; end > nowMs - lookbackMs + 1e-9; end -= bucketMs) {
    const count = upperBound(arrivalsMs, end) - upperBound(arrivalsMs, end - bucketMs);
    best = Math.max(best, (count * 1000) / bucketMs);
  }
  return best;
}
