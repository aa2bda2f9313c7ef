import { z } from 'zod';
import { atLeast, ModelRefSchema } from './job.ts';

const ID = /^[a-z][a-z0-9-]{0,62}$/;

/*
 * Bounds of a pipeline spec's numbers (README, "Inference pipelines"). As for job specs (job.ts), a spec
 * that validates must be storable (the DynamoDB marshaller refuses numbers past 2^53, DynamoDB magnitudes
 * below 1e-130) and must not fail later for a number. A Gamma sample's size needs no upper bound of its
 * own: the planner draws only its first 20,000 arrivals (MAX_PLANNING_ARRIVALS, control/pipeline-scale.ts).
 */

/** A P99 under a millisecond cannot be met across the router's network hop. */
export const MIN_SLO_MS = 1;
export const MAX_SLO_MS = 60_000;
/** One in a million: a rarer branch is one the planner's sample never takes. */
export const MIN_EDGE_PROBABILITY = 0.000_001;
export const MIN_SURGE_FACTOR = 1;
export const MAX_SURGE_FACTOR = 10;
/** One query every 100 s. */
export const MIN_SAMPLE_RATE_PER_SECOND = 0.01;
/** One router (a single agent process) takes every query of a pipeline, far below this. */
export const MAX_SAMPLE_RATE_PER_SECOND = 100_000;
/** Nearly evenly spaced arrivals; 1 is a Poisson process, 4 the InferLine paper's bursty case. */
export const MIN_SAMPLE_CV = 0.01;
/** The trace generator's own limit (GammaSegmentSchema, inference/traces.ts). */
export const MAX_SAMPLE_CV = 100;
export const MIN_SAMPLE_SECONDS = 1;
export const MAX_SAMPLE_SECONDS = 3600;
/**
 * Arrivals a Gamma sample must expect (ratePerSecond x durationSeconds): a P99 taken over fewer says little,
 * and a sample expecting one arrival draws none about a third of the time. A re-plan after drift keeps the
 * same floor (control/pipeline-scale.ts).
 */
export const MIN_SAMPLE_ARRIVALS = 30;
/**
 * A recorded sample travels in the submission message and is stored in the pipeline's record: 10,000 gaps
 * at full precision are about 190 KB of JSON, inside SQS's 256 KiB message and DynamoDB's 400 KB item.
 */
export const MAX_RECORDED_GAPS = 10_000;
/** A nanosecond: recorded gaps are 0 (arrivals in the same instant) or at least this. */
export const MIN_RECORDED_GAP_MS = 0.000_001;
/** The seed of a 32-bit generator (mulberry32). */
export const MAX_SAMPLE_SEED = 2 ** 32 - 1;

const fmt = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 6 });

export const StageSchema = z.object({
  id: z
    .string()
    .regex(ID, { error: 'stage id must be lowercase letters, digits and "-", starting with a letter' }),
  model: ModelRefSchema,
  /** Instance types the planner may use for this stage; defaults to all allowed by the stack. */
  instanceTypes: z.array(z.string().min(1)).min(1).optional(),
});
export type Stage = z.infer<typeof StageSchema>;

/** `to` receives a query that left `from` with this probability (conditional flow). */
export const EdgeSchema = z.object({
  from: z.string().min(1),
  to: z.string().min(1),
  probability: z
    .number()
    .min(MIN_EDGE_PROBABILITY, atLeast('probability', MIN_EDGE_PROBABILITY, ' (one in a million)'))
    .max(1, { error: 'probability must be at most 1' })
    .default(1),
});
export type Edge = z.infer<typeof EdgeSchema>;

