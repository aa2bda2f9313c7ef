import { describe, expect, it } from 'vitest';
import {
  addResources,
  copiesThatFit,
  fits,
  ResourcesSchema,
  scaleResources,
  subtractResources,
  ZERO_RESOURCES,
} from '../../../lib/core/model/resources.ts';
import { issuesOf, message } from './builders.ts';

const r = (vcpu: number, memoryMiB: number, gpus: number) => ({ vcpu, memoryMiB, gpus });

describe('ResourcesSchema', () => {
  it('accepts fractional vCPU shares', () => {
    expect(ResourcesSchema.parse(r(0.25, 512, 0))).toEqual(r(0.25, 512, 0));
  });

  const rejections: [string, unknown, string, string | RegExp][] = [
    ['vcpu is negative', r(-1, 0, 0), 'vcpu', 'vcpu must be at least 0'],
    ['vcpu is missing', { memoryMiB: 1, gpus: 0 }, 'vcpu', 'vcpu must be a number'],
    ['memory is negative', r(0, -1, 0), 'memoryMiB', 'memoryMiB must be at least 0'],
    ['memory is a string', { vcpu: 1, memoryMiB: '1', gpus: 0 }, 'memoryMiB', 'memoryMiB must be a number'],
    ['gpus is fractional', r(0, 0, 0.5), 'gpus', 'gpus must be a whole number'],
    ['gpus is negative', r(0, 0, -1), 'gpus', 'gpus must be at least 0'],
    ['vcpu is infinite', r(Number.POSITIVE_INFINITY, 0, 0), 'vcpu', /number/],
  ];

  it.each(rejections)('fails when %s', (_what, input, path, expected) => {
    expect(issuesOf(ResourcesSchema, input)).toEqual([{ path, message: message(expected) }]);
  });
});

describe('resource arithmetic', () => {
  it('adds, subtracts and scales every dimension', () => {
    expect(addResources(r(1, 2, 3), r(4, 5, 6))).toEqual(r(5, 7, 9));
    expect(subtractResources(r(4, 5, 6), r(1, 2, 3))).toEqual(r(3, 3, 3));
    expect(scaleResources(r(1, 2, 3), 2)).toEqual(r(2, 4, 6));
  });

  it('fits a request only when every dimension fits', () => {
    expect(fits(r(4, 16_384, 1), r(4, 16_384, 1))).toBe(true);
    expect(fits(r(4, 16_384, 1), r(4, 16_384, 0))).toBe(false);
    expect(fits(r(4.1, 1, 0), r(4, 16_384, 1))).toBe(false);
  });

  it('tolerates float error in summed vCPU shares', () => {
    expect(fits(r(0.1 + 0.2, 0, 0), r(0.3, 0, 0))).toBe(true);
  });

  it('counts the copies that fit, limited by the tightest dimension', () => {
    expect(copiesThatFit(r(2, 4096, 1), r(16, 65_536, 4))).toBe(4);
    expect(copiesThatFit(r(2, 4096, 0), r(16, 8192, 4))).toBe(2);
    expect(copiesThatFit(r(2, 4096, 1), r(16, 65_536, 0))).toBe(0);
    expect(copiesThatFit(ZERO_RESOURCES, r(1, 1, 1))).toBe(Number.POSITIVE_INFINITY);
  });
});
