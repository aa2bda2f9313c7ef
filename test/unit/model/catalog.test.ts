import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../lib/core/errors.ts';
import data from '../../../lib/core/model/catalog/instance-types.json' with { type: 'json' };
import {
  CATALOG_VERSION,
  CatalogFileSchema,
  familyOf,
  findInstanceType,
  INSTANCE_CATALOG,
  loadCatalog,
  spotPrice,
} from '../../../lib/core/model/catalog.ts';
import { InstanceTypeSchema } from '../../../lib/core/model/instance-type.ts';

/**
 * The families the scheduler must be able to place on. P3 appears as p3dn.24xlarge: EC2's own instance
 * data no longer lists p3.2xlarge/8xlarge/16xlarge (see the catalog check against the emulator).
 */
const FAMILIES = ['c7i', 'm7i', 'r7i', 'g4dn', 'g5', 'g6', 'p3dn', 'p4d', 'p5', 'inf2'];

/** Position of a type in the file, so failure cases can name the path the loader must report. */
const at = (name: string): number => data.types.findIndex((t) => t.name === name);

/** A copy of the real file with one entry changed, for the loader's failure cases. */
function withEntry(name: string, patch: Record<string, unknown>) {
  const copy = structuredClone(data) as { types: Record<string, unknown>[] };
  copy.types[at(name)] = { ...copy.types[at(name)], ...patch };
  return copy;
}

