import { describe, expect, it } from 'vitest';
import { planGreedy, planPlacement } from '../../../lib/core/placement/plan.ts';
import type { PlacementInput, PlacementPlan } from '../../../lib/core/placement/types.ts';
import { HighsSolver } from '../../../lib/solver/highs-solver.ts';
import { existing, job, M5_XLARGE, min, NOW, placementInput } from '../../support/builders.ts';

const highs = new HighsSolver();
const SLOTS = 12;
const ENGINES = ['pipeline', 'direct', 'greedy'] as const;

function plan(
  input: PlacementInput,
  engine: (typeof ENGINES)[number],
): Promise<PlacementPlan> | PlacementPlan {
  return engine === 'greedy'
    ? planGreedy(input)
    : planPlacement(input, highs, { timeLimitMs: 20_000, strategy: engine });
}

/** Start slot of every planned job, now or later. */
function starts(p: PlacementPlan): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of p.placements) out[x.jobId] = (x.startAt - NOW) / 600_000;
  for (const f of p.future) out[f.jobId] = f.slot;
  return out;
}

const fifo = (id: string, vcpu: number, minutes: number, secondsAgo: number) =>
  job({ id, policy: 'fifo', vcpu, duration: min(minutes), submittedAt: NOW - secondsAgo * 1000 });

/** One 4-vCPU instance and nothing to buy. */
const oneBox = (jobs: PlacementInput['jobs'], busy?: (t: number) => boolean) =>
  placementInput({
    slots: SLOTS,
    instances: [
      existing(SLOTS, {
        id: 'i-1',
        type: M5_XLARGE,
        free: Array.from({ length: SLOTS }, (_, t) =>
          busy?.(t) ? { vcpu: 0, memoryMiB: 0, gpus: 0 } : { vcpu: 4, memoryMiB: 16_384, gpus: 0 },
        ),
      }),
    ],
    limits: { maxInstances: 1, budgetPerHour: 100, idleTimeoutSeconds: 600 },
    jobs,
  });

describe('fifo order', () => {
  it.each(ENGINES)(
    'starts an older long job before younger short ones on the same capacity (%s)',
    async (engine) => {
      const input = oneBox([
        fifo('A', 4, 60, 600),
        fifo('B', 4, 10, 60),
        fifo('C', 4, 10, 50),
        fifo('D', 4, 10, 40),
      ]);
      expect(starts(await plan(input, engine))).toEqual({ A: 0, B: 6, C: 7, D: 8 });
    },
  );

  it('takes FIFO jobs oldest first in the greedy, even when a younger one gives up less by waiting', () => {
    // Ten seconds apart the aged values differ by 0.3%, less than the long job gives up per slot.
    const input = oneBox([fifo('A', 4, 60, 70), fifo('B', 4, 10, 60), fifo('C', 4, 10, 50)]);
    expect(starts(planGreedy(input))).toEqual({ A: 0, B: 6, C: 7 });
  });

  it.each(ENGINES)(
    'starts an older wide job before younger narrow ones that together fill it (%s)',
    async (engine) => {
      const input = oneBox([
        fifo('wide', 4, 10, 600),
        fifo('n1', 1, 10, 60),
        fifo('n2', 1, 10, 50),
        fifo('n3', 1, 10, 40),
        fifo('n4', 1, 10, 30),
      ]);
      expect(starts(await plan(input, engine))).toEqual({ wide: 0, n1: 1, n2: 1, n3: 1, n4: 1 });
    },
  );

  it.each(ENGINES)('gives the earlier starts to the older of jobs of one shape (%s)', async (engine) => {
    const input = oneBox([fifo('young', 4, 10, 10), fifo('mid', 4, 10, 20), fifo('old', 4, 10, 30)]);
    expect(starts(await plan(input, engine))).toEqual({ old: 0, mid: 1, young: 2 });
  });

  it.each(ENGINES)('backfills a younger job into capacity the older one cannot use (%s)', async (engine) => {
    // Free in slot 0 only for one slot, then busy until slot 3: too short for the hour-long job.
    const input = oneBox([fifo('long', 4, 60, 600), fifo('short', 4, 10, 60)], (t) => t === 1 || t === 2);
    expect(starts(await plan(input, engine))).toEqual({ short: 0, long: 3 });
  });
});
