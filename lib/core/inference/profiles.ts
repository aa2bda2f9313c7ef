import { z } from 'zod';
import { ValidationError } from '../errors.ts';
import { parseOrThrow } from '../model/validate.ts';
import type { ModelProfile } from '../protocol/inference.ts';

/**
 * Per (model, instance type) profiles: for each profiled batch size, the service time of one batch and
 * the throughput of one replica running such batches back to back.
 *
 * Service time is the profile's P99 latency by default. The estimator treats latency as independent of
 * the input, so a tail figure keeps its P99 honest when real latency varies (the InferLine paper's
 * suggested fix for input-dependent models, and what its prototype stored).
 */

export const ProfilePointSchema = z.object({
  batchSize: z.number().int().min(1, { error: 'batchSize must be at least 1' }),
  /** Time to run one batch of this size, in milliseconds. */
  latencyMs: z.number().positive({ error: 'latencyMs must be greater than 0' }),
  /** Queries (batch items) per second of one replica running batches of this size back to back. */
  throughputQps: z.number().positive({ error: 'throughputQps must be greater than 0' }),
  /**
   * How the time of a batch of this size varies, as multiples of latencyMs: ascending quantiles at equally
   * spaced probabilities from 0 to 1 (the first is the fastest batch, the last the slowest). Where given,
   * the estimator draws each batch's time from it (`drawSpread`) instead of taking latencyMs. Planning
   * profiles carry none: the planner plans on a fixed tail figure, which is conservative by construction.
   */
  spread: z
    .array(z.number().positive({ error: 'spread values must be greater than 0' }))
    .min(2, { error: 'spread must hold at least 2 quantiles' })
    .max(1001, { error: 'spread must hold at most 1,001 quantiles' })
    .optional(),
});
export type ProfilePoint = z.infer<typeof ProfilePointSchema>;

export const ProfileSourceSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('measured') }),
  z.object({
    kind: z.literal('derived'),
    /** The measured instance type this profile was scaled from. */
    fromInstanceType: z.string().min(1),
    /**
     * Speed-up over the measured type: latency is divided by it, throughput multiplied. Where
     * `batchFactors` is given, that list governs each batch size and this is its factor at the largest one.
     */
    factor: z.number().positive(),
    /** Per batch size, where the speed-up differs with the batch (a GPU derived from a GPU's measured parts). */
    batchFactors: z
      .array(z.object({ batchSize: z.number().int().positive(), factor: z.number().positive() }))
      .optional(),
    /** Why the factor holds, e.g. "c7i.xlarge has 2x the vCPUs of c7i.large, intra-op threads scale". */
    derivation: z.string().min(1, { error: 'derivation must say how the factor was chosen' }),
  }),
]);
export type ProfileSource = z.infer<typeof ProfileSourceSchema>;

export const StageProfileSchema = z
  .object({
    modelId: z.string().min(1),
    instanceType: z.string().min(1),
    source: ProfileSourceSchema,
    points: z.array(ProfilePointSchema).min(1, { error: 'points must list at least one batch size' }),
  })
  .superRefine((p, ctx) => {
    const seen = new Set<number>();
    p.points.forEach((pt, i) => {
      if (seen.has(pt.batchSize))
        ctx.addIssue({
          code: 'custom',
          path: ['points', i, 'batchSize'],
          message: `duplicate batch size ${pt.batchSize}`,
        });
      seen.add(pt.batchSize);
      pt.spread?.forEach((v, k) => {
        if (k > 0 && v < (pt.spread?.[k - 1] as number))
          ctx.addIssue({
            code: 'custom',
            path: ['points', i, 'spread', k],
            message: `spread must be ascending, got ${v} after ${pt.spread?.[k - 1]}`,
          });
      });
    });
  });
export type StageProfile = z.infer<typeof StageProfileSchema>;

/** Validate a profile and sort its points by batch size, so lookups can scan in order. */
export function parseProfile(input: unknown): StageProfile {
  const p = parseOrThrow(StageProfileSchema, input, 'profile');
  return { ...p, points: [...p.points].sort((a, b) => a.batchSize - b.batchSize) };
}

/** Which latency figure of a measured profile becomes the service time. */
export type LatencyFigure = 'p99' | 'p50';

/** Turn an agent's ModelProfile report into a profile the planner can use. */
export function fromModelProfile(report: ModelProfile, figure: LatencyFigure = 'p99'): StageProfile {
  return parseProfile({
    modelId: report.modelId,
    instanceType: report.instanceType,
    source: { kind: 'measured' },
    points: report.entries.map((e) => ({
      batchSize: e.batchSize,
      // A zero reading (sub-resolution timer) would make a free server; floor it at one microsecond.
      latencyMs: Math.max(figure === 'p99' ? e.p99Ms : e.p50Ms, 0.001),
      throughputQps: e.throughputQps,
    })),
  });
}

/** The largest profiled batch size: the planner never doubles a batch beyond it. */
export function maxProfiledBatch(profile: StageProfile): number {
  return Math.max(...profile.points.map((p) => p.batchSize));
}

/**
 * The profiled point that stands for a batch of `batchSize`: the smallest profiled size at least as large
 * (the "worse neighbour": never interpolate towards a faster figure than was measured).
 */
