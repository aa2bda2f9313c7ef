import { z } from 'zod';
import { type FieldIssue, ValidationError } from '../errors.ts';
import data from './catalog/instance-types.json' with { type: 'json' };
import { type InstanceType, InstanceTypeSchema } from './instance-type.ts';
import { parseOrThrow, toFieldIssues } from './validate.ts';

/**
 * The EC2 instance types the scheduler knows, loaded from a versioned JSON file. The file stores what
 * AWS publishes (hardware, on-demand price) plus documented estimates (spot discount per family, boot
 * seconds); spot prices and families are derived here so that they cannot drift from their basis.
 */

const DiscountSchema = z
  .number()
  .min(0, { error: 'discount must be at least 0' })
  .lt(1, { error: 'discount must be less than 1' });

/**
 * One entry of the file: an InstanceType without the fields derived at load. Strict, so that a misspelt
 * field (`gpuModle`) is an error rather than silently dropped.
 */
const { family: _family, spotPerHour: _spot, ...entryShape } = InstanceTypeSchema.shape;
const CatalogEntrySchema = z.strictObject(entryShape);

export const CatalogFileSchema = z
  .object({
    version: z.string().min(1, { error: 'version must not be empty' }),
    source: z.string().min(1, { error: 'source must say where the data comes from' }),
    spotDiscount: z.object({
      basis: z.string().min(1, { error: 'spotDiscount.basis must explain the discount' }),
      byFamily: z.record(z.string(), DiscountSchema),
    }),
    bootSeconds: z.string().min(1, { error: 'bootSeconds must explain how boot times were estimated' }),
    types: z.array(CatalogEntrySchema).min(1, { error: 'types must list at least one instance type' }),
  })
  .superRefine((file, ctx) => {
    const seen = new Set<string>();
    file.types.forEach((t, i) => {
      if (seen.has(t.name))
        ctx.addIssue({ code: 'custom', path: ['types', i, 'name'], message: `duplicate type ${t.name}` });
      seen.add(t.name);
      const family = familyOf(t.name);
      if (file.spotDiscount.byFamily[family] === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['types', i, 'name'],
          message: `no spot discount for family ${family}; known: ${Object.keys(file.spotDiscount.byFamily).join(', ')}`,
        });
    });
  });
export type CatalogFile = z.infer<typeof CatalogFileSchema>;

/** `g5.xlarge` -> `g5`. */
export function familyOf(name: string): string {
  const dot = name.indexOf('.');
  return dot < 0 ? name : name.slice(0, dot);
}

/** Spot price from on-demand and a discount, rounded to 5 decimals (AWS quotes prices to 4-6). */
export function spotPrice(onDemandPerHour: number, discount: number): number {
  return Math.round(onDemandPerHour * (1 - discount) * 1e5) / 1e5;
}

/**
 * Validate a catalog file and expand its entries into InstanceTypes. Throws a ValidationError naming every
 * bad field, with paths like `types.12.vcpu`, so a broken data file fails at import, not at placement.
 */
export function loadCatalog(input: unknown): { version: string; types: readonly InstanceType[] } {
  const file = parseOrThrow(CatalogFileSchema, input, 'instance catalog');
  const expanded = file.types.map((entry) => {
    const family = familyOf(entry.name);
    const discount = file.spotDiscount.byFamily[family] ?? 0;
    return { ...entry, family, spotPerHour: spotPrice(entry.onDemandPerHour, discount) };
  });
  const issues: FieldIssue[] = [];
  const types = expanded.flatMap((entry, i) => {
    const result = InstanceTypeSchema.safeParse(entry);
    if (result.success) return [result.data];
    for (const issue of toFieldIssues(result.error))
      issues.push({ ...issue, path: `types.${i}.${issue.path}` });
    return [];
  });
  if (issues.length > 0) throw new ValidationError('instance catalog', issues);
  return { version: file.version, types: Object.freeze(types.map((t) => Object.freeze(t))) };
}

const loaded = loadCatalog(data);

export const CATALOG_VERSION: string = loaded.version;
export const INSTANCE_CATALOG: readonly InstanceType[] = loaded.types;

const byName = new Map(INSTANCE_CATALOG.map((t) => [t.name, t]));

export function findInstanceType(name: string): InstanceType | undefined {
  return byName.get(name);
}
