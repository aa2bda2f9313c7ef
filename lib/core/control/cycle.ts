/**
 * One schedule cycle: lease -> load -> housekeeping -> plan -> decide -> execute -> report.
 *
 * Everything up to the decision reads only; the decision is a pure value (`CycleDecision`) that tests,
 * logs and the benchmark can inspect; the executor is the only part that writes. The lease keeps two
 * cycles from acting at once; the conditional writes behind the ports keep a cycle that overran its
 * lease from undoing another's work.
 */

import { INSTANCE_CATALOG } from '../model/catalog.ts';
import type { MilpSolver } from '../placement/milp.ts';
import type { PlanExtras } from '../placement/plan.ts';
import { planGreedy, planPlacement } from '../placement/plan.ts';
import type { PlacementPlan, PlanWarmState } from '../placement/types.ts';
import type { LeaseStore } from '../ports.ts';
import { buildPlacementInput } from './capacity.ts';
import type { CycleConfig } from './cycle-config.ts';
import { type CycleDecision, decideCycle } from './cycle-decide.ts';
import { type ExecuteDeps, type ExecutionCounts, executeDecision } from './cycle-execute.ts';
import { decideHousekeeping, type PlanningView, planningView } from './cycle-housekeeping.ts';
import { loadCycleState } from './cycle-state.ts';

export const SCHEDULE_LEASE = 'schedule';

export interface CycleDeps extends ExecuteDeps {
  readonly leases: LeaseStore;
  readonly solver: MilpSolver;
  /** Monotonic milliseconds for the solve budget; without it only the solver's own limits apply. */
  readonly elapsedMs?: () => number;
}

export interface CycleOptions {
  /**
   * Names this cycle in launch tokens and logs. Pass something a retry of the same trigger repeats (the
   * scheduled event's id), so a retried cycle asks for the same instances. @default `cycle-<now>`
   */
  readonly cycleId?: string;
  /** Lease holder. @default the cycle id */
  readonly owner?: string;
  /** The previous cycle's `warm` state, to warm-start the solver. */
  readonly warm?: PlanWarmState;
}

export interface CycleReport {
  readonly status: 'completed' | 'skipped';
  readonly cycleId: string;
  /** Why a skipped cycle did nothing. */
  readonly reason?: string;
  readonly counts?: ExecutionCounts;
  /** Jobs the cycle meant to act on but did not, with the reason. */
  readonly skipped?: readonly { readonly jobId: string; readonly reason: string }[];
  /** Pending jobs the plan starts later or not at all, with the plan's reason. */
  readonly unplaced?: number;
  readonly errors?: readonly string[];
  readonly engine?: PlacementPlan['engine'];
  readonly solveMs?: number;
  readonly gap?: number;
  readonly objective?: number;
  readonly notes?: readonly string[];
  /** Pass to the next cycle's `warm`. */
  readonly warm?: PlanWarmState;
  /** What was decided, for logs and tests. */
  readonly decision?: CycleDecision;
}

const EXTRAS: PlanExtras = { catalog: INSTANCE_CATALOG };

/** Plans with the solver; when planning throws (bad model, solver gone), the greedy plan stands in. */
async function plan(
  view: PlanningView,
  config: CycleConfig,
  deps: CycleDeps,
  now: number,
  warm: PlanWarmState | undefined,
): Promise<PlacementPlan | undefined> {
  if (view.jobs.length === 0 && view.instances.length === 0) return undefined;
  const input = buildPlacementInput(view, config, now);
  try {
    return await planPlacement(
      input,
      deps.solver,
      { timeLimitMs: config.solveTimeLimitMs, relGap: config.relGap, warm, elapsedMs: deps.elapsedMs },
      EXTRAS,
    );
  } catch (error) {
    deps.log?.warn('solver plan failed; using the greedy plan', {
      error: error instanceof Error ? error.message : String(error),
    });
    return planGreedy(input, EXTRAS);
  }
}

/** Reads, decides and (when `act`) applies one cycle; the lease must be held. */
async function cycleUnderLease(
  config: CycleConfig,
  deps: CycleDeps,
  cycleId: string,
  warm: PlanWarmState | undefined,
): Promise<CycleReport> {
  const now = deps.clock.now();
  const state = await loadCycleState(deps, now);
  const housekeeping = decideHousekeeping(state, config);
  const view = planningView(state, housekeeping);
  const placement = await plan(view, config, deps, now, warm);
  const decision = decideCycle({ cycleId, now, config, view, housekeeping, plan: placement });
  const queues = new Map(state.instances.flatMap((i) => (i.queueUrl ? [[i.id, i.queueUrl] as const] : [])));
  const result = await executeDecision(decision, deps, queues);
  const report: CycleReport = {
    status: 'completed',
    cycleId,
    counts: result.counts,
    skipped: [...decision.skipped, ...result.skipped],
    unplaced: placement ? Object.keys(placement.unplaced).length : 0,
    errors: result.errors,
    engine: placement?.engine,
    solveMs: placement?.solveMs,
    gap: placement?.gap,
    objective: placement?.objective,
    notes: placement?.notes,
    warm: placement?.warm,
    decision,
  };
  deps.log?.info('schedule cycle done', {
    cycleId,
    counts: result.counts,
    skipped: report.skipped?.length,
    engine: report.engine,
    solveMs: report.solveMs,
  });
  return report;
}

/**
 * Runs one schedule cycle. Returns `skipped` when another holder has the lease; throws only when the
 * state cannot be read (nothing has been written then). The lease is released on every path.
 */
export async function runScheduleCycle(
  config: CycleConfig,
  deps: CycleDeps,
  options: CycleOptions = {},
): Promise<CycleReport> {
  const start = deps.clock.now();
  const cycleId = options.cycleId ?? `cycle-${start}`;
  const owner = options.owner ?? cycleId;
  const granted = await deps.leases.acquire(SCHEDULE_LEASE, owner, config.leaseTtlSeconds * 1000, start);
  if (!granted) return { status: 'skipped', cycleId, reason: 'lease held' };
  try {
    return await cycleUnderLease(config, deps, cycleId, options.warm);
  } finally {
    await deps.leases.release(SCHEDULE_LEASE, owner);
  }
}
