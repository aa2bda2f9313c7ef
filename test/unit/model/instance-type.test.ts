import { describe, expect, it } from 'vitest';
import { InstanceTypeSchema, pricePerHour } from '../../../lib/core/model/instance-type.ts';
import { instanceType, issuesOf, message } from './builders.ts';

describe('InstanceTypeSchema', () => {
  it('accepts a GPU type and defaults arch and Inferentia chips', () => {
    const t = InstanceTypeSchema.parse(instanceType());
    expect(t.arch).toBe('x86_64');
    expect(t.inferentiaChips).toBe(0);
  });

  it('accepts a CPU type without a GPU model', () => {
    const cpu = instanceType({
      name: 'c7i.large',
      family: 'c7i',
      gpus: 0,
      gpuModel: undefined,
      gpuMemoryMiB: undefined,
    });
    expect(issuesOf(InstanceTypeSchema, cpu)).toEqual([]);
  });

  it('accepts a spot price equal to on-demand', () => {
    expect(issuesOf(InstanceTypeSchema, instanceType({ spotPerHour: 1.006 }))).toEqual([]);
  });

  const rejections: [string, unknown, string, string | RegExp][] = [
    [
      'the name has no size',
      instanceType({ name: 'g5' }),
      'name',
      'name must look like an EC2 type, e.g. g5.xlarge',
    ],
    [
      'the name is upper case',
      instanceType({ name: 'G5.XLARGE' }),
      'name',
      'name must look like an EC2 type, e.g. g5.xlarge',
    ],
    ['the family is empty', instanceType({ family: '' }), 'family', />=1 characters/],
    ['the arch is unknown', instanceType({ arch: 'riscv' as never }), 'arch', /"x86_64"\|"arm64"/],
    ['vcpu is zero', instanceType({ vcpu: 0 }), 'vcpu', 'vcpu must be a positive whole number'],
    ['vcpu is fractional', instanceType({ vcpu: 2.5 }), 'vcpu', /expected int/],
    [
      'memoryMiB is negative',
      instanceType({ memoryMiB: -1 }),
      'memoryMiB',
      'memoryMiB must be a positive whole number',
    ],
    ['gpus is negative', instanceType({ gpus: -1, gpuModel: undefined }), 'gpus', />=0/],
    [
      'a GPU type has no GPU model',
      instanceType({ gpuModel: undefined }),
      'gpuModel',
      'gpuModel is required when gpus > 0',
    ],
    [
      'a CPU type names a GPU model',
      instanceType({ gpus: 0, gpuModel: 'T4' }),
      'gpuModel',
      'gpuModel T4 given but gpus is 0',
    ],
    ['gpuMemoryMiB is zero', instanceType({ gpuMemoryMiB: 0 }), 'gpuMemoryMiB', />0/],
    ['Inferentia chips are negative', instanceType({ inferentiaChips: -1 }), 'inferentiaChips', />=0/],
    [
      'the spot price is zero',
      instanceType({ spotPerHour: 0 }),
      'spotPerHour',
      'spotPerHour must be a positive $/h price',
    ],
    [
      'spot costs more than on-demand',
      instanceType({ onDemandPerHour: 1, spotPerHour: 1.5 }),
      'spotPerHour',
      'spotPerHour must not exceed onDemandPerHour (1), got 1.5',
    ],
    ['bootSeconds is zero', instanceType({ bootSeconds: 0 }), 'bootSeconds', />0/],
  ];

  it.each(rejections)('fails when %s', (_what, input, path, expected) => {
    expect(issuesOf(InstanceTypeSchema, input)).toEqual([{ path, message: message(expected) }]);
  });
});

describe('InstanceTypeSchema prices', () => {
  it('fails when the on-demand price is zero, and names the spot price that now exceeds it', () => {
    expect(issuesOf(InstanceTypeSchema, instanceType({ onDemandPerHour: 0, spotPerHour: 0.1 }))).toEqual([
      { path: 'onDemandPerHour', message: 'onDemandPerHour must be a positive $/h price' },
      { path: 'spotPerHour', message: 'spotPerHour must not exceed onDemandPerHour (0), got 0.1' },
    ]);
  });
});

describe('pricePerHour', () => {
  it('charges the spot price on spot and the on-demand price otherwise', () => {
    const t = InstanceTypeSchema.parse(instanceType({ onDemandPerHour: 2, spotPerHour: 0.8 }));
    expect(pricePerHour(t, 'spot')).toBe(0.8);
    expect(pricePerHour(t, 'on-demand')).toBe(2);
  });
});
