/**
 * HighsSolver: the MilpSolver port over the `highs` npm package (HiGHS compiled to WASM).
 *
 * How the package behaves, and what this adapter does about it:
 * - The runtime is loaded once (see highs-loader.ts) and each solve gets a fresh native model, which
 *   is disposed afterwards (garbage collection does not free WASM memory).
 * - The model goes in as CSR arrays by default; `input: 'lp'` writes LP text instead (lp-format.ts).
 *   Text is much slower on big models (at 2M nonzeros the LP text route took about 8 s more).
 * - HiGHS checks `time_limit` only between phases, so a long root LP can run far past it. The adapter
 *   owns the wall clock: the simplex, interior-point and MIP interrupt callbacks stop the run once the
 *   deadline passes. Presolve fires no callback (a MIP presolve of a 47k-column placement model ran
 *   12 s untouched by them) but does watch `time_limit`, which is set to what is left after the model
 *   is built. A model whose build alone uses up the budget is not run. `solveMs` is the wall time.
 * - A warm start (values by variable name) goes in through `setSolution`; HiGHS checks it and, when
 *   feasible, starts from it as the incumbent. The best incumbent reported through the improving-
 *   solution callback is kept, so an interrupted run still returns it.
 * - With `reuseBasis`, the final basis of an LP solve is remembered by column and row name and
 *   offered to the next LP solve: successive schedule cycles change few jobs, so most of it carries
 *   (measured: 1394 instead of 3553 simplex iterations after replacing 5% of 100 jobs). An LP stopped
 *   inside presolve leaves no valid basis, so nothing carries over from it.
 * - Fixed columns (a sub-MIP fixes unused columns at 0) are folded into row bounds and the offset
 *   before the model is built (compact.ts), so HiGHS only sees the free part.
 * - Infeasible, unbounded and limit outcomes are statuses, never exceptions.
 */
import type { Highs, HighsCallbackMap, Model } from 'highs';
import { z } from 'zod';
import { parseOrThrow } from '../core/model/validate.ts';
import type {
  MilpModel,
  MilpSolution,
  MilpSolveOptions,
  MilpSolver,
  MilpStatus,
} from '../core/placement/milp.ts';
import { type BasisMemory, offerBasis, rememberBasis } from './basis-memory.ts';
import { compactFixed, expandDuals, expandValues } from './compact.ts';
import { loadHighs } from './highs-loader.ts';
import { toLpText } from './lp-format.ts';
import { checkModel, toCsr } from './model-arrays.ts';

const OptionValueSchema = z.union([z.boolean(), z.number(), z.string()]);

export const HighsSolverOptionsSchema = z.object({
  /** Path to highs.wasm; default: next to the bundle, else the installed package. */
  wasmPath: z.string().min(1).optional(),
  /** How the model reaches HiGHS: CSR arrays (default) or CPLEX LP text. */
  input: z.enum(['arrays', 'lp'], { error: 'input must be "arrays" or "lp"' }).default('arrays'),
  /** Extra native options, e.g. `{ mip_heuristic_effort: 0.2 }`; applied last. */
  highsOptions: z
    .record(z.string().regex(/^[a-z_]+$/, { error: 'option names are snake_case' }), OptionValueSchema)
    .default({}),
  /** Offer the previous LP basis (matched by name) to the next LP solve. */
  reuseBasis: z.boolean().default(true),
});
export type HighsSolverOptions = z.input<typeof HighsSolverOptionsSchema>;
type ResolvedOptions = z.output<typeof HighsSolverOptionsSchema>;

/** Model status codes of HiGHS (`highs.constants.modelStatus`). */
const MS = {
  empty: 6,
  optimal: 7,
  infeasible: 8,
  unboundedOrInfeasible: 9,
  unbounded: 10,
  unknown: 15,
} as const;
const PRIMAL_FEASIBLE = 2;

export interface SolveStats {
  /** Packing the model and handing it to HiGHS. */
  readonly buildMs: number;
  /** HiGHS itself (presolve, simplex, branch and bound). */
  readonly runMs: number;
  /** Simplex iterations (LP solves, and the LPs of a MIP). */
  readonly iterations: number;
  /** Whether a remembered LP basis was accepted as the starting basis. */
  readonly basisReused: boolean;
}

