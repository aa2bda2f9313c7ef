import { describe, expect, it } from 'vitest';
import { planContext, planPlacement } from '../../../lib/core/placement/plan.ts';
import type { PlacementInput } from '../../../lib/core/placement/types.ts';
import { leaves } from '../../../lib/core/strl/expr.ts';
import { HighsSolver } from '../../../lib/solver/highs-solver.ts';
import { instanceType, job, launchable, placementInput } from '../../support/builders.ts';

const highs = new HighsSolver();
const c5 = (size: string, vcpu: number, price: number) =>
  instanceType({ name: `c5.${size}`, vcpu, memoryMiB: vcpu * 2048, onDemandPerHour: price });
const M5_LARGE = instanceType({ name: 'm5.large', vcpu: 2, memoryMiB: 8192, onDemandPerHour: 0.096 });

/** Three big types that are cheaper per vCPU than the one small type, and one 1-vCPU job. */
function oneSmallJob(budgetPerHour: number, maxInstances = 10): PlacementInput {
  return placementInput({
    slots: 6,
    launchable: [c5('4xlarge', 16, 0.68), c5('9xlarge', 36, 1.53), c5('12xlarge', 48, 2.04), M5_LARGE].map(
      (t) => launchable(t),
    ),
    limits: { maxInstances, budgetPerHour, idleTimeoutSeconds: 600 },
    jobs: [job({ id: 'a', vcpu: 1, memoryMiB: 1024 })],
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
