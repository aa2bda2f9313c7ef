/**
 * The placers the replay compares: the MILP engine (`planPlacement` over a MilpSolver, carrying its
 * warm-start state from cycle to cycle, as the schedule Lambda does) and the two greedy baselines.
 */
import type { MilpSolver } from '../core/placement/milp.ts';
import { planPlacement } from '../core/placement/plan.ts';
import type { PlacementPlan, PlanOptions, PlanWarmState } from '../core/placement/types.ts';
import { planEdf, planFifo } from './baselines.ts';
import type { Placer } from './replay.ts';

export type PolicyName = 'milp' | 'edf' | 'fifo';

export interface MilpPlacerOptions {
  readonly timeLimitMs: number;
  readonly relGap?: number;
  readonly strategy?: PlanOptions['strategy'];
  /** Receives each cycle's plan (for progress output and checks). */
  readonly onPlan?: (plan: PlacementPlan) => void;
}

/** A placer that plans with the MILP and hands each plan's warm state to the next cycle. */
export function milpPlacer(solver: MilpSolver, options: MilpPlacerOptions): Placer {
  let warm: PlanWarmState | undefined;
  return async (input) => {
    const plan = await planPlacement(input, solver, {
      timeLimitMs: options.timeLimitMs,
      ...(options.relGap === undefined ? {} : { relGap: options.relGap }),
      ...(options.strategy === undefined ? {} : { strategy: options.strategy }),
      ...(warm ? { warm } : {}),
      elapsedMs: () => performance.now(),
    });
    warm = plan.warm;
    options.onPlan?.(plan);
    return plan;
  };
}

export function placerFor(policy: PolicyName, solver: MilpSolver, milp: MilpPlacerOptions): Placer {
  switch (policy) {
    case 'milp':
      return milpPlacer(solver, milp);
    case 'edf':
      return planEdf;
    case 'fifo':
      return planFifo;
  }
}
