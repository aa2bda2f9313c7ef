import { z } from 'zod';
import type { SampleTraceSchema } from '../model/pipeline.ts';
import { parseOrThrow } from '../model/validate.ts';
import { mulberry32 } from '../random.ts';

/**
 * Arrival traces for the estimator and the tuner: sorted absolute arrival times in milliseconds from 0.
 *
 * Inter-arrival gaps are Gamma distributed with rate λ and coefficient of variation CV, where CV is the
 * InferLine paper's definition, σ²/μ² (the squared coefficient of variation of the gaps). A Gamma with
 * shape k and scale θ has mean kθ and variance kθ², so shape = 1/CV and scale = CV/λ give mean 1/λ and
 * σ²/μ² = CV. CV = 1 is a Poisson process; CV = 4 is the paper's bursty case.
 */

/** A seeded generator of uniforms in [0, 1). mulberry32: small, fast, and good enough for workloads. */
export interface Rng {
  next(): number;
}

export function createRng(seed: number): Rng {
  return { next: mulberry32(seed) };
}

/** A standard normal draw (Box-Muller; the second value is dropped to keep the generator stateless). */
function normal(rng: Rng): number {
  const u = 1 - rng.next(); // (0, 1]: log(0) would be -Infinity
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
}

/**
 * A Gamma(shape, 1) draw by Marsaglia and Tsang's method. For shape < 1 it draws Gamma(shape + 1) and
 * multiplies by U^(1/shape), the standard boost, since the squeeze method needs shape >= 1.
 */
export function gammaDraw(rng: Rng, shape: number): number {
  if (shape < 1) return gammaDraw(rng, shape + 1) * (1 - rng.next()) ** (1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x = 0;
    let v = 0;
    do {
      x = normal(rng);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.next();
    if (u < 1 - 0.0331 * x ** 4) return d * v;
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

export const GammaSegmentSchema = z.object({
  ratePerSecond: z
    .number()
    .positive({ error: 'ratePerSecond must be greater than 0' })
    .max(1_000_000, { error: 'ratePerSecond must be at most 1,000,000' }),
  /** σ²/μ² of the inter-arrival gaps. */
  cv: z
    .number()
    .positive({ error: 'cv must be greater than 0' })
    .max(100, { error: 'cv must be at most 100' }),
  durationSeconds: z
    .number()
    .positive({ error: 'durationSeconds must be greater than 0' })
    .max(86_400, { error: 'durationSeconds must be at most 86,400' }),
});
export type GammaSegment = z.infer<typeof GammaSegmentSchema>;

/** Gamma arrivals in [startMs, startMs + duration), appended to `out`. */
function appendGamma(
  out: number[],
  rng: Rng,
  seg: GammaSegment,
  startMs: number,
  maxArrivals = Number.POSITIVE_INFINITY,
): void {
  const shape = 1 / seg.cv;
  const scaleMs = (seg.cv / seg.ratePerSecond) * 1000;
  const endMs = startMs + seg.durationSeconds * 1000;
  let t = startMs + gammaDraw(rng, shape) * scaleMs;
  while (t < endMs && out.length < maxArrivals) {
    out.push(t);
    t += gammaDraw(rng, shape) * scaleMs;
  }
}

/** A stationary Gamma trace: its first `maxArrivals` arrivals, when given. */
export function gammaTrace(segment: GammaSegment, seed: number, maxArrivals?: number): Float64Array {
  return stepTrace([segment], seed, maxArrivals);
}

/**
 * Back-to-back Gamma segments: a rate or burstiness step at each segment boundary. Drawing stops after
 * `maxArrivals`: the first arrivals are the same as without the limit, and a long fast trace (100,000/s
 * for an hour) costs no more than its prefix.
 */
export function stepTrace(
  segments: readonly GammaSegment[],
  seed: number,
  maxArrivals = Number.POSITIVE_INFINITY,
): Float64Array {
  const segs = parseOrThrow(z.array(GammaSegmentSchema).min(1), segments, 'trace segments');
  const rng = createRng(seed);
  const out: number[] = [];
  let start = 0;
  for (const seg of segs) {
    if (out.length >= maxArrivals) break;
    appendGamma(out, rng, seg, start, maxArrivals);
    start += seg.durationSeconds * 1000;
  }
  return Float64Array.from(out);
}

export const SpikeSchema = GammaSegmentSchema.extend({
  atSeconds: z.number().min(0, { error: 'atSeconds must be at least 0' }),
});
export type Spike = z.infer<typeof SpikeSchema>;

/** Overlay extra Gamma traffic from `atSeconds` for `durationSeconds` on a base trace (merged, sorted). */
export function addSpike(base: Float64Array, spike: Spike, seed: number): Float64Array {
  const s = parseOrThrow(SpikeSchema, spike, 'spike');
  const extra: number[] = [];
  appendGamma(extra, createRng(seed), s, s.atSeconds * 1000);
  return mergeSorted(base, extra);
}

function mergeSorted(a: Float64Array, b: readonly number[]): Float64Array {
  const out = new Float64Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length || j < b.length) {
    const x = i < a.length ? (a[i] as number) : Number.POSITIVE_INFINITY;
    const y = j < b.length ? (b[j] as number) : Number.POSITIVE_INFINITY;
    if (x <= y) {
      out[k++] = x;
      i++;
    } else {
      out[k++] = y;
      j++;
    }
  }
  return out;
}

/** Absolute arrival times from recorded inter-arrival gaps (the first gap is from time 0). */
export function fromInterArrivals(gapsMs: readonly number[]): Float64Array {
  const out = new Float64Array(gapsMs.length);
  let t = 0;
  gapsMs.forEach((gap, i) => {
    t += gap;
    out[i] = t;
  });
  return out;
}

/** The mean arrival rate of a trace, in queries per second (0 for fewer than two arrivals). */
export function meanRatePerSecond(arrivalsMs: Float64Array): number {
  const n = arrivalsMs.length;
  if (n < 2) return 0;
  const span = (arrivalsMs[n - 1] as number) - (arrivalsMs[0] as number);
  return span > 0 ? ((n - 1) * 1000) / span : 0;
}

/** A pipeline's sample trace, as PipelineSpec describes it. */
export type SampleTraceSpec = z.output<typeof SampleTraceSchema>;

/** Arrival times of a pipeline's sample trace. */
export function traceFromSpec(spec: SampleTraceSpec, maxArrivals?: number): Float64Array {
  if (spec.kind === 'recorded') return fromInterArrivals(spec.interArrivalMs).slice(0, maxArrivals);
  return gammaTrace(
    { ratePerSecond: spec.ratePerSecond, cv: spec.cv, durationSeconds: spec.durationSeconds },
    spec.seed,
    maxArrivals,
  );
}
