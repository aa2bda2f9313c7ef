import { z } from 'zod';
import { INSTANCE_CATALOG } from '../model/catalog.ts';
import { MarketSchema } from '../model/instance-type.ts';
import { parseOrThrow } from '../model/validate.ts';

const known = new Set(INSTANCE_CATALOG.map((t) => t.name));

const seconds = (field: string, max: number) =>
  z
    .number({ error: `${field} must be a number of seconds` })
    .positive({ error: `${field} must be greater than 0` })
    .max(max, { error: `${field} must be at most ${max.toLocaleString('en-US')}` });

/**
 * Settings of the schedule cycle. Defaults are filled in once here, so every later step reads plain
 * numbers. Every problem is reported at once, with the field that has it.
 */
export const CycleConfigSchema = z
  .object({
    /** Length of one planning slot. @default 300 */
    slotSeconds: seconds('slotSeconds', 86_400).default(300),
    /** Slots in the planning window (the window is slots x slotSeconds). @default 24 */
    slots: z
      .number()
      .int({ error: 'slots must be a whole number' })
      .min(1, { error: 'slots must be at least 1' })
      .max(512, { error: 'slots must be at most 512' })
      .default(24),
    /** Wall-clock budget of the placement solve. @default 2000 */
    solveTimeLimitMs: z
      .number()
      .positive({ error: 'solveTimeLimitMs must be greater than 0' })
      .max(600_000, { error: 'solveTimeLimitMs must be at most 600,000' })
      .default(2000),
    /** Relative MIP gap at which the solve may stop. @default 0.01 */
    relGap: z.number().min(0).max(1, { error: 'relGap must be at most 1' }).default(0.01),
    /** A running instance silent for this long is presumed dead. @default 180 */
    heartbeatTimeoutSeconds: seconds('heartbeatTimeoutSeconds', 86_400).default(180),
    /** An idle instance with nothing planned for it is retired after this long. @default 600 */
    idleTimeoutSeconds: z.number().min(0, { error: 'idleTimeoutSeconds must be at least 0' }).default(600),
    /** Cap on instances alive at any time, booting ones included. @default 20 */
    maxInstances: z.number().int().min(0, { error: 'maxInstances must be at least 0' }).default(20),
    /** Cap on the fleet's $/h at any time. @default 50 */
    budgetPerHour: z.number().min(0, { error: 'budgetPerHour must be at least 0' }).default(50),
    /** Instance types the stack may launch; absent means every type in the catalog. */
    allowedInstanceTypes: z
      .array(z.string().min(1))
      .min(1, { error: 'allowedInstanceTypes must list at least one type when given' })
      .optional(),
    /** Markets the cycle may buy in; a job still needs `spot: true` to use spot. @default both */
    markets: z
      .array(MarketSchema)
      .min(1, { error: 'markets must list at least one market' })
      .default(['on-demand', 'spot']),
    /** How long the schedule lease lasts; must outlive one cycle. @default 90 */
    leaseTtlSeconds: seconds('leaseTtlSeconds', 3600).default(90),
    /**
     * An instance launched this recently is not declared lost just because the cloud does not list it
     * yet (describe calls are eventually consistent). @default 120
     */
    launchGraceSeconds: z.number().min(0, { error: 'launchGraceSeconds must be at least 0' }).default(120),
  })
  .superRefine((c, ctx) => {
    c.allowedInstanceTypes?.forEach((name, i) => {
      if (!known.has(name))
        ctx.addIssue({
          code: 'custom',
          path: ['allowedInstanceTypes', i],
          message: `unknown instance type ${name}; the catalog has ${[...known].slice(0, 6).join(', ')}, ...`,
        });
    });
    if (c.leaseTtlSeconds * 1000 <= c.solveTimeLimitMs)
      ctx.addIssue({
        code: 'custom',
        path: ['leaseTtlSeconds'],
        message: `leaseTtlSeconds must outlast the solve budget (${c.solveTimeLimitMs / 1000}s), got ${c.leaseTtlSeconds}`,
      });
  });

export type CycleConfig = z.output<typeof CycleConfigSchema>;
export type CycleConfigInput = z.input<typeof CycleConfigSchema>;

/** Validates the cycle's settings and fills in defaults; throws a ValidationError naming every bad field. */
export function parseCycleConfig(input: unknown = {}): CycleConfig {
  return Object.freeze(parseOrThrow(CycleConfigSchema, input, 'cycle config'));
}
