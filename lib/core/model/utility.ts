import { z } from 'zod';

/**
 * Every utility time (deadline, hard deadline, decay window, half-life) is from 1 s to 30 days: a horizon
 * well past the longest job (7 days) and the scheduler's planning window, and one whose timestamps stay
 * exact in the store. Values keep the solver's objective well scaled.
 */
export const MIN_UTILITY_SECONDS = 1;
export const MAX_UTILITY_SECONDS = 30 * 24 * 3600;
export const MIN_UTILITY_VALUE = 0.001;
export const MAX_UTILITY_VALUE = 1e6;

/**
 * A number of seconds within the utility horizon. No check aborts, so that the utility's own refinement
 * (hard deadline before the deadline) is still reported beside a bad bound.
 */
function utilitySeconds(name: string, after = '') {
  return z
    .number()
    .min(MIN_UTILITY_SECONDS, {
      error: (issue) =>
        typeof issue.input === 'number' && issue.input <= 0
          ? `${name} must be a positive number of seconds${after}`
          : `${name} must be at least 1 second${after}`,
    })
    .max(MAX_UTILITY_SECONDS, { error: `${name} must be at most 2,592,000 seconds (30 days)${after}` });
}

/**
 * A deadline-shaped utility: full `value` for completion by `deadlineSeconds` after submission, then a
 * decay. `step` drops to zero at the deadline; `linear` falls to zero over `overSeconds`; `exponential`
 * halves every `halfLifeSeconds`. Past the hard deadline the job is EXPIRED and worth nothing.
 */
export const DecaySchema = z.discriminatedUnion('shape', [
  z.object({ shape: z.literal('step') }),
  z.object({
    shape: z.literal('linear'),
    overSeconds: utilitySeconds('overSeconds'),
  }),
  z.object({
    shape: z.literal('exponential'),
    halfLifeSeconds: utilitySeconds('halfLifeSeconds'),
  }),
]);
export type Decay = z.infer<typeof DecaySchema>;

export const UtilitySchema = z
  .object({
    deadlineSeconds: utilitySeconds('deadlineSeconds', ' after submission'),
    value: z
      .number()
      .min(MIN_UTILITY_VALUE, {
        error: (issue) =>
          typeof issue.input === 'number' && issue.input <= 0
            ? 'value must be a positive number'
            : `value must be at least ${MIN_UTILITY_VALUE}`,
      })
      .max(MAX_UTILITY_VALUE, { error: 'value must be at most 1,000,000' }),
    decay: DecaySchema.default({ shape: 'step' }),
    /** After this many seconds from submission the job expires. Defaults from the decay shape. */
    hardDeadlineSeconds: utilitySeconds('hardDeadlineSeconds', ' after submission').optional(),
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
