/**
 * One placement cycle: re-plan all pending work over the window and commit only what starts now.
 *
 * Strategy (the calibration notes: the LP is tight, finding integer solutions fast is the hard part):
 * 1. greedy -> verified incumbent, the answer if nothing better comes in time;
 * 2. LP relaxation -> bound, and a rounding (greedy guided by the LP's choices, instance counts
 *    following from the packing, unused instances trimmed);
 * 3. a sub-MIP over the columns the LP or the incumbent used, warm-started with the best plan so far.
 * Every candidate is decoded onto concrete instances and verified; the best verified plan wins.
 * HiGHS does not honour its time limit at the root, so each stage gets a share of what is left of
 * `timeLimitMs`, measured with `elapsedMs` when given (else with the solver's own reported times).
 */
import type { InstanceType } from '../model/instance-type.ts';
import { parseOrThrow } from '../model/validate.ts';
import { DEFAULT_POLICIES, type PolicyRegistry } from '../policies/registry.ts';
import type { ChooseExpr } from '../strl/expr.ts';
import { type Outcome, type PlanContext, toPlan } from './assemble.ts';
import { type CompiledModel, compile } from './compile.ts';
import { decodeSolution, outcomeToValues } from './decode.ts';
import { buildFleet } from './fleet.ts';
import { greedyOutcome, roundedOutcome } from './greedy.ts';
import { prepareJobs } from './jobs.ts';
import type { MilpModel, MilpSolution, MilpSolveOptions, MilpSolver } from './milp.ts';
import { type PlacementInput, PlacementInputSchema, type PlacementPlan, type PlanOptions } from './types.ts';

export interface PlanExtras {
  /** Policies by `JobSpec.policy`; defaults to deadline + fifo. */
  readonly policies?: PolicyRegistry;
  /** Instance types of existing instances that are not launchable (for GPU model and family checks). */
  readonly catalog?: readonly InstanceType[];
  /** Launch types offered per requirement, cheapest per task first. @default 3 */
  readonly launchChoices?: number;
}

const LP_SHARE = 0.5;
const MIN_STAGE_MS = 25;
const DEFAULT_GAP = 0.01;

export function planContext(input: PlacementInput, extras: PlanExtras = {}): PlanContext {
  const parsed = parseOrThrow(PlacementInputSchema, input, 'placement input') as PlacementInput;
  const reqs = parsed.jobs.flatMap((j) => j.spec.alternatives.map((a) => a.requirement));
  const fleet = buildFleet(parsed, reqs, extras.catalog);
  const prepared = prepareJobs(parsed, fleet, extras.policies ?? DEFAULT_POLICIES, extras.launchChoices);
  return { input: parsed, fleet, prepared, jobs: new Map(parsed.jobs.map((j) => [j.id, j])) };
}

/** The greedy plan alone: pure, fast, always feasible. */
export function planGreedy(input: PlacementInput, extras: PlanExtras = {}): PlacementPlan {
  const ctx = planContext(input, extras);
  return toPlan(ctx, greedyOutcome(ctx), { engine: 'greedy', solveMs: 0, model: { variables: 0, rows: 0 } });
}

interface Best {
  outcome: Outcome;
  engine: 'milp' | 'greedy';
  solverObjective?: number;
}

/** Variables of leaves neither the LP nor the incumbent used are fixed to 0 in the sub-MIP. */
function restrict(compiled: CompiledModel, lp: Float64Array, warm: ReadonlyMap<string, number>): MilpModel {
  const { model } = compiled;
  const off = new Set<number>();
  for (const cg of compiled.groups) {
    for (const ref of cg.leafRefs) {
      const idx = [ref.indicator, ...ref.units.map((u) => u.varIndex)];
      const used = idx.some((i) => (lp[i] ?? 0) > 1e-6 || (warm.get(model.vars[i]!.name) ?? 0) > 0);
      if (!used) for (const i of idx) off.add(i);
    }
  }
  return { ...model, vars: model.vars.map((v, i) => (off.has(i) ? { ...v, ub: 0 } : v)) };
}

function lpGuide(compiled: CompiledModel, lp: Float64Array, prev?: ReadonlyMap<string, number>) {
  const leafScore = new Map<string, Map<number, number>>();
  const jobScore = new Map<string, number>();
  for (const cg of compiled.groups) {
    for (const ref of cg.leafRefs) {
      const name = compiled.model.vars[ref.indicator]!.name;
      const share = (lp[ref.indicator] ?? 0) / cg.group.jobs.length + 1e-3 * (prev?.get(name) ?? 0);
      for (const job of cg.group.jobs) {
        const m = leafScore.get(job.id) ?? new Map<number, number>();
        m.set(ref.leafIndex, (m.get(ref.leafIndex) ?? 0) + share);
        leafScore.set(job.id, m);
        jobScore.set(job.id, (jobScore.get(job.id) ?? 0) + share * ref.leaf.value);
      }
    }
  }
  return {
    jobRank: (jobId: string) => jobScore.get(jobId) ?? 0,
    leafRank: (jobId: string, leafIndex: number, leaf: ChooseExpr) =>
      (leafScore.get(jobId)?.get(leafIndex) ?? 0) * 1e6 + leaf.value * 1e-6,
  };
}

