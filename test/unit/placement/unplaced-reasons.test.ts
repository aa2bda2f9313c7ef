import { describe, expect, it } from 'vitest';
import { planGreedy, planPlacement } from '../../../lib/core/placement/plan.ts';
import type { PlacementInput, PlacementPlan } from '../../../lib/core/placement/types.ts';
import { HighsSolver } from '../../../lib/solver/highs-solver.ts';
import { existing, job, launchable, M5_XLARGE, min, placementInput } from '../../support/builders.ts';

const highs = new HighsSolver();
const limits = (maxInstances: number, budgetPerHour: number) => ({
  maxInstances,
  budgetPerHour,
  idleTimeoutSeconds: 600,
});

const cases: [string, PlacementInput, RegExp][] = [
  [
    'the fleet-size cap when it allows no instance',
    placementInput({
      slots: 6,
      launchable: [launchable(M5_XLARGE)],
      limits: limits(0, 100),
      jobs: [job({ id: 'a' })],
    }),
    /^the fleet-size cap leaves no room for an instance that fits it \(maxInstances 0, 0 running\)$/,
  ],
  [
    'the fleet-size cap when a gang is larger than the fleet can be',
    placementInput({
      slots: 6,
      launchable: [launchable(M5_XLARGE)],
      limits: limits(2, 100),
      jobs: [job({ id: 'a', vcpu: 4, gang: 3 })],
    }),
    /^its gang of 3 needs more than the 2 task\(s\) that fit at once under the fleet-size cap/,
  ],
  [
    'the budget when it pays for no instance that fits',
    placementInput({
      slots: 6,
      launchable: [launchable(M5_XLARGE)],
      limits: limits(5, 0.1),
      jobs: [job({ id: 'a' })],
    }),
    /^the budget leaves no room for an instance that fits it \(\$0\.1\/h left of \$0\.1\/h; the cheapest type that fits costs \$0\.192\/h\)$/,
  ],
  [
    'the higher-value work that took the only capacity',
    placementInput({
      slots: 3,
      instances: [existing(3, { id: 'i-1', type: M5_XLARGE })],
      limits: limits(1, 100),
      jobs: [
        job({ id: 'big', vcpu: 4, duration: min(30), value: 50 }),
        job({ id: 'a', vcpu: 4, duration: min(30), value: 5 }),
      ],
    }),
    /^the running capacity it could use went to higher-value work \(big\)$/,
  ],
];

describe('reasons for unplaced jobs', () => {
  it.each(cases)('names %s (milp)', async (_, input, reason) => {
    const plan: PlacementPlan = await planPlacement(input, highs, { timeLimitMs: 10_000 });
    expect(plan.unplaced.a).toMatch(reason);
    expect(plan.explanations.a).toMatch(/^not placed: /);
  });

  it.each(cases)('names %s (greedy)', (_, input, reason) => {
    expect(planGreedy(input).unplaced.a).toMatch(reason);
  });

  it('keeps saying a job is not worth a new instance when the caps allow one', () => {
    const input = placementInput({
      slots: 6,
      launchable: [launchable(M5_XLARGE)],
      limits: limits(5, 100),
      jobs: [job({ id: 'a', vcpu: 4, value: 0.01 })],
    });
    expect(planGreedy(input).unplaced.a).toMatch(/^no choice earns more|^worth less than the new m5\.xlarge/);
  });
});
