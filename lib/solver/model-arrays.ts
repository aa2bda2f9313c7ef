/**
 * MilpModel -> the compressed-sparse-row arrays that HiGHS takes directly (`passModel`), plus the
 * structural checks that keep a malformed model from reaching native code. Passing arrays skips
 * writing and parsing LP text, which at 100k columns is a large share of a sub-second solve.
 */
import type { FieldIssue } from '../core/errors.ts';
import type { MilpModel } from '../core/placement/milp.ts';

export interface CsrModel {
  readonly numCols: number;
  readonly numRows: number;
  readonly colCost: Float64Array;
  readonly colLower: Float64Array;
  readonly colUpper: Float64Array;
  readonly rowLower: Float64Array;
  readonly rowUpper: Float64Array;
  readonly starts: Int32Array;
  readonly indices: Int32Array;
  readonly values: Float64Array;
  /** 1 for integer (and binary) columns, 0 for continuous. */
  readonly integrality: Int32Array;
  readonly offset: number;
}

const MAX_ISSUES = 20;

/** Structural problems (bad indices, NaN, crossed bounds), at most 20, with dotted paths. */
export function checkModel(model: MilpModel): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const add = (path: string, message: string) => {
    if (issues.length < MAX_ISSUES) issues.push({ path, message });
  };
  const n = model.vars.length;
  model.vars.forEach((v, i) => {
    if (!Number.isFinite(v.obj)) add(`vars.${i}.obj`, `objective coefficient must be finite, got ${v.obj}`);
    if (Number.isNaN(v.lb) || Number.isNaN(v.ub) || v.lb > v.ub)
      add(`vars.${i}`, `bounds must satisfy lb <= ub, got [${v.lb}, ${v.ub}] for ${v.name}`);
    if (v.lb === Number.POSITIVE_INFINITY || v.ub === Number.NEGATIVE_INFINITY)
      add(`vars.${i}`, `bounds must not be +inf below or -inf above, got [${v.lb}, ${v.ub}] for ${v.name}`);
  });
  model.rows.forEach((row, r) => {
    if (Number.isNaN(row.lb) || Number.isNaN(row.ub) || row.lb > row.ub)
      add(`rows.${r}`, `bounds must satisfy lb <= ub, got [${row.lb}, ${row.ub}] for ${row.name}`);
    row.terms.forEach(([index, coef], k) => {
      if (!Number.isInteger(index) || index < 0 || index >= n)
        add(`rows.${r}.terms.${k}`, `variable index must be between 0 and ${n - 1}, got ${index}`);
      if (!Number.isFinite(coef)) add(`rows.${r}.terms.${k}`, `coefficient must be finite, got ${coef}`);
    });
  });
  if (model.objOffset !== undefined && !Number.isFinite(model.objOffset))
    add('objOffset', `objective offset must be finite, got ${model.objOffset}`);
  return issues;
}

/**
 * Packs the model. Repeated variables in one row are summed (HiGHS rejects duplicates), zero
 * coefficients are dropped, and binaries get their [0, 1] box intersected with the stated bounds.
 */
export function toCsr(model: MilpModel): CsrModel {
  const numCols = model.vars.length;
  const numRows = model.rows.length;
  const colCost = new Float64Array(numCols);
  const colLower = new Float64Array(numCols);
  const colUpper = new Float64Array(numCols);
  const integrality = new Int32Array(numCols);
  model.vars.forEach((v, i) => {
    colCost[i] = v.obj;
    const binary = v.kind === 'binary';
    colLower[i] = binary ? Math.max(v.lb, 0) : v.lb;
    colUpper[i] = binary ? Math.min(v.ub, 1) : v.ub;
    integrality[i] = v.kind === 'continuous' ? 0 : 1;
  });
  let nnz = 0;
  for (const row of model.rows) nnz += row.terms.length;
  const starts = new Int32Array(numRows + 1);
  const indices = new Int32Array(nnz);
  const values = new Float64Array(nnz);
  const rowLower = new Float64Array(numRows);
  const rowUpper = new Float64Array(numRows);
  // Position of each column in the row being packed, to merge repeats; -1 when absent.
  const slot = new Int32Array(numCols).fill(-1);
  let at = 0;
  model.rows.forEach((row, r) => {
    starts[r] = at;
    rowLower[r] = row.lb;
    rowUpper[r] = row.ub;
    const begin = at;
    for (const [index, coef] of row.terms) {
      const seen = slot[index] ?? -1;
      if (seen >= 0) values[seen] = (values[seen] ?? 0) + coef;
      else {
        slot[index] = at;
        indices[at] = index;
        values[at] = coef;
        at++;
      }
    }
    // Reset the scratch slots and squeeze out coefficients that cancelled to zero.
    let write = begin;
    for (let k = begin; k < at; k++) {
      const index = indices[k] ?? 0;
      slot[index] = -1;
      if (values[k] !== 0) {
        indices[write] = index;
        values[write] = values[k] ?? 0;
        write++;
      }
    }
    at = write;
  });
  starts[numRows] = at;
  return {
    numCols,
    numRows,
    colCost,
    colLower,
    colUpper,
    rowLower,
    rowUpper,
    starts,
    indices: indices.subarray(0, at),
    values: values.subarray(0, at),
    integrality,
    offset: model.objOffset ?? 0,
  };
}

/** Objective value of `values` (offset included). */
export function objectiveOf(model: MilpModel, values: ArrayLike<number>): number {
  let total = model.objOffset ?? 0;
  model.vars.forEach((v, i) => {
    total += v.obj * (values[i] ?? 0);
  });
  return total;
}

/** The largest bound or integrality violation of `values`, 0 when feasible. */
export function maxViolation(model: MilpModel, values: ArrayLike<number>): number {
  let worst = 0;
  model.vars.forEach((v, i) => {
    const x = values[i] ?? 0;
    worst = Math.max(worst, v.lb - x, x - v.ub);
    if (v.kind !== 'continuous') worst = Math.max(worst, Math.abs(x - Math.round(x)));
  });
  for (const row of model.rows) {
    let activity = 0;
    for (const [index, coef] of row.terms) activity += coef * (values[index] ?? 0);
    worst = Math.max(worst, row.lb - activity, activity - row.ub);
  }
  return worst;
}