interface RunState {
  readonly deadline: number;
  interrupted: boolean;
  incumbent?: Float64Array;
  incumbentObjective: number;
}

export class HighsSolver implements MilpSolver {
  private readonly options: ResolvedOptions;
  private readonly basis: BasisMemory = { cols: new Map(), rows: new Map() };
  private last?: SolveStats;

  constructor(options: HighsSolverOptions = {}) {
    this.options = parseOrThrow(HighsSolverOptionsSchema, options, 'highs solver options');
  }

  /** Loads the WASM runtime now rather than on the first solve (e.g. during a Lambda init phase). */
  async warmUp(): Promise<void> {
    await loadHighs(this.options.wasmPath);
    // One tiny solve compiles the wrapper's JS paths, which otherwise slow the first real solve.
    const tiny: MilpModel = {
      sense: 'maximize',
      vars: [{ name: 'x', kind: 'integer', lb: 0, ub: 3, obj: 1 }],
      rows: [{ name: 'r', terms: [[0, 2]], lb: Number.NEGATIVE_INFINITY, ub: 5 }],
    };
    await this.solve(tiny, { timeLimitMs: 1000, relGap: 0 });
  }

  async solve(model: MilpModel, options: MilpSolveOptions): Promise<MilpSolution> {
    const started = performance.now();
    const highs = await loadHighs(this.options.wasmPath);
    const issues = checkModel(model);
    if (issues.length > 0) {
      const message = `invalid milp model: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`;
      return failed('error', started, message);
    }
    const compact = compactFixed(model);
    if (compact?.violatedRow !== undefined)
      return failed('infeasible', started, `row ${compact.violatedRow} cannot hold with its fixed variables`);
    if (!compact) return this.solveChecked(highs, model, options, started);
    const result = this.solveChecked(highs, compact.model, options, started);
    // Not `values.length`: when every column is fixed the compact answer is optimal with no values.
    if (result.status !== 'optimal' && result.status !== 'feasible') return result;
    return {
      ...result,
      values: expandValues(model, compact, result.values),
      ...(result.rowDuals ? { rowDuals: expandDuals(model, compact, result.rowDuals) } : {}),
    };
  }

  private solveChecked(
    highs: Highs,
    model: MilpModel,
    options: MilpSolveOptions,
    started: number,
  ): MilpSolution {
    if (model.vars.length === 0)
      return emptyModel(
        model,
        model.rows.length === 0 || rowsAdmitZero(model),
        options.relaxIntegrality === true,
        started,
      );
    const state: RunState = {
      deadline: started + Math.max(0, options.timeLimitMs),
      interrupted: false,
      incumbentObjective: Number.NEGATIVE_INFINITY,
    };
    let native: Model | undefined;
    try {
      const built = this.build(highs, model, options);
      native = built.model;
      const builtAt = performance.now();
      // Building a large model takes a while; do not start a run the budget no longer covers.
      if (builtAt >= state.deadline) {
        this.last = { buildMs: builtAt - started, runMs: 0, iterations: 0, basisReused: false };
        return failed('no-solution', started, 'time limit reached before the solve started');
      }
      this.configure(native, options, state);
      const relax = options.relaxIntegrality === true;
      if (!relax && options.warmStart) warmStart(native, model, options.warmStart, built.order);
      const basisReused =
        relax &&
        this.options.reuseBasis &&
        built.order === undefined &&
        offerBasis(native, model, this.basis);
      native.run(callbacks(highs, state));
      this.last = {
        buildMs: builtAt - started,
        runMs: performance.now() - builtAt,
        iterations: Number(native.info.get('simplex_iteration_count')),
        basisReused,
      };
      const result = readResult(native, model, relax, built.order, state, started);
      // Also after a timed-out LP: the next cycle then carries on from where this one stopped.
      if (relax && this.options.reuseBasis && built.order === undefined)
        rememberBasis(native, model, this.basis);
      return result;
    } catch (cause) {
      return failed(
        'error',
        started,
        `highs failed: ${cause instanceof Error ? cause.message : String(cause)}`,
      );
    } finally {
      native?.dispose();
    }
  }