/** Recorded inter-arrival gaps in milliseconds, the first from time 0. */
const RecordedTraceSchema = z
  .object({
    kind: z.literal('recorded'),
    interArrivalMs: z
      .array(
        z
          .number({ error: 'interArrivalMs gaps must be numbers' })
          .min(0, { error: 'interArrivalMs gaps must be at least 0' })
          .max(MAX_SAMPLE_SECONDS * 1000, {
            error: 'interArrivalMs gaps must be at most 3,600,000 (an hour)',
          })
          .refine((gap) => !(gap > 0 && gap < MIN_RECORDED_GAP_MS), {
            error: (issue) =>
              `interArrivalMs gaps must be 0 or at least ${MIN_RECORDED_GAP_MS} (a nanosecond), got ${issue.input}`,
          }),
      )
      .min(1, { error: 'interArrivalMs must list at least one gap' })
      .max(MAX_RECORDED_GAPS, {
        error: (issue) =>
          `interArrivalMs must list at most ${fmt(MAX_RECORDED_GAPS)} gaps, got ${fmt((issue.input as unknown[]).length)}`,
      }),
  })
  .superRefine((t, ctx) => {
    // A gap out of bounds is already reported where it is.
    if (t.interArrivalMs.some((gap) => !(gap >= 0 && gap <= MAX_SAMPLE_SECONDS * 1000))) return;
    const spanMs = t.interArrivalMs.reduce((sum, gap) => sum + gap, 0);
    if (spanMs > MAX_SAMPLE_SECONDS * 1000)
      ctx.addIssue({
        code: 'custom',
        path: ['interArrivalMs'],
        message: `a recorded sample may span at most 3,600,000 ms (an hour); its gaps add up to ${fmt(spanMs)} ms`,
      });
  });

/** Gamma arrivals drawn from a seed (inference/traces.ts). */
const GammaTraceSchema = z
  .object({
    kind: z.literal('gamma'),
    ratePerSecond: z
      .number()
      .min(MIN_SAMPLE_RATE_PER_SECOND, atLeast('ratePerSecond', MIN_SAMPLE_RATE_PER_SECOND))
      .max(MAX_SAMPLE_RATE_PER_SECOND, { error: 'ratePerSecond must be at most 100,000' }),
    /** Coefficient of variation, as the InferLine paper defines it (sigma^2 / mu^2). */
    cv: z
      .number()
      .min(MIN_SAMPLE_CV, atLeast('cv', MIN_SAMPLE_CV))
      .max(MAX_SAMPLE_CV, { error: `cv must be at most ${MAX_SAMPLE_CV}` }),
    durationSeconds: z
      .number()
      .min(MIN_SAMPLE_SECONDS, atLeast('durationSeconds', MIN_SAMPLE_SECONDS))
      .max(MAX_SAMPLE_SECONDS, { error: 'durationSeconds must be at most 3,600 (an hour)' }),
    seed: z
      .number()
      .min(0, { error: 'seed must be at least 0' })
      .max(MAX_SAMPLE_SEED, { error: 'seed must be at most 4,294,967,295 (the generator keeps 32 bits)' })
      .refine(Number.isInteger, { error: 'seed must be a whole number' })
      .default(1),
  })
  .superRefine((t, ctx) => {
    const issue = sampleSizeIssue(t.ratePerSecond, t.durationSeconds);
    if (issue) ctx.addIssue({ code: 'custom', path: ['durationSeconds'], message: issue });
  });

/**
 * The arrivals a Gamma sample expects, ratePerSecond x durationSeconds, must be at least
 * MIN_SAMPLE_ARRIVALS. Checked only when both are within their own bounds, which already say what is
 * wrong otherwise; the message gives the duration that fits the rate, since the rate is the traffic's.
 */
function sampleSizeIssue(rate: number, seconds: number): string | undefined {
  const inBounds = (v: number, min: number, max: number) => v >= min && v <= max;
  if (!inBounds(rate, MIN_SAMPLE_RATE_PER_SECOND, MAX_SAMPLE_RATE_PER_SECOND)) return undefined;
  if (!inBounds(seconds, MIN_SAMPLE_SECONDS, MAX_SAMPLE_SECONDS)) return undefined;
  const expected = rate * seconds;
  const sample = `a sample of ${fmt(rate)}/s for ${fmt(seconds)} s expects ${fmt(expected)} arrivals`;
  if (expected < MIN_SAMPLE_ARRIVALS)
    return `${sample}; it must expect at least ${MIN_SAMPLE_ARRIVALS} (ratePerSecond x durationSeconds): durationSeconds must be at least ${fmt(Math.ceil(MIN_SAMPLE_ARRIVALS / rate))} at this rate`;
  return undefined;
}

export const SampleTraceSchema = z.discriminatedUnion('kind', [RecordedTraceSchema, GammaTraceSchema]);

