/**
 * One placement cycle: re-plan all pending work over the window and commit only what starts now.
 *
 * Strategy `pipeline` (the calibration notes: the LP is tight, finding integer solutions fast is the
 * hard part):
 * 1. LP relaxation -> bound. With many small groups it is solved by pricing (pricing.ts): a restricted
 *    LP over each job's earliest starts, grown by the leaves the row duals price in, each round giving
 *    a valid bound; otherwise whole. Then a rounding (greedy guided by the LP's choices, instance
 *    counts from the LP, unused instances trimmed), and the previous cycle's plan carried over by name.
 * 2. The greedy plan when the LP gave nothing optimal to round (and at the end, when time is left).
 * 3. A sub-MIP over the columns the LP or the incumbent used, warm-started with the best plan so far,
 *    only when enough time is left for it to beat its warm start. Never a MIP over the whole model:
 *    its presolve alone outlasts the budget at 1000 jobs.
 * Strategy `direct`: the greedy plan, then one MIP over the whole model, warm-started.
 * Every candidate is decoded onto concrete instances and verified; the best verified plan wins.
 * HiGHS does not honour its time limit at the root, so each stage gets a share of what is left of
 * `timeLimitMs`, measured with `elapsedMs` when given (else with the solver's own reported times).
 */
import { PlanInvariantError } from '../errors.ts';
import type { InstanceType } from '../model/instance-type.ts';
import { parseOrThrow } from '../model/validate.ts';
import { DEFAULT_POLICIES, type PolicyRegistry } from '../policies/registry.ts';
import { type Outcome, type PlanContext, toPlan } from './assemble.ts';
import { type CompiledModel, compile } from './compile.ts';
import { decodeSolution, outcomeToValues } from './decode.ts';
import { buildFleet } from './fleet.ts';
import { greedyOutcome, roundedOutcome } from './greedy.ts';
import { prepareJobs } from './jobs.ts';
import type { MilpModel, MilpSolution, MilpSolveOptions, MilpSolver } from './milp.ts';
import { lpCounts, lpGuide } from './plan-rounding.ts';
import { bringIn, initialRestriction, leftOut, price, restrictedModel } from './pricing.ts';
import { type PlacementInput, PlacementInputSchema, type PlacementPlan, type PlanOptions } from './types.ts';

export { lpCounts, lpGuide } from './plan-rounding.ts';

export interface PlanExtras {
  /** Policies by `JobSpec.policy`; defaults to deadline + fifo. */
  readonly policies?: PolicyRegistry;
  /** Instance types of existing instances that are not launchable (for GPU model and family checks). */
  readonly catalog?: readonly InstanceType[];
  /** Launch types offered per requirement, cheapest per task first. @default 3 */
  readonly launchChoices?: number;
}

/** Share of what is left that the LP may use; the rest goes to rounding, the sub-MIP and decoding. */
const LP_SHARE = 0.75;
/** Kept back from the LP for rounding, as a multiple of the time spent before it (context, compile). */
const ROUNDING_RESERVE = 1;
/** Kept back from the sub-MIP for decoding its answer, as a multiple of the rounding's time. */
const DECODE_RESERVE = 0.75;
const MIN_STAGE_MS = 25;
/** A second rounding runs only while this many roundings' time is left (it must leave room to decode). */
const ROUNDING_RETRY = 4;
/** Share of the budget the greedy may always use, even past the deadline. */
const GREEDY_MIN_SHARE = 0.1;
/**
 * Time the greedy may always use when no plan exists yet, as a multiple of the time building the model
 * took: it costs about as much as the build (each job once over the same leaves), so after a slow build
 * a tenth of the budget placed a few percent of the jobs (136 of 5000 with a 3 s budget).
 */
const GREEDY_BUILD_SHARE = 1;
/**
 * Time a sub-MIP needs per free column before it beats its warm start. Measured at 1000 jobs (about
 * 4,400 free columns): 1.9-2.5 s to a proven 1% when run alone, while 0.8-2.7 s inside loaded cycles
 * returned only the warm start; at 100 jobs (about 1,600) under 1 s. A shorter one is not started.
 */
const SUB_MIP_MS_PER_FREE = 0.55;
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

/** Variables of leaves neither the LP (when there is one) nor the incumbent used are fixed to 0. */
function restrict(
  compiled: CompiledModel,
  lp: Float64Array | undefined,
  warm: ReadonlyMap<string, number>,
): MilpModel {
  const { model } = compiled;
  const off = new Set<number>();
  for (const cg of compiled.groups) {
    for (const ref of cg.leafRefs) {
      const idx = [ref.indicator, ...ref.units.map((u) => u.varIndex)];
      const used = idx.some((i) => (lp?.[i] ?? 0) > 1e-6 || (warm.get(model.vars[i]!.name) ?? 0) > 0);
      if (!used) for (const i of idx) off.add(i);
    }
  }
  return { ...model, vars: model.vars.map((v, i) => (off.has(i) ? { ...v, ub: 0 } : v)) };
}