  /** Where the time of the latest solve went, for benchmarks and diagnosis. */
  get lastStats(): SolveStats | undefined {
    return this.last;
  }

  /** Forgets the remembered LP basis (e.g. when the fleet changes shape completely). */
  resetBasis(): void {
    this.basis.cols.clear();
    this.basis.rows.clear();
  }

  /** `order[c]` is the variable index of HiGHS column c when the LP reader reordered columns. */
  private build(
    highs: Highs,
    model: MilpModel,
    options: MilpSolveOptions,
  ): { model: Model; order?: Int32Array } {
    const relax = options.relaxIntegrality === true;
    if (this.options.input === 'lp') {
      const lp = toLpText(model, { relaxIntegrality: relax });
      const native = highs.createModel({ format: 'lp', data: lp.text });
      const byName = new Map(lp.columnNames.map((name, i) => [name, i]));
      const numCols = native.getDimensions().numCols;
      const order = new Int32Array(numCols);
      for (let c = 0; c < numCols; c++) order[c] = byName.get(native.getColName(c)) ?? -1;
      return { model: native, order };
    }
    const csr = toCsr(model);
    const native = highs.createModel({
      numCols: csr.numCols,
      numRows: csr.numRows,
      sense: highs.constants.objectiveSense.maximize,
      offset: csr.offset,
      colCost: csr.colCost,
      colLower: csr.colLower,
      colUpper: csr.colUpper,
      rowLower: csr.rowLower,
      rowUpper: csr.rowUpper,
      matrix: {
        format: 'csr',
        numRows: csr.numRows,
        numCols: csr.numCols,
        starts: csr.starts,
        indices: csr.indices,
        values: csr.values,
      },
      ...(relax ? {} : { integrality: csr.integrality }),
    });
    return { model: native };
  }

  private configure(native: Model, options: MilpSolveOptions, state: RunState): void {
    const remainingSeconds = Math.max(0.001, (state.deadline - performance.now()) / 1000);
    native.options.set({
      output_flag: false,
      time_limit: remainingSeconds,
      mip_rel_gap: Math.max(0, options.relGap),
      ...this.options.highsOptions,
    });
  }
}

function callbacks(highs: Highs, state: RunState): HighsCallbackMap {
  const cb = highs.constants.callbackType;
  const stopIfLate = (event: { interrupt(): void }): undefined => {
    if (performance.now() > state.deadline) {
      state.interrupted = true;
      event.interrupt();
    }
  };
  return {
    [cb.simplexInterrupt]: stopIfLate,
    [cb.ipmInterrupt]: stopIfLate,
    [cb.mipInterrupt]: stopIfLate,
    [cb.mipImprovingSolution]: (event): undefined => {
      const x = event.data.mip_solution;
      const obj = event.data.objective_function_value;
      if (x && obj !== undefined && obj > state.incumbentObjective) {
        state.incumbent = x;
        state.incumbentObjective = obj;
      }
    },
  };
}

/** Dense start: named variables take their values, the rest 0 clamped into their bounds. */
function warmStart(
  native: Model,
  model: MilpModel,
  start: ReadonlyMap<string, number>,
  order?: Int32Array,
): void {
  const byIndex = model.vars.map((v) => clamp(start.get(v.name) ?? 0, v.lb, v.ub));
  const colValue = order ? Float64Array.from(order, (i) => byIndex[i] ?? 0) : Float64Array.from(byIndex);
  // HiGHS checks the start and ignores it when infeasible; the solve goes on either way.
  native.raw.setSolution({ colValue });
}

