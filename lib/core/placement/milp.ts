/**
 * A solver-neutral mixed-integer linear program, and the MilpSolver port that solves it.
 * The placement compiler builds a MilpModel; an adapter (HiGHS in `lib/solver`) solves it.
 * Variable and row names must be stable across cycles (derived from job ids, types and slots),
 * so a previous solution can warm-start the next one.
 */

export type VarKind = 'continuous' | 'integer' | 'binary';

export interface MilpVar {
  readonly name: string;
  readonly kind: VarKind;
  readonly lb: number;
  /** Infinity for unbounded. */
  readonly ub: number;
  /** Objective coefficient (the model maximises). */
  readonly obj: number;
}

export interface MilpRow {
  readonly name: string;
  /** Pairs of (variable index, coefficient). */
  readonly terms: ReadonlyArray<readonly [number, number]>;
  /** -Infinity when there is no lower bound. */
  readonly lb: number;
  /** Infinity when there is no upper bound. */
  readonly ub: number;
}

export interface MilpModel {
  readonly sense: 'maximize';
  readonly vars: readonly MilpVar[];
  readonly rows: readonly MilpRow[];
  /** Constant added to the objective. */
  readonly objOffset?: number;
}

export interface MilpSolveOptions {
  /** Wall-clock budget in ms; the adapter enforces it itself where the solver does not. */
  readonly timeLimitMs: number;
  /** Stop once (bound - incumbent) / |incumbent| is at most this. */
  readonly relGap: number;
  /** A feasible assignment by variable name, used as the incumbent to start from. */
  readonly warmStart?: ReadonlyMap<string, number>;
  /** Solve the LP relaxation only. */
  readonly relaxIntegrality?: boolean;
}

export type MilpStatus = 'optimal' | 'feasible' | 'infeasible' | 'unbounded' | 'no-solution' | 'error';

export interface MilpSolution {
  readonly status: MilpStatus;
  /** Values by variable index; empty when there is no solution. */
  readonly values: Float64Array;
  readonly objective: number;
  /** Best proven bound on the objective, when known. */
  readonly bound?: number;
  /** Relative gap reached, when known. */
  readonly gap?: number;
  readonly solveMs: number;
  readonly message?: string;
  /**
   * Row duals of an optimal LP relaxation, by row index (0 for a row the solver did not see), when the
   * solver reports them: d objective / d row bound, so >= 0 on a binding upper bound of a maximisation.
   */
  readonly rowDuals?: Float64Array;
}

/**
 * Solves a MilpModel. Contract: never throws for an infeasible or unsolved model (that is a status);
 * throws only when the solver itself cannot run (e.g. the WASM module fails to load).
 */
export interface MilpSolver {
  solve(model: MilpModel, options: MilpSolveOptions): Promise<MilpSolution>;
}