/** A DAG of model stages with an end-to-end P99 latency SLO. */
export const PipelineSpecSchema = z
  .object({
    name: z
      .string()
      .regex(ID, { error: 'name must be lowercase letters, digits and "-", starting with a letter' }),
    owner: z.string().min(1).default('default'),
    sloP99Ms: z
      .number()
      .min(MIN_SLO_MS, atLeast('sloP99Ms', MIN_SLO_MS, ' (a millisecond)'))
      .max(MAX_SLO_MS, { error: 'sloP99Ms must be at most 60,000 (a minute)' }),
    stages: z.array(StageSchema).min(1, { error: 'stages must list at least one stage' }).max(32),
    edges: z.array(EdgeSchema).default([]),
    sampleTrace: SampleTraceSchema.optional(),
    /**
     * Serving headroom covers a surge to this multiple of the sample's rate over one instance boot
     * (lib/core/inference/headroom.ts; 3 when absent). 1 keeps only what the sample's own bursts need;
     * more buys protection from larger bursts with replicas that serve all the time.
     */
    surgeFactor: z
      .number()
      .min(MIN_SURGE_FACTOR, { error: `surgeFactor must be at least ${MIN_SURGE_FACTOR}` })
      .max(MAX_SURGE_FACTOR, { error: `surgeFactor must be at most ${MAX_SURGE_FACTOR}` })
      .optional(),
    /**
     * Let the warm headroom run on spot capacity (false when absent). The headroom then costs the spot
     * price, and the plan's hardware and batches are chosen with it priced so; the replicas that serve
     * the plan and the tuner's scale-ups stay on-demand. A spot interruption takes a warm replica away
     * until its replacement boots: a burst in that window meets less headroom.
     */
    spotHeadroom: z.boolean({ error: 'spotHeadroom must be true or false' }).optional(),
  })
  .superRefine((p, ctx) => {
    const ids = new Set<string>();
    p.stages.forEach((s, i) => {
      if (ids.has(s.id))
        ctx.addIssue({ code: 'custom', path: ['stages', i, 'id'], message: `duplicate stage id ${s.id}` });
      ids.add(s.id);
    });
    const known = [...ids].join(', ');
    p.edges.forEach((e, i) => {
      if (!ids.has(e.from))
        ctx.addIssue({
          code: 'custom',
          path: ['edges', i, 'from'],
          message: `unknown stage ${e.from}; stages are ${known}`,
        });
      if (!ids.has(e.to))
        ctx.addIssue({
          code: 'custom',
          path: ['edges', i, 'to'],
          message: `unknown stage ${e.to}; stages are ${known}`,
        });
    });
    const cycle = findCycle(
      p.stages.map((s) => s.id),
      p.edges,
    );
    if (cycle)
      ctx.addIssue({ code: 'custom', path: ['edges'], message: `edges form a cycle: ${cycle.join(' -> ')}` });
  });
export type PipelineSpec = z.infer<typeof PipelineSpecSchema>;

/** Returns one cycle as a list of stage ids (first repeated last), or undefined for a DAG. */
export function findCycle(
  ids: readonly string[],
  edges: readonly { from: string; to: string }[],
): string[] | undefined {
  const next = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const e of edges) next.get(e.from)?.push(e.to);
  const color = new Map<string, 0 | 1 | 2>();
  const stack: string[] = [];
  const visit = (id: string): string[] | undefined => {
    color.set(id, 1);
    stack.push(id);
    for (const to of next.get(id) ?? []) {
      const c = color.get(to) ?? 0;
      if (c === 1) return [...stack.slice(stack.indexOf(to)), to];
      if (c === 0) {
        const found = visit(to);
        if (found) return found;
      }
    }
    stack.pop();
    color.set(id, 2);
    return undefined;
  };
  for (const id of ids) {
    if ((color.get(id) ?? 0) === 0) {
      const found = visit(id);
      if (found) return found;
    }
  }
  return undefined;
}

/** Stages with no incoming edge: where queries enter. */
export function entryStages(p: Pick<PipelineSpec, 'stages' | 'edges'>): string[] {
  const targets = new Set(p.edges.map((e) => e.to));
  return p.stages.map((s) => s.id).filter((id) => !targets.has(id));
}
