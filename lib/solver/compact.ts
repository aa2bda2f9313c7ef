/**
 * Drops fixed columns (lb === ub) before a model reaches HiGHS. A sub-MIP that restricts a big model
 * to the columns an LP used does so by fixing the rest at 0; handing those columns over anyway costs
 * copying, presolve time and memory for nothing. Each dropped column moves its constant share into
 * the row bounds and the objective offset; rows left with no terms are checked and dropped.
 */
import type { MilpModel, MilpRow } from '../core/placement/milp.ts';

export interface Compacted {
  readonly model: MilpModel;
  /** `keep[i]` is the original index of compact variable i. */
  readonly keep: Int32Array;
  /** `rowKeep[r]` is the original index of compact row r. */
  readonly rowKeep: Int32Array;
  /** The name of a row that the fixed values alone violate, when there is one. */
  readonly violatedRow?: string;
}

const TOLERANCE = 1e-9;

/** The model without fixed columns, or undefined when no column is fixed (nothing to gain). */
export function compactFixed(model: MilpModel): Compacted | undefined {
  const n = model.vars.length;
  const newIndex = new Int32Array(n).fill(-1);
  const keep: number[] = [];
  let offset = model.objOffset ?? 0;
  model.vars.forEach((v, i) => {
    if (v.lb === v.ub) offset += v.obj * v.lb;
    else {
      newIndex[i] = keep.length;
      keep.push(i);
    }
  });
  if (keep.length === n) return undefined;
  const rows: MilpRow[] = [];
  const rowKeep: number[] = [];
  let violatedRow: string | undefined;
  model.rows.forEach((row, r) => {
    let constant = 0;
    const terms: [number, number][] = [];
    for (const [index, coef] of row.terms) {
      const j = newIndex[index] ?? -1;
      if (j >= 0) terms.push([j, coef]);
      else constant += coef * (model.vars[index]?.lb ?? 0);
    }
    const lb = row.lb - constant;
    const ub = row.ub - constant;
    if (terms.length > 0) {
      rows.push({ name: row.name, terms, lb, ub });
      rowKeep.push(r);
    } else if ((lb > TOLERANCE || ub < -TOLERANCE) && violatedRow === undefined) violatedRow = row.name;
  });
  const vars = keep.map((i) => model.vars[i]).filter((v) => v !== undefined);
  return {
    model: { sense: model.sense, vars, rows, objOffset: offset },
    keep: Int32Array.from(keep),
    rowKeep: Int32Array.from(rowKeep),
    ...(violatedRow === undefined ? {} : { violatedRow }),
  };
}

/** Row duals of the original model (0 for dropped rows) from those of the compact one. */
export function expandDuals(original: MilpModel, compact: Compacted, duals: Float64Array): Float64Array {
  const full = new Float64Array(original.rows.length);
  compact.rowKeep.forEach((orig, r) => {
    full[orig] = duals[r] ?? 0;
  });
  return full;
}

/** Values of the original model from values of the compact one. */
export function expandValues(original: MilpModel, compact: Compacted, values: Float64Array): Float64Array {
  const full = Float64Array.from(original.vars, (v) => v.lb);
  compact.keep.forEach((orig, i) => {
    full[orig] = values[i] ?? 0;
  });
  return full;
}