export function pointFor(profile: StageProfile, batchSize: number): ProfilePoint {
  let best: ProfilePoint | undefined;
  for (const p of profile.points) {
    if (p.batchSize >= batchSize && (!best || p.batchSize < best.batchSize)) best = p;
  }
  if (!best)
    throw new ValidationError('batch size', [
      {
        path: 'batchSize',
        message: `batch size ${batchSize} exceeds the largest profiled batch ${maxProfiledBatch(profile)} of ${profile.modelId} on ${profile.instanceType}`,
      },
    ]);
  return best;
}

/** Service time in ms of one batch holding `batchSize` queries. */
export function serviceTimeMs(profile: StageProfile, batchSize: number): number {
  return pointFor(profile, batchSize).latencyMs;
}

/**
 * Service times for every batch size 1..maxBatch, index = batch size (index 0 unused). The estimator
 * looks these up once per batch, so it precomputes them instead of scanning points each time.
 */
export function serviceTable(profile: StageProfile, maxBatch: number): Float64Array {
  const table = new Float64Array(maxBatch + 1);
  for (let b = 1; b <= maxBatch; b++) table[b] = serviceTimeMs(profile, b);
  return table;
}

/** Per batch size 1..maxBatch, the spread of the point that serves it (undefined where it has none). */
export function spreadTable(profile: StageProfile, maxBatch: number): (Float64Array | undefined)[] {
  const table: (Float64Array | undefined)[] = [undefined];
  for (let b = 1; b <= maxBatch; b++) {
    const spread = pointFor(profile, b).spread;
    table.push(spread ? Float64Array.from(spread) : undefined);
  }
  return table;
}

/** The multiple of latencyMs at probability u in [0, 1) of a spread: its inverse CDF, linear between quantiles. */
export function drawSpread(spread: Float64Array, u: number): number {
  const x = u * (spread.length - 1);
  const i = Math.floor(x);
  const lo = spread[i] as number;
  const hi = spread[Math.min(i + 1, spread.length - 1)] as number;
  return lo + (hi - lo) * (x - i);
}

/**
 * Throughput of one replica whose batches hold `maxBatch` queries. At a profiled size this is the measured
 * figure; between sizes the batch runs at the worse neighbour's latency, so it is maxBatch / that latency.
 */
export function replicaThroughputQps(profile: StageProfile, maxBatch: number): number {
  const point = pointFor(profile, maxBatch);
  if (point.batchSize === maxBatch) return point.throughputQps;
  return (maxBatch * 1000) / point.latencyMs;
}

const FactorSchema = z
  .number()
  .positive({ error: 'factor must be greater than 0' })
  .max(1000, { error: 'factor must be at most 1,000' });

export const DeriveSchema = z.object({
  instanceType: z.string().min(1, { error: 'instanceType must not be empty' }),
  factor: FactorSchema,
  derivation: z.string().min(1, { error: 'derivation must say how the factor was chosen' }),
  /** Per batch size, overriding `factor`: one for every measured batch size, and no other. */
  batchFactors: z
    .array(
      z.object({
        batchSize: z.number().int().positive({ error: 'batchSize must be a positive integer' }),
        factor: FactorSchema,
      }),
    )
    .min(1, { error: 'batchFactors must list at least one batch size' })
    .optional(),
});
export type DeriveOptions = z.input<typeof DeriveSchema>;

/**
 * Estimate a profile on another instance type from a measured one: latency / factor, throughput * factor.
 * Only measured profiles may be scaled, so an estimate never compounds on an estimate; the result is
 * marked derived with its basis, so that a planner's output can say which figures were not measured.
 */
export function deriveProfile(measured: StageProfile, options: DeriveOptions): StageProfile {
  const o = parseOrThrow(DeriveSchema, options, 'profile derivation');
  if (measured.source.kind !== 'measured')
    throw new ValidationError('profile derivation', [
      {
        path: 'source',
        message: `only a measured profile can be derived from; ${measured.modelId} on ${measured.instanceType} is derived`,
      },
    ]);
  const factors = new Map((o.batchFactors ?? []).map((f) => [f.batchSize, f.factor]));
  if (o.batchFactors) {
    const measuredSizes = new Set(measured.points.map((p) => p.batchSize));
    const missing = [...measuredSizes].filter((b) => !factors.has(b));
    const extra = [...factors.keys()].filter((b) => !measuredSizes.has(b));
    if (missing.length > 0 || extra.length > 0 || factors.size !== o.batchFactors.length)
      throw new ValidationError('profile derivation', [
        {
          path: 'batchFactors',
          message:
            `must give one factor for each measured batch size (${[...measuredSizes].join(', ')})` +
            (missing.length > 0 ? `; missing ${missing.join(', ')}` : '') +
            (extra.length > 0 ? `; not measured: ${extra.join(', ')}` : '') +
            (factors.size !== o.batchFactors.length ? '; a batch size is listed twice' : ''),
        },
      ]);
  }
  const factorAt = (batch: number) => factors.get(batch) ?? o.factor;
  return parseProfile({
    modelId: measured.modelId,
    instanceType: o.instanceType,
    source: {
      kind: 'derived',
      fromInstanceType: measured.instanceType,
      factor: o.factor,
      derivation: o.derivation,
      ...(o.batchFactors ? { batchFactors: o.batchFactors } : {}),
    },
    points: measured.points.map((p) => ({
      batchSize: p.batchSize,
      latencyMs: p.latencyMs / factorAt(p.batchSize),
      throughputQps: p.throughputQps * factorAt(p.batchSize),
    })),
  });
}
