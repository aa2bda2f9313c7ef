import { z } from 'zod';

/**
 * A deadline-shaped utility: full `value` for completion by `deadlineSeconds` after submission, then a
 * decay. `step` drops to zero at the deadline; `linear` falls to zero over `overSeconds`; `exponential`
 * halves every `halfLifeSeconds`. Past the hard deadline the job is EXPIRED and worth nothing.
 */
export const DecaySchema = z.discriminatedUnion('shape', [
  z.object({ shape: z.literal('step') }),
  z.object({
    shape: z.literal('linear'),
    overSeconds: z.number().positive({ error: 'overSeconds must be a positive number of seconds' }),
  }),
  z.object({
    shape: z.literal('exponential'),
    halfLifeSeconds: z.number().positive({ error: 'halfLifeSeconds must be a positive number of seconds' }),
  }),
]);
export type Decay = z.infer<typeof DecaySchema>;

export const UtilitySchema = z
  .object({
    deadlineSeconds: z
      .number()
      .positive({ error: 'deadlineSeconds must be a positive number of seconds after submission' }),
    value: z
      .number()
      .positive({ error: 'value must be a positive number' })
      .max(1e6, { error: 'value must be at most 1,000,000' }),
    decay: DecaySchema.default({ shape: 'step' }),
    /** After this many seconds from submission the job expires. Defaults from the decay shape. */
    hardDeadlineSeconds: z.number().positive().optional(),
  })
  .superRefine((u, ctx) => {
    if (u.hardDeadlineSeconds !== undefined && u.hardDeadlineSeconds < u.deadlineSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['hardDeadlineSeconds'],
        message: `hardDeadlineSeconds must be at least deadlineSeconds (${u.deadlineSeconds}), got ${u.hardDeadlineSeconds}`,
      });
    }
  });
export type Utility = z.infer<typeof UtilitySchema>;

/** Seconds after submission past which no completion earns value and the job may be expired. */
export function hardDeadlineSeconds(u: Utility): number {
  if (u.hardDeadlineSeconds !== undefined) return u.hardDeadlineSeconds;
  switch (u.decay.shape) {
    case 'step':
      return u.deadlineSeconds;
    case 'linear':
      return u.deadlineSeconds + u.decay.overSeconds;
    case 'exponential':
      // After ten half-lives less than 0.1% of the value remains.
      return u.deadlineSeconds + 10 * u.decay.halfLifeSeconds;
  }
}

/** Value earned by completing `completionSeconds` after submission. */
export function utilityAt(u: Utility, completionSeconds: number): number {
  if (completionSeconds <= u.deadlineSeconds) return u.value;
  if (completionSeconds > hardDeadlineSeconds(u)) return 0;
  const late = completionSeconds - u.deadlineSeconds;
  switch (u.decay.shape) {
    case 'step':
      return 0;
    case 'linear':
      return Math.max(0, u.value * (1 - late / u.decay.overSeconds));
    case 'exponential':
      return u.value * 0.5 ** (late / u.decay.halfLifeSeconds);
  }
}
