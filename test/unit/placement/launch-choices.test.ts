import { describe, expect, it } from 'vitest';
import { planContext, planGreedy, planPlacement } from '../../../lib/core/placement/plan.ts';
import type { PlacementInput } from '../../../lib/core/placement/types.ts';
import { leaves } from '../../../lib/core/strl/expr.ts';
import { HighsSolver } from '../../../lib/solver/highs-solver.ts';
import { instanceType, job, launchable, placementInput } from '../../support/builders.ts';

const highs = new HighsSolver();
const c5 = (size: string, vcpu: number, price: number) =>
  instanceType({ name: `c5.${size}`, vcpu, memoryMiB: vcpu * 2048, onDemandPerHour: price });
const M5_LARGE = instanceType({ name: 'm5.large', vcpu: 2, memoryMiB: 8192, onDemandPerHour: 0.096 });

/** Three big types that are cheaper per vCPU than the one small type, and `count` 1-vCPU jobs. */
function oneSmallJob(budgetPerHour: number, maxInstances = 10, count = 1): PlacementInput {
  return placementInput({
    slots: 6,
    launchable: [c5('4xlarge', 16, 0.68), c5('9xlarge', 36, 1.53), c5('12xlarge', 48, 2.04), M5_LARGE].map(
      (t) => launchable(t),
    ),
    limits: { maxInstances, budgetPerHour, idleTimeoutSeconds: 600 },
    jobs: Array.from({ length: count }, (_, i) =>
      job({ id: i === 0 ? 'a' : `a${i}`, vcpu: 1, memoryMiB: 1024 }),
    ),
  });
}

/** The launch pools the job's choices may use. */
const offered = (input: PlacementInput) => {
  const expr = planContext(input).prepared.exprs.get('a');
  return [...new Set(expr ? leaves(expr).flatMap((l) => l.partitions) : [])].sort();
};

describe('launch types offered to a job', () => {
  it('offers the cheapest instance that fits besides the cheapest per task', () => {
    expect(offered(oneSmallJob(5))).toEqual([
      'n.c5.12xlarge.od',
      'n.c5.4xlarge.od',
      'n.c5.9xlarge.od',
      'n.m5.large.od',
    ]);
  });

  it('leaves out types the budget left cannot pay for', () => {
    expect(offered(oneSmallJob(0.5))).toEqual(['n.m5.large.od']);
  });

  it.each([0.5, 5])('buys the small type for a lone small job with a budget of $%s/h', async (budget) => {
    const plan = await planPlacement(oneSmallJob(budget), highs, { timeLimitMs: 10_000 });
    expect(plan.launches).toEqual([
      { type: 'm5.large', market: 'on-demand', count: 1, slot: 0, firstIndex: 0 },
    ]);
    expect(plan.placements.map((p) => p.jobId)).toEqual(['a']);
  });
});

describe('the greedy plan alone', () => {
  const launched = (input: PlacementInput) => planGreedy(input).launches.map((l) => `${l.count} ${l.type}`);

  it.each([
    [1, ['1 m5.large']],
    [2, ['1 m5.large']],
    [9, ['5 m5.large']],
  ])('buys small instances for %i small jobs that would not fill a big one', (count, expected) => {
    const plan = planGreedy(oneSmallJob(5, 10, count));
    expect(plan.placements).toHaveLength(count);
    expect(plan.launches.map((l) => `${l.count} ${l.type}`)).toEqual(expected);
  });

  it('keeps one big instance that its jobs fill, being cheaper than the small ones they would need', () => {
    // 16 one-vCPU jobs: one c5.4xlarge at $0.68/h against eight m5.large at $0.768/h.
    expect(launched(oneSmallJob(5, 10, 16))).toEqual(['1 c5.4xlarge']);
  });

  it('keeps the big instance when the fleet cap leaves no room for more small ones', () => {
    expect(launched(oneSmallJob(5, 1, 9))).toEqual(['1 c5.4xlarge']);
  });
});
