import { describe, expect, it } from 'vitest';
import { settle } from '../../../lib/core/placement/assemble.ts';
import { Packer } from '../../../lib/core/placement/pack.ts';
import { planContext, planGreedy, planPlacement } from '../../../lib/core/placement/plan.ts';
import type { PlacementInput, PlacementPlan } from '../../../lib/core/placement/types.ts';
import { leaves } from '../../../lib/core/strl/expr.ts';
import { HighsSolver } from '../../../lib/solver/highs-solver.ts';
import { existing, h, job, M5_XLARGE, min, NOW, placementInput } from '../../support/builders.ts';

const highs = new HighsSolver();

/** Four jobs that print alike (6 significant digits) but need 4.0000002 vCPU together. */
function nearlyIdentical(): PlacementInput {
  return placementInput({
    slots: 4,
    instances: [existing(4, { id: 'i-1', type: M5_XLARGE })],
    jobs: [
      job({ id: 'a', vcpu: 0.9999999, memoryMiB: 1024 }),
      job({ id: 'b', vcpu: 1.0000001, memoryMiB: 1024 }),
      job({ id: 'c', vcpu: 1.0000001, memoryMiB: 1024 }),
      job({ id: 'd', vcpu: 1.0000001, memoryMiB: 1024 }),
    ],
  });
}

function committedVcpu(input: PlacementInput, plan: PlacementPlan): number {
  return plan.placements.reduce(
    (s, p) => s + input.jobs.find((j) => j.id === p.jobId)!.spec.alternatives[0]!.requirement.vcpu,
    0,
  );
}

describe('identical jobs', () => {
  it('groups only jobs whose requests are exactly equal', () => {
    const ctx = planContext(nearlyIdentical());
    expect(ctx.prepared.groups.map((g) => g.jobs.map((j) => j.id))).toEqual([['a'], ['b', 'c', 'd']]);
  });

  it.each(['pipeline', 'direct', 'greedy'] as const)(
    'never commits more than an instance holds when demands differ below print precision (%s)',
    async (engine) => {
      const input = nearlyIdentical();
      const plan =
        engine === 'greedy'
          ? planGreedy(input)
          : await planPlacement(input, highs, { timeLimitMs: 10_000, strategy: engine });
      expect(plan.placements).toHaveLength(3);
      expect(committedVcpu(input, plan)).toBeLessThanOrEqual(4);
      for (const p of plan.placements) {
        const own = input.jobs.find((j) => j.id === p.jobId)!.spec.alternatives[0]!.requirement;
        expect(p.resources.vcpu).toBe(own.vcpu);
      }
    },
  );
});

describe('identical jobs, oldest first', () => {
  /** Room for one task in slot 0 and three in slot 1, so the LP splits the group 1 + 3. */
  function unevenRoom(): PlacementInput {
    const free = [1, 3, 0, 0, 4, 4].map((vcpu) => ({ vcpu, memoryMiB: 16_384, gpus: 0 }));
    return placementInput({
      slots: 6,
      instances: [existing(6, { id: 'i-1', type: M5_XLARGE, free })],
      jobs: ['j0', 'j1', 'j2', 'j3'].map((id, i) =>
        job({
          id,
          vcpu: 1,
          memoryMiB: 1024,
          duration: min(10),
          deadline: h(3),
          submittedAt: NOW - (10 - i) * 1000,
        }),
      ),
    });
  }

  it.each(['pipeline', 'direct', 'greedy'] as const)(
    'starts the oldest of identical jobs first (%s)',
    async (engine) => {
      const input = unevenRoom();
      const plan =
        engine === 'greedy'
          ? planGreedy(input)
          : await planPlacement(input, highs, { timeLimitMs: 10_000, strategy: engine });
      expect(plan.placements.map((p) => p.jobId)).toEqual(['j0']);
      expect(plan.future.map((f) => [f.jobId, f.slot]).sort()).toEqual([
        ['j1', 1],
        ['j2', 1],
        ['j3', 1],
      ]);
    },
  );
});

describe('settling a packing', () => {
  const input = () =>
    placementInput({
      slots: 4,
      instances: [existing(4, { id: 'i-1', type: M5_XLARGE })],
      jobs: [
        job({ id: 'old', vcpu: 4, duration: min(10), submittedAt: NOW - 60_000 }),
        job({ id: 'mid', vcpu: 4, duration: min(10), submittedAt: NOW - 30_000 }),
        job({ id: 'new', vcpu: 4, duration: min(10), submittedAt: NOW }),
      ],
    });

  it('hands the earlier starts to the older of identical jobs, whichever the packer served first', () => {
    const ctx = planContext(input());
    const packer = new Packer(ctx.fleet);
    const expr = ctx.prepared.groups[0]!.expr;
    const at = (start: number) => leaves(expr).findIndex((l) => l.start === start);
    for (const [jobId, start] of [
      ['new', 0],
      ['mid', 1],
    ] as const) {
      const leafIndex = at(start);
      const leaf = leaves(expr)[leafIndex]!;
      expect(
        packer.place({ jobId, leaf, leafIndex, units: 1 }, { allowMove: false, allowExtra: false }),
      ).toBeDefined();
    }
    const o = settle(ctx, packer, [], new Map([['old', 'not reached before the planning time limit']]));
    expect(o.tasks.map((t) => [t.jobId, t.start])).toEqual([
      ['old', 0],
      ['mid', 1],
    ]);
    expect([...o.dropped]).toEqual([['new', 'not reached before the planning time limit']]);
  });
});
