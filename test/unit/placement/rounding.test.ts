import { describe, expect, it } from 'vitest';
import { roundedOutcome } from '../../../lib/core/placement/greedy.ts';
import { planContext } from '../../../lib/core/placement/plan.ts';
import { C5_2XLARGE, existing, job, launchable, placementInput } from '../../support/builders.ts';

describe('rounding of an LP answer', () => {
  // One existing instance with room for one of the two jobs; the other has to go on a new instance.
  const input = placementInput({
    slots: 4,
    instances: [existing(4, { id: 'i-c', type: C5_2XLARGE })],
    launchable: [launchable(C5_2XLARGE)],
    jobs: [job({ id: 'first', vcpu: 6, value: 50 }), job({ id: 'second', vcpu: 6, value: 40 })],
  });
  const ctx = planContext(input);
  const pools = [...ctx.fleet.pools.values()];
  const existingPool = pools.find((p) => p.kind === 'existing')!.id;
  const newPool = pools.find((p) => p.kind === 'new')!.id;
  const rank = (jobId: string) => (jobId === 'first' ? 2 : 1);
  const counts = new Map([[newPool, [0, 1, 1, 1]]]);

  it('gives existing capacity to the job the LP put there, not to the job ranked first', () => {
    const hintedPool = (jobId: string) => (jobId === 'second' ? existingPool : newPool);
    const o = roundedOutcome(
      ctx,
      { jobRank: rank, poolHints: (jobId) => new Map([[hintedPool(jobId), 1]]) },
      counts,
    );
    const poolOf = (jobId: string) => o.tasks.find((t) => t.jobId === jobId)?.host.poolId;
    expect(poolOf('second')).toBe(existingPool);
    expect(poolOf('first')).toBe(newPool);
  });

  it('fills existing capacity in rank order without pool hints', () => {
    const o = roundedOutcome(ctx, { jobRank: rank }, counts);
    expect(o.tasks.find((t) => t.jobId === 'first')?.host.poolId).toBe(existingPool);
  });
});
