import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../lib/core/errors.ts';
import {
  createPackedCost,
  packReplicas,
  replicaShareFloor,
} from '../../../lib/core/inference/packed-cost.ts';
import { findInstanceType } from '../../../lib/core/model/catalog.ts';
import { stage } from './builders.ts';

const price = (name: string) => findInstanceType(name)?.onDemandPerHour ?? Number.NaN;

describe('packed cost', () => {
  it('puts 4 A10G replicas of different stages on one g5.12xlarge when that is cheaper', () => {
    // A g5.12xlarge-profiled replica needs 12 vCPUs and 1 GPU: alone it fits a g5.4xlarge (1.624/h),
    // four of them fit one g5.12xlarge (5.672/h < 4 x 1.624).
    const packing = packReplicas(
      ['a', 'b', 'c', 'd'].map((stage) => ({ stage, instanceType: 'g5.12xlarge' })),
    );
    expect(packing.instances).toHaveLength(1);
    expect(packing.instances[0]?.instanceType).toBe('g5.12xlarge');
    expect(new Set(packing.instances[0]?.replicas.map((r) => r.stage))).toEqual(
      new Set(['a', 'b', 'c', 'd']),
    );
    expect(packing.costPerHour).toBeCloseTo(price('g5.12xlarge'), 9);
  });

  it('keeps 1-GPU replicas on 1-GPU instances when four of those are cheaper', () => {
    const packing = packReplicas(['a', 'b', 'c', 'd'].map((stage) => ({ stage, instanceType: 'g5.xlarge' })));
    expect(packing.costPerHour).toBeCloseTo(4 * price('g5.xlarge'), 9);
  });

  it('shrinks a lone replica onto the cheapest type that holds it', () => {
    const packing = packReplicas([{ stage: 'a', instanceType: 'g5.12xlarge' }]);
    expect(packing.instances.map((i) => i.instanceType)).toEqual(['g5.4xlarge']);
  });

  it('accepts any subset of stages, as the planner asks', () => {
    const cost = createPackedCost();
    expect(cost({ only: stage({ instanceType: 'c7i.xlarge', replicas: 3 }) })).toBeCloseTo(
      3 * price('c7i.xlarge'),
      9,
    );
    expect(cost({})).toBe(0);
  });

  it('is never cheaper than the sum of replica shares, and never dearer than a whole instance each', () => {
    const types = ['c7i.large', 'c7i.2xlarge', 'g5.xlarge', 'g5.12xlarge', 'g4dn.xlarge', 'g6.xlarge'];
    const cost = createPackedCost();
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(...types), fc.integer({ min: 1, max: 6 })), { maxLength: 5 }),
        (picks) => {
          const config = Object.fromEntries(
            picks.map(([instanceType, replicas], i) => [`s${i}`, stage({ instanceType, replicas })]),
          );
          const slots = picks.flatMap(([instanceType, n], i) =>
            Array.from({ length: n }, () => ({ stage: `s${i}`, instanceType })),
          );
          const packed = cost(config);
          expect(packed).toBeGreaterThanOrEqual(replicaShareFloor(slots) - 1e-9);
          const alone = picks.reduce((s, [t, n]) => s + n * price(t), 0);
          expect(packed).toBeLessThanOrEqual(alone + 1e-9);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('prices a packing at spot in the spot market, every instance at its spotPerHour', () => {
    const spot = (name: string) => findInstanceType(name)?.spotPerHour ?? Number.NaN;
    const replicas = [
      { stage: 'a', instanceType: 'g6.xlarge' },
      { stage: 'b', instanceType: 'c7i.large' },
    ];
    const onDemand = packReplicas(replicas);
    const onSpot = packReplicas(replicas, undefined, 'spot');
    expect(onSpot.instances.map((i) => i.instanceType).sort()).toEqual(
      onDemand.instances.map((i) => i.instanceType).sort(),
    );
    expect(onSpot.costPerHour).toBeCloseTo(spot('g6.xlarge') + spot('c7i.large'), 9);
    expect(onSpot.costPerHour).toBeLessThan(onDemand.costPerHour);
    const config = { a: stage({ instanceType: 'g6.xlarge', replicas: 2 }) };
    expect(createPackedCost(undefined, 'spot')(config)).toBeCloseTo(2 * spot('g6.xlarge'), 9);
  });

  it('fails when a replica names an unknown instance type', () => {
    expect(() => packReplicas([{ stage: 'a', instanceType: 'z9.huge' }])).toThrow(ValidationError);
  });
});