/**
 * The previous cycle's plan, carried onto this cycle's model by variable name: in a steady state most
 * of it still holds, so it is a cheap candidate (and a warm start) next to the rounding.
 */
function considerPrevious(
  ctx: PlanContext,
  compiled: CompiledModel,
  prev: ReadonlyMap<string, number>,
  consider: (o: Outcome) => void,
): void {
  const values = Float64Array.from(compiled.model.vars, (v) => prev.get(v.name) ?? 0);
  if (!values.some((x) => x > 0)) return;
  // The old values need not fit this cycle's fleet (instances ended, caps filled): the decode then
  // fails verification, and the candidate is simply not used.
  try {
    consider(decodeSolution(ctx, compiled, values));
  } catch (e) {
    if (!(e instanceof PlanInvariantError)) throw e;
  }
}

/**
 * Pricing pays off while groups are small (measured at 1000 jobs, 2.6 per group: within 1% of the LP in
 * 2.2-2.9 s against 2.5-4.3 s for the full LP). With big groups (5000 jobs, about 7 per group) the
 * optimum spreads each group over many leaves and pricing needed 8 rounds, 3x the full LP's time.
 */
const PRICING_MAX_MEAN_GROUP = 4;
/** Below this many columns the full LP is fast (100 jobs, 9.6k columns: under 0.2 s) and is solved whole. */
const PRICING_MIN_VARS = 20_000;
/** Pricing stops once its bound is within this share of the restricted LP's value. */
const PRICING_TOL = 0.004;

/**
 * The LP relaxation by pricing (pricing.ts): rounds of a restricted LP until pricing proves it within
 * PRICING_TOL of the full LP or the time runs out. Each optimal round gives values to round and a
 * valid bound, so a late round stopped by the clock loses only its own progress. Without row duals
 * (a solver that does not report them) the full LP is solved instead.
 */
async function restrictedLp(
  compiled: CompiledModel,
  prev: ReadonlyMap<string, number> | undefined,
  leftMs: () => number,
  solve: (model: MilpModel, limitMs: number) => Promise<MilpSolution | undefined>,
): Promise<{ values: Float64Array; bound?: number } | undefined> {
  const names = compiled.model.vars;
  const r = initialRestriction(compiled, (i) => (prev?.get(names[i]!.name) ?? 0) > 0);
  const jobs = compiled.groups.reduce((n, cg) => n + cg.group.jobs.length, 0);
  const small = compiled.model.vars.length < PRICING_MIN_VARS;
  if (small || jobs > PRICING_MAX_MEAN_GROUP * compiled.groups.length) for (const s of r.out) s.clear();
  let last: { values: Float64Array; bound?: number } | undefined;
  while (leftMs() > MIN_STAGE_MS) {
    const sol = await solve(leftOut(r) > 0 ? restrictedModel(compiled, r) : compiled.model, leftMs());
    if (!sol) break;
    if (sol.status !== 'optimal') return last ?? { values: sol.values };
    if (leftOut(r) === 0) return { values: sol.values, bound: sol.objective };
    if (!sol.rowDuals) {
      r.out.forEach((s) => {
        s.clear();
      });
      last = { values: sol.values };
      continue;
    }
    const p = price(compiled, r, sol.objective, sol.rowDuals);
    // Every round's bound is valid; they need not decrease, so the least is kept.
    last = { values: sol.values, bound: Math.min(p.bound, last?.bound ?? Number.POSITIVE_INFINITY) };
    if (p.bound - sol.objective <= PRICING_TOL * Math.max(1, Math.abs(sol.objective))) break;
    bringIn(r, p.add);
  }
  return last;
}

function freeColumns(model: MilpModel): number {
  let n = 0;
  for (const v of model.vars) if (v.lb !== v.ub) n++;
  return n;
}