/** The LP's new-instance counts per launch pool and slot, rounded up. */
function lpCounts(compiled: CompiledModel, lp: Float64Array): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [poolId, v] of compiled.launches) {
    out.set(
      poolId,
      v.x.map((i) => (i === undefined ? 0 : Math.ceil((lp[i] ?? 0) - 1e-6))),
    );
  }
  return out;
}

function hasValues(s: MilpSolution): boolean {
  return (s.status === 'optimal' || s.status === 'feasible') && s.values.length > 0;
}

class Budget {
  private solverMs = 0;
  constructor(
    private readonly limitMs: number,
    private readonly clock?: () => number,
    private readonly startedAt = clock?.() ?? 0,
  ) {}
  spent(s: MilpSolution): void {
    this.solverMs += s.solveMs;
  }
  elapsed(): number {
    return this.clock ? this.clock() - this.startedAt : this.solverMs;
  }
  left(): number {
    return this.limitMs - this.elapsed();
  }
  solveMs(): number {
    return this.clock ? this.elapsed() : this.solverMs;
  }
}

/** Re-plans all pending work and returns the best verified plan found within the budget. */
export async function planPlacement(
  input: PlacementInput,
  solver: MilpSolver,
  options: PlanOptions,
  extras: PlanExtras = {},
): Promise<PlacementPlan> {
  const budget = new Budget(options.timeLimitMs, options.elapsedMs);
  const ctx = planContext(input, extras);
  let best: Best = { outcome: greedyOutcome(ctx), engine: 'greedy' };
  if (ctx.prepared.groups.length === 0) {
    return toPlan(ctx, best.outcome, {
      engine: 'greedy',
      solveMs: budget.solveMs(),
      model: { variables: 0, rows: 0 },
    });
  }
  const compiled = compile(ctx.fleet, ctx.prepared.groups, ctx.input.now);
  const relGap = options.relGap ?? DEFAULT_GAP;
  const consider = (o: Outcome, engine: 'milp' | 'greedy', solverObjective?: number) => {
    if (o.objective > best.outcome.objective + 1e-9) best = { outcome: o, engine, solverObjective };
  };
  let bound: number | undefined;
  let lp: Float64Array | undefined;
  const notes: string[] = [];
  // The port throws only when the solver cannot run at all; the greedy plan then stands.
  const run = async (
    model: MilpModel,
    opts: MilpSolveOptions,
    stage: string,
  ): Promise<MilpSolution | undefined> => {
    try {
      const sol = await solver.solve(model, opts);
      budget.spent(sol);
      if (!hasValues(sol))
        notes.push(`${stage}: solver returned ${sol.status}${sol.message ? ` (${sol.message})` : ''}`);
      return hasValues(sol) ? sol : undefined;
    } catch (e) {
      notes.push(`${stage}: solver failed: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  };
  if ((options.strategy ?? 'pipeline') === 'pipeline' && budget.left() > MIN_STAGE_MS) {
    const sol = await run(
      compiled.model,
      { timeLimitMs: budget.left() * LP_SHARE, relGap, relaxIntegrality: true },
      'lp',
    );
    if (sol) {
      lp = sol.values;
      if (sol.status === 'optimal') bound = sol.objective;
      const guide = lpGuide(compiled, sol.values, options.warm?.values);
      consider(roundedOutcome(ctx, guide, lpCounts(compiled, sol.values)), 'milp');
    }
  }
  if (budget.left() > MIN_STAGE_MS) {
    const warm = outcomeToValues(compiled, best.outcome);
    const model = lp ? restrict(compiled, lp, warm) : compiled.model;
    const sol = await run(
      model,
      { timeLimitMs: budget.left(), relGap, warmStart: warm },
      lp ? 'sub-mip' : 'mip',
    );
    if (sol) {
      consider(decodeSolution(ctx, compiled, sol.values), 'milp', sol.objective);
      if (!lp && sol.bound !== undefined) bound = sol.bound;
    }
  } else {
    notes.push(`mip: skipped, ${Math.round(budget.elapsed())} of ${options.timeLimitMs} ms already spent`);
  }
  const obj = best.outcome.objective;
  const gap = bound === undefined ? undefined : Math.max(0, bound - obj) / Math.max(1, Math.abs(obj));
  return toPlan(ctx, best.outcome, {
    engine: best.engine,
    solveMs: budget.solveMs(),
    model: { variables: compiled.model.vars.length, rows: compiled.model.rows.length },
    gap,
    solverObjective: best.solverObjective,
    warm: outcomeToValues(compiled, best.outcome),
    notes,
  });
}