function readResult(
  native: Model,
  model: MilpModel,
  relax: boolean,
  order: Int32Array | undefined,
  state: RunState,
  started: number,
): MilpSolution {
  const status = native.getModelStatus();
  const hasPrimal = Number(native.info.get('primal_solution_status')) === PRIMAL_FEASIBLE;
  const isMip = !relax && model.vars.some((v) => v.kind !== 'continuous');
  const late = state.interrupted ? ' (stopped at the wall-clock limit)' : '';
  if (status === MS.infeasible) return failed('infeasible', started, 'model is infeasible');
  if (status === MS.unbounded) return failed('unbounded', started, 'model is unbounded');
  if (status === MS.unboundedOrInfeasible)
    return failed(
      hasPrimal ? 'unbounded' : 'infeasible',
      started,
      'presolve found the model infeasible or unbounded',
    );
  if (status < MS.empty) return failed('error', started, `highs model status ${status}`);
  let values: Float64Array | undefined;
  let rowDuals: Float64Array | undefined;
  let objective = Number.NEGATIVE_INFINITY;
  if (hasPrimal) {
    const solution = native.getSolution();
    values = fromColumns(solution.colValue, order, model.vars.length);
    objective = native.getObjectiveValue();
    // LP text may order rows differently from the model; duals are only passed on for arrays input.
    if (relax && !order && status === MS.optimal) rowDuals = Float64Array.from(solution.rowDual);
  }
  if (state.incumbent && state.incumbentObjective > objective + 1e-9) {
    values = fromColumns(state.incumbent, order, model.vars.length);
    objective = state.incumbentObjective;
  }
  if (!values) return failed('no-solution', started, `no feasible solution found${late}`);
  if (isMip) snapIntegers(model, values);
  const optimal = status === MS.optimal || status === MS.empty;
  const bound = isMip ? mipBound(native, objective, optimal) : optimal ? objective : undefined;
  const gap = bound === undefined ? undefined : relativeGap(bound, objective);
  return {
    status: optimal ? 'optimal' : 'feasible',
    values,
    objective,
    ...(bound === undefined ? {} : { bound }),
    ...(gap === undefined ? {} : { gap }),
    solveMs: performance.now() - started,
    ...(optimal ? {} : { message: `stopped with highs model status ${status}${late}` }),
    ...(rowDuals ? { rowDuals } : {}),
  };
}

function mipBound(native: Model, objective: number, optimal: boolean): number | undefined {
  const bound = Number(native.info.get('mip_dual_bound'));
  if (Number.isFinite(bound)) return Math.max(bound, objective);
  return optimal ? objective : undefined;
}

/** (bound - incumbent) / |incumbent|, as the MilpSolution contract defines it. */
export function relativeGap(bound: number, objective: number): number {
  const diff = Math.max(0, bound - objective);
  if (diff === 0) return 0;
  return diff / Math.max(Math.abs(objective), 1e-9);
}

function fromColumns(columns: Float64Array, order: Int32Array | undefined, n: number): Float64Array {
  if (!order) return Float64Array.from(columns.subarray(0, n));
  const values = new Float64Array(n);
  order.forEach((varIndex, c) => {
    if (varIndex >= 0) values[varIndex] = columns[c] ?? 0;
  });
  return values;
}

/** Integer columns come back as e.g. 0.9999999; decoders should see exact integers. */
function snapIntegers(model: MilpModel, values: Float64Array): void {
  model.vars.forEach((v, i) => {
    // `+ 0` turns the -0 that rounding a tiny negative gives into 0.
    if (v.kind !== 'continuous') values[i] = Math.round(values[i] ?? 0) + 0;
  });
}

function rowsAdmitZero(model: MilpModel): boolean {
  return model.rows.every((r) => r.lb <= 0 && r.ub >= 0);
}

function emptyModel(model: MilpModel, feasible: boolean, relax: boolean, started: number): MilpSolution {
  if (!feasible) return failed('infeasible', started, 'a row with no variables excludes 0');
  const objective = model.objOffset ?? 0;
  return {
    status: 'optimal',
    values: new Float64Array(0),
    objective,
    bound: objective,
    gap: 0,
    solveMs: performance.now() - started,
    // No row can bind without variables, so 0 is an optimal dual (pricing needs one from every LP).
    ...(relax ? { rowDuals: new Float64Array(model.rows.length) } : {}),
  };
}

function failed(status: MilpStatus, started: number, message: string): MilpSolution {
  return {
    status,
    values: new Float64Array(0),
    objective: Number.NaN,
    solveMs: performance.now() - started,
    message,
  };
}

function clamp(x: number, lb: number, ub: number): number {
  return Math.min(ub, Math.max(lb, x));
}