/** By status and length: a model whose columns are all fixed is solved with nothing left to search. */
function hasValues(s: MilpSolution, model: MilpModel): boolean {
  return (s.status === 'optimal' || s.status === 'feasible') && s.values.length === model.vars.length;
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
  if (ctx.prepared.groups.length === 0) {
    return toPlan(ctx, greedyOutcome(ctx), {
      engine: 'greedy',
      solveMs: budget.solveMs(),
      model: { variables: 0, rows: 0 },
    });
  }
  const compiled = compile(ctx.fleet, ctx.prepared.groups, ctx.input.now);
  // Reading the input, asking the policies and compiling all count against the budget (with a clock).
  const buildMs = budget.elapsed();
  const relGap = options.relGap ?? DEFAULT_GAP;
  let best: Best | undefined;
  const consider = (o: Outcome, engine: 'milp' | 'greedy', solverObjective?: number) => {
    if (!best || o.objective > best.outcome.objective + 1e-9) best = { outcome: o, engine, solverObjective };
  };
  let greedyDone = false;
  const greedy = () => {
    if (greedyDone) return;
    greedyDone = true;
    // At 5000 jobs the greedy takes seconds: it stops placing at the deadline, but always gets a tenth
    // of the budget, and when it is the only plan at least the build's time, so a cycle whose build or
    // solver overran still places its most valuable jobs.
    const floor = Math.max(options.timeLimitMs * GREEDY_MIN_SHARE, best ? 0 : buildMs * GREEDY_BUILD_SHARE);
    const end = Math.max(options.timeLimitMs, budget.elapsed() + floor);
    consider(
      greedyOutcome(ctx, undefined, () => budget.elapsed() > end),
      'greedy',
    );
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
      const ok = hasValues(sol, model);
      if (!ok) notes.push(`${stage}: solver returned ${sol.status}${sol.message ? ` (${sol.message})` : ''}`);
      return ok ? sol : undefined;
    } catch (e) {
      notes.push(`${stage}: solver failed: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  };
  const pipeline = (options.strategy ?? 'pipeline') === 'pipeline';
  // The greedy plan costs about what a rounding does; the pipeline computes it only when the LP gives
  // nothing to round, or at the end when time is left (it rarely beats the rounding).
  if (!pipeline) greedy();
  // Time a rounding or a decode took: what is kept back from a solver stage for the decode after it.
  let packMs = 0;
  if (pipeline && budget.left() > MIN_STAGE_MS) {
    // Rounding costs up to about what building the model did (0.4x at 1000 jobs; more at 5000, where
    // the rounding then stops at the deadline and leaves the jobs it did not reach for the next cycle).
    const reserve = Math.max(budget.left() * (1 - LP_SHARE), budget.elapsed() * ROUNDING_RESERVE);
    const lpEnd = budget.elapsed() + Math.max(0, budget.left() - reserve);
    const res = await restrictedLp(
      compiled,
      options.warm?.values,
      () => lpEnd - budget.elapsed(),
      (m, ms) => run(m, { timeLimitMs: ms, relGap, relaxIntegrality: true }, 'lp'),
    );
    if (res) {
      lp = res.values;
      bound = res.bound;
      const guide = lpGuide(compiled, res.values, options.warm?.values);
      const t0 = budget.elapsed();
      const stop = () => budget.left() < MIN_STAGE_MS;
      consider(roundedOutcome(ctx, guide, lpCounts(compiled, res.values), stop), 'milp');
      packMs = budget.elapsed() - t0;
      // Counts rounded to the nearest pack tighter; neither wins always (at 1000 jobs: 837.4 up, 838.8
      // nearest), so with time left both are tried.
      if (budget.left() > packMs * ROUNDING_RETRY)
        consider(roundedOutcome(ctx, guide, lpCounts(compiled, res.values, false), stop), 'milp');
    }
  }
  if (pipeline && options.warm && budget.left() > packMs * 2)
    considerPrevious(ctx, compiled, options.warm.values, (o) => consider(o, 'milp'));
  // Without an optimal LP the rounding had little to go on: the greedy plan is the safer incumbent.
  if (!best || bound === undefined) greedy();
  const mipLimit = budget.left() - packMs * DECODE_RESERVE;
  const warm = best ? outcomeToValues(compiled, best.outcome) : undefined;
  // Never the whole model in the pipeline: its presolve alone outlasts any budget at scale.
  const model = warm && pipeline ? restrict(compiled, lp, warm) : compiled.model;
  const free = pipeline ? freeColumns(model) : 0;
  if (mipLimit <= MIN_STAGE_MS || !warm) {
    notes.push(`mip: skipped, ${Math.round(budget.elapsed())} of ${options.timeLimitMs} ms already spent`);
  } else if (mipLimit < free * SUB_MIP_MS_PER_FREE) {
    notes.push(`sub-mip: skipped, ${Math.round(mipLimit)} ms left for ${free} free columns`);
  } else {
    const sol = await run(model, { timeLimitMs: mipLimit, relGap, warmStart: warm }, lp ? 'sub-mip' : 'mip');
    if (sol) {
      consider(decodeSolution(ctx, compiled, sol.values), 'milp', sol.objective);
      if (!pipeline && sol.bound !== undefined) bound = sol.bound;
    }
  }
  if (!greedyDone && budget.left() > packMs) greedy();
  const final = best ?? { outcome: greedyOutcome(ctx), engine: 'greedy' as const };
  const obj = final.outcome.objective;
  const gap = bound === undefined ? undefined : Math.max(0, bound - obj) / Math.max(1, Math.abs(obj));
  return toPlan(ctx, final.outcome, {
    engine: final.engine,
    solveMs: budget.solveMs(),
    model: { variables: compiled.model.vars.length, rows: compiled.model.rows.length },
    gap,
    solverObjective: final.solverObjective,
    warm: outcomeToValues(compiled, final.outcome),
    notes,
  });
}