describe('instance catalog data', () => {
  it('has a version', () => {
    expect(CATALOG_VERSION).toMatch(/^\d{4}-\d{2}-\d{2}\.\d+$/);
  });

  it('lists at least 40 instance types', () => {
    expect(INSTANCE_CATALOG.length).toBeGreaterThanOrEqual(40);
  });

  it.each(FAMILIES)('has the %s family', (family) => {
    expect(INSTANCE_CATALOG.filter((t) => t.family === family).length).toBeGreaterThan(0);
  });

  it('has unique names', () => {
    const names = INSTANCE_CATALOG.map((t) => t.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('derives each family from its name', () => {
    for (const t of INSTANCE_CATALOG) expect(t.family).toBe(t.name.split('.')[0]);
  });

  it('prices spot below on-demand for every type', () => {
    for (const t of INSTANCE_CATALOG) expect(t.spotPerHour, t.name).toBeLessThan(t.onDemandPerHour);
  });

  it('applies the documented family discount to every spot price', () => {
    for (const t of INSTANCE_CATALOG) {
      const discount = data.spotDiscount.byFamily[t.family as keyof typeof data.spotDiscount.byFamily];
      expect(t.spotPerHour, t.name).toBeCloseTo(t.onDemandPerHour * (1 - discount), 4);
    }
  });

  it('gives every GPU type a GPU model and GPU memory, and no CPU type either', () => {
    for (const t of INSTANCE_CATALOG) {
      if (t.gpus > 0) {
        expect(t.gpuModel, t.name).toBeTruthy();
        expect(t.gpuMemoryMiB, t.name).toBeGreaterThan(0);
      } else {
        expect(t.gpuModel, t.name).toBeUndefined();
        expect(t.gpuMemoryMiB, t.name).toBeUndefined();
      }
    }
  });

  it('gives Inferentia chips to inf2 types only', () => {
    for (const t of INSTANCE_CATALOG) expect(t.inferentiaChips > 0, t.name).toBe(t.family === 'inf2');
  });

  it('boots GPU and Inferentia types slower than CPU types', () => {
    const slowestCpu = Math.max(
      ...INSTANCE_CATALOG.filter((t) => t.gpus === 0 && t.inferentiaChips === 0).map((t) => t.bootSeconds),
    );
    for (const t of INSTANCE_CATALOG.filter((x) => x.gpus > 0 || x.inferentiaChips > 0))
      expect(t.bootSeconds, t.name).toBeGreaterThan(slowestCpu);
  });

  it('validates every entry with InstanceTypeSchema', () => {
    for (const t of INSTANCE_CATALOG) expect(InstanceTypeSchema.safeParse(t).success, t.name).toBe(true);
  });

  it('validates the raw JSON file with the catalog file schema', () => {
    expect(CatalogFileSchema.safeParse(data).success).toBe(true);
  });

  it('documents where the data and the estimates come from', () => {
    expect(data.source).toMatch(/DescribeInstanceTypes/);
    expect(data.spotDiscount.basis).toMatch(/discount/);
    expect(data.bootSeconds).toMatch(/[Ee]stimates/);
  });

  it('freezes the catalog and its entries', () => {
    expect(Object.isFrozen(INSTANCE_CATALOG)).toBe(true);
    expect(Object.isFrozen(INSTANCE_CATALOG[0])).toBe(true);
  });
});

describe('findInstanceType', () => {
  it('finds a type by name', () => {
    expect(findInstanceType('g5.xlarge')).toMatchObject({ vcpu: 4, gpus: 1, gpuModel: 'A10G', family: 'g5' });
    expect(findInstanceType('p5.48xlarge')).toMatchObject({
      gpus: 8,
      gpuModel: 'H100',
      gpuMemoryMiB: 81_920,
    });
  });

  it('returns undefined for a type it does not know', () => {
    expect(findInstanceType('x99.huge')).toBeUndefined();
  });
});

describe('loadCatalog', () => {
  it('loads the real file', () => {
    expect(loadCatalog(data).types).toHaveLength(INSTANCE_CATALOG.length);
  });

  const failures: [string, unknown, string, string | RegExp][] = [
    [
      'an entry has zero vCPU',
      withEntry('m7i.large', { vcpu: 0 }),
      `types.${at('m7i.large')}.vcpu`,
      'vcpu must be a positive whole number',
    ],
    [
      'a field name is misspelt',
      withEntry('g4dn.xlarge', { gpuModle: 'T4' }),
      `types.${at('g4dn.xlarge')}`,
      /Unrecognized key: "gpuModle"/,
    ],
    [
      'a GPU entry has no model',
      withEntry('g6.xlarge', { gpuModel: undefined }),
      `types.${at('g6.xlarge')}.gpuModel`,
      'gpuModel is required when gpus > 0',
    ],
    [
      'two entries share a name',
      withEntry('c7i.xlarge', { name: 'c7i.large' }),
      `types.${at('c7i.xlarge')}.name`,
      /duplicate type c7i.large/,
    ],
    [
      'a family has no spot discount',
      withEntry('r7i.large', { name: 'x9.large' }),
      `types.${at('r7i.large')}.name`,
      /no spot discount for family x9; known: c7i, m7i/,
    ],
  ];

  it('finds every type the failure cases change', () => {
    for (const name of ['m7i.large', 'g4dn.xlarge', 'g6.xlarge', 'c7i.xlarge', 'r7i.large'])
      expect(at(name)).toBeGreaterThan(0);
  });

  it.each(failures)('fails when %s, naming the field', (_what, input, path, expected) => {
    let error: unknown;
    try {
      loadCatalog(input);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    const issue = (error as ValidationError).issues.find((i) => i.path === path);
    expect(issue?.message).toMatch(expected);
  });

  it('fails when a discount is 1 or more', () => {
    const copy = structuredClone(data);
    copy.spotDiscount.byFamily.g5 = 1;
    expect(() => loadCatalog(copy)).toThrow('spotDiscount.byFamily.g5: discount must be less than 1');
  });

  it('fails when the version is missing', () => {
    const { version: _omit, ...rest } = data;
    expect(() => loadCatalog(rest)).toThrow(/version/);
  });
});

describe('catalog helpers', () => {
  it('takes the family from the part before the dot', () => {
    expect(familyOf('p3dn.24xlarge')).toBe('p3dn');
    expect(familyOf('g5')).toBe('g5');
  });

  it('rounds spot prices to five decimals', () => {
    expect(spotPrice(0.08925, 0.6)).toBe(0.0357);
    expect(spotPrice(1.006, 0.6)).toBe(0.4024);
  });
});
