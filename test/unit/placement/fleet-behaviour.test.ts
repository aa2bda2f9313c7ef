import { describe, expect, it } from 'vitest';
import { explainJob } from '../../../lib/core/placement/explain.ts';
import { planPlacement } from '../../../lib/core/placement/plan.ts';
import type { PlacementInput } from '../../../lib/core/placement/types.ts';
import { HighsSolver } from '../../../lib/solver/highs-solver.ts';
import {
  C5_2XLARGE,
  existing,
  h,
  job,
  launchable,
  M5_XLARGE,
  min,
  NOW,
  placementInput,
} from '../../support/builders.ts';

const highs = new HighsSolver();
const solve = (input: PlacementInput) => planPlacement(input, highs, { timeLimitMs: 20_000 });

describe('idle termination', () => {
  it('terminates an instance idle past the timeout with nothing planned, and keeps a recently idle one', async () => {
    const input = placementInput({
      slots: 6,
      instances: [
        existing(6, { id: 'old', type: M5_XLARGE, idleSince: NOW - 3_600_000 }),
        existing(6, { id: 'recent', type: C5_2XLARGE, idleSince: NOW - 60_000 }),
      ],
    });
    const plan = await solve(input);
    expect(plan.terminations).toEqual([
      { instanceId: 'old', reason: 'idle for 3600s (timeout 600s) and nothing planned for it in the window' },
    ]);
  });

  it('keeps an idle instance that the plan uses', async () => {
    const input = placementInput({
      slots: 6,
      instances: [existing(6, { id: 'old', type: M5_XLARGE, idleSince: NOW - 3_600_000 })],
      jobs: [job({ id: 'a', vcpu: 2 })],
    });
    const plan = await solve(input);
    expect(plan.terminations).toEqual([]);
    expect(plan.placements).toMatchObject([{ jobId: 'a', target: { kind: 'existing', instanceId: 'old' } }]);
  });
});

describe('best-effort work', () => {
  const fifo = (waitedHours: number) =>
    job({
      id: 'be',
      policy: 'fifo',
      vcpu: 4,
      memoryMiB: 8192,
      duration: min(30),
      submittedAt: NOW - waitedHours * 3_600_000,
    });

  it('runs on spare capacity without buying any', async () => {
    const plan = await solve(
      placementInput({
        slots: 6,
        instances: [existing(6, { id: 'spare', type: C5_2XLARGE })],
        launchable: [launchable(C5_2XLARGE)],
        jobs: [fifo(0)],
      }),
    );
    expect(plan.placements).toMatchObject([
      { jobId: 'be', target: { kind: 'existing', instanceId: 'spare' } },
    ]);
    expect(plan.launches).toEqual([]);
  });

  it('waits for capacity rather than buying, until it has waited long enough to be worth an instance', async () => {
    const busy = existing(6, { id: 'busy', type: C5_2XLARGE, busyUntilSlot: 6 });
    const fresh = await solve(
      placementInput({ slots: 6, instances: [busy], launchable: [launchable(C5_2XLARGE)], jobs: [fifo(0)] }),
    );
    // $0.34/h for 4 slots (boot + 3 slots of work) is $0.23, and a fresh best-effort job is worth ~$1.
    expect(fresh.launches).toHaveLength(1);
    const pricey = {
      ...C5_2XLARGE,
      name: 'c5.9xlarge',
      vcpu: 36,
      memoryMiB: 73_728,
      onDemandPerHour: 4,
      spotPerHour: 1.5,
    };
    const early = await solve(
      placementInput({ slots: 6, instances: [busy], launchable: [launchable(pricey)], jobs: [fifo(0)] }),
    );
    expect(early.launches).toEqual([]);
    expect(explainJob(early, 'be')).toMatch(/^not placed: worth less than the/);
    const late = await solve(
      placementInput({ slots: 6, instances: [busy], launchable: [launchable(pricey)], jobs: [fifo(3)] }),
    );
    expect(late.launches).toEqual([
      { type: 'c5.9xlarge', market: 'on-demand', count: 1, slot: 0, firstIndex: 0 },
    ]);
  });
});

describe('markets', () => {
  it('uses spot capacity only for work that allows it', async () => {
    const launch = [launchable(C5_2XLARGE, ['on-demand', 'spot'])];
    const input = (spot: boolean) =>
      placementInput({
        slots: 6,
        launchable: launch,
        jobs: [job({ id: 'j', vcpu: 4, spot, deadline: h(2), value: 10 })],
      });
    expect((await solve(input(true))).launches).toMatchObject([{ market: 'spot', count: 1 }]);
    expect((await solve(input(false))).launches).toMatchObject([{ market: 'on-demand', count: 1 }]);
  });
});
