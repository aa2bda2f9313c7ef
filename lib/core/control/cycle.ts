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
import { policiesFor } from '../policies/registry.ts';
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
  /** Job id -> one line on what happens to it and why (from the placement plan). */
  readonly explanations?: Readonly<Record<string, string>>;
  /** Pass to the next cycle's `warm`. */
  readonly warm?: PlanWarmState;
  /** What was decided, for logs and tests. */
  readonly decision?: CycleDecision;
}

const EXTRAS: PlanExtras = { catalog: INSTANCE_CATALOG };

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * Plans with the solver; when that throws, the greedy plan stands in; when that throws too, nothing is
 * placed this cycle but housekeeping still happens (a lost instance's work must not wait on the planner).
 */
async function plan(
  view: PlanningView,
  config: CycleConfig,
  deps: CycleDeps,
  now: number,
  warm: PlanWarmState | undefined,
): Promise<{ placement?: PlacementPlan; error?: string }> {
  if (view.jobs.length === 0 && view.instances.length === 0) return {};
  const input = buildPlacementInput(view, config, now);
  // slo-service values replicas against this cycle's batch work and prices, so it is built per cycle.
  const extras: PlanExtras = { ...EXTRAS, policies: policiesFor(input) };
  const options = {
    timeLimitMs: config.solveTimeLimitMs,
    relGap: config.relGap,
    warm,
    elapsedMs: deps.elapsedMs,
  };
  try {
    return { placement: await planPlacement(input, deps.solver, options, extras) };
  } catch (error) {
    deps.log?.warn('solver plan failed; using the greedy plan', { error: messageOf(error) });
  }
  try {
    return { placement: planGreedy(input, extras) };
  } catch (error) {
    deps.log?.error('planning failed; placing nothing this cycle', { error: messageOf(error) });
    return { error: `plan: ${messageOf(error)}` };
  }
}

/** Reads, decides and applies one cycle; the lease must be held. */
async function cycleUnderLease(
  config: CycleConfig,
  deps: CycleDeps,
  cycleId: string,
  owner: string,
  warm: PlanWarmState | undefined,
): Promise<CycleReport> {
  const now = deps.clock.now();
  const state = await loadCycleState(deps, now);
  const housekeeping = decideHousekeeping(state, config);
  const view = planningView(state, housekeeping);
  const { placement, error: planError } = await plan(view, config, deps, now, warm);
  const decision = decideCycle({ cycleId, now, config, view, housekeeping, plan: placement });
  // Planning may have outlasted the lease; renew it, and act only if no other cycle took over meanwhile.
  const ttl = config.leaseTtlSeconds * 1000;
  if (!(await deps.leases.acquire(SCHEDULE_LEASE, owner, ttl, deps.clock.now())))
    return { status: 'skipped', cycleId, reason: 'lease lost before acting', decision };
  const queues = new Map(state.instances.flatMap((i) => (i.queueUrl ? [[i.id, i.queueUrl] as const] : [])));
  const result = await executeDecision(decision, deps, queues);
  const report: CycleReport = {
    status: 'completed',
    cycleId,
    counts: result.counts,
    skipped: [...decision.skipped, ...result.skipped],
    unplaced: placement ? Object.keys(placement.unplaced).length : 0,
    errors: planError ? [planError, ...result.errors] : result.errors,
    engine: placement?.engine,
    solveMs: placement?.solveMs,
    gap: placement?.gap,
    objective: placement?.objective,
    notes: placement?.notes,
    explanations: placement?.explanations,
    warm: placement?.warm,
    decision,
  };
  deps.log?.info('schedule cycle done', {
    cycleId,
    counts: result.counts,
    skipped: report.skipped?.length,
    engine: report.engine,
    solveMs: report.solveMs,
    ...(housekeeping.reportLagMs >= 1000 ? { reportLagMs: housekeeping.reportLagMs } : {}),
  });
  return report;
}

/**
 * Runs one schedule cycle. Returns `skipped` when another holder has the lease, at the start or (after
 * a long plan) before acting; throws only when the state cannot be read (nothing has been written then).
 * Failures of single actions are in the report's `errors`. The lease is released on every path.
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
    return await cycleUnderLease(config, deps, cycleId, owner, options.warm);
  } finally {
    await deps.leases.release(SCHEDULE_LEASE, owner);
  }
}
