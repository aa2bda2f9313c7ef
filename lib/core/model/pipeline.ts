import { z } from 'zod';
import { ModelRefSchema } from './job.ts';

const ID = /^[a-z][a-z0-9-]{0,62}$/;

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
    .gt(0, { error: 'probability must be greater than 0' })
    .max(1, { error: 'probability must be at most 1' })
    .default(1),
});
export type Edge = z.infer<typeof EdgeSchema>;

export const SampleTraceSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('recorded'), interArrivalMs: z.array(z.number().min(0)).min(1) }),
  z.object({
    kind: z.literal('gamma'),
    ratePerSecond: z.number().positive(),
    /** Coefficient of variation, as the InferLine paper defines it (sigma^2 / mu^2). */
    cv: z.number().positive(),
    durationSeconds: z.number().positive().max(3600),
    seed: z.number().int().default(1),
  }),
]);

/** A DAG of model stages with an end-to-end P99 latency SLO. */
export const PipelineSpecSchema = z
  .object({
    name: z
      .string()
      .regex(ID, { error: 'name must be lowercase letters, digits and "-", starting with a letter' }),
    owner: z.string().min(1).default('default'),
    sloP99Ms: z
      .number()
      .positive({ error: 'sloP99Ms must be greater than 0' })
      .max(60_000, { error: 'sloP99Ms must be at most 60,000' }),
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
      .min(1, { error: 'surgeFactor must be at least 1' })
      .max(10, { error: 'surgeFactor must be at most 10' })
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
