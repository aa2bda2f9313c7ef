import { describe, expect, it } from 'vitest';
import { PlacementSchema, PlacementTargetSchema } from '../../../lib/core/model/placement.ts';
import { issuesOf, message, placement } from './builders.ts';

describe('PlacementSchema', () => {
  it('accepts a placement on an existing instance', () => {
    expect(PlacementSchema.parse(placement()).gpuIndices).toEqual([0]);
  });

  it('accepts a placement on a new instance and defaults gpuIndices to none', () => {
    const p = PlacementSchema.parse(
      placement({
        target: { kind: 'new', type: 'c7i.large', index: 0, market: 'spot' },
        resources: { vcpu: 1, memoryMiB: 512, gpus: 0 },
        gpuIndices: undefined,
      }),
    );
    expect(p.target).toEqual({ kind: 'new', type: 'c7i.large', index: 0, market: 'spot' });
    expect(p.gpuIndices).toEqual([]);
  });

  const rejections: [string, unknown, string, string | RegExp][] = [
    ['the job id is empty', placement({ jobId: '' }), 'jobId', />=1 characters/],
    ['the task index is negative', placement({ taskIndex: -1 }), 'taskIndex', />=0/],
    ['the attempt is fractional', placement({ attempt: 0.5 }), 'attempt', /expected int/],
    ['the alternative is negative', placement({ alternative: -1 }), 'alternative', />=0/],
    [
      'the target kind is unknown',
      placement({ target: { kind: 'elsewhere' } as never }),
      'target.kind',
      /'existing' \| 'new'/,
    ],
    [
      'an existing target has no instance id',
      placement({ target: { kind: 'existing', instanceId: '' } }),
      'target.instanceId',
      />=1 characters/,
    ],
    [
      'a new target has a negative index',
      placement({ target: { kind: 'new', type: 'g5.xlarge', index: -1, market: 'spot' } }),
      'target.index',
      />=0/,
    ],
    [
      'a new target has an unknown market',
      placement({ target: { kind: 'new', type: 'g5.xlarge', index: 0, market: 'reserved' as never } }),
      'target.market',
      /"on-demand"\|"spot"/,
    ],
    [
      'the resources ask for negative memory',
      placement({ resources: { vcpu: 1, memoryMiB: -1, gpus: 0 } }),
      'resources.memoryMiB',
      'memoryMiB must be at least 0',
    ],
    ['a GPU index is negative', placement({ gpuIndices: [-1] }), 'gpuIndices.0', />=0/],
    ['startAt is missing', placement({ startAt: undefined as never }), 'startAt', /expected number/],
  ];

  it.each(rejections)('fails when %s', (_what, input, path, expected) => {
    expect(issuesOf(PlacementSchema, input)).toEqual([{ path, message: message(expected) }]);
  });

  it('fails when a target has no kind', () => {
    expect(issuesOf(PlacementTargetSchema, { instanceId: 'i-1' }).map((i) => i.path)).toEqual(['kind']);
  });
});
