/**
 * Carries an LP basis from one solve to the next by column and row name. Placement models of
 * successive cycles share most names (they derive from job ids, types and slots), so the previous
 * optimal basis is a good start: the simplex only has to repair what the new jobs changed.
 *
 * A basis must have exactly one basic variable per row. After matching by name the count can be
 * off (new rows start basic, vanished rows took their basic slack with them), so the offered basis
 * is balanced: extra basic columns become nonbasic at a bound, and missing ones are made up with
 * row slacks. HiGHS refactorises the result and, if it is singular, repairs or rejects it; a
 * rejected basis simply means the solve starts from scratch.
 */
import type { Model } from 'highs';
import type { MilpModel } from '../core/placement/milp.ts';

export interface BasisMemory {
  readonly cols: Map<string, number>;
  readonly rows: Map<string, number>;
}

const LOWER = 0;
const BASIC = 1;
const UPPER = 2;
const ZERO = 3;

/** Store the final basis of `native`, when HiGHS reports a valid one. */
export function rememberBasis(native: Model, model: MilpModel, memory: BasisMemory): void {
  if (Number(native.info.get('basis_validity')) !== 1) return;
  const basis = native.getBasis();
  memory.cols.clear();
  memory.rows.clear();
  model.vars.forEach((v, i) => {
    memory.cols.set(v.name, basis.colStatus[i] ?? LOWER);
  });
  model.rows.forEach((r, i) => {
    memory.rows.set(r.name, basis.rowStatus[i] ?? BASIC);
  });
}

/** Offer the remembered basis to `native`; returns whether HiGHS accepted it. */
export function offerBasis(native: Model, model: MilpModel, memory: BasisMemory): boolean {
  if (memory.cols.size === 0) return false;
  const colStatus = Int32Array.from(model.vars, (v) => fitStatus(memory.cols.get(v.name), v.lb, v.ub, LOWER));
  const rowStatus = Int32Array.from(model.rows, (r) => fitStatus(memory.rows.get(r.name), r.lb, r.ub, BASIC));
  balance(colStatus, rowStatus, model);
  const result = native.raw.setBasis({ colStatus, rowStatus });
  if (result.status < 0) native.raw.setLogicalBasis();
  return result.status >= 0;
}

/** A stored status that still makes sense for the current bounds (unknown names get `fallback`). */
function fitStatus(stored: number | undefined, lb: number, ub: number, fallback: number): number {
  const status = stored ?? fallback;
  if (status === BASIC) return BASIC;
  const hasLb = lb > Number.NEGATIVE_INFINITY;
  const hasUb = ub < Number.POSITIVE_INFINITY;
  if (status === UPPER && hasUb) return UPPER;
  if (hasLb) return LOWER;
  if (hasUb) return UPPER;
  return ZERO;
}

function nonbasicFor(lb: number, ub: number): number {
  if (lb > Number.NEGATIVE_INFINITY) return LOWER;
  if (ub < Number.POSITIVE_INFINITY) return UPPER;
  return ZERO;
}

function balance(colStatus: Int32Array, rowStatus: Int32Array, model: MilpModel): void {
  let basic = 0;
  for (const s of colStatus) if (s === BASIC) basic++;
  for (const s of rowStatus) if (s === BASIC) basic++;
  const target = rowStatus.length;
  // Too few: make nonbasic row slacks basic.
  for (let r = 0; r < rowStatus.length && basic < target; r++) {
    if (rowStatus[r] !== BASIC) {
      rowStatus[r] = BASIC;
      basic++;
    }
  }
  // Too many: move basic columns to a bound, last columns first (the newest names tend to sit there).
  for (let c = colStatus.length - 1; c >= 0 && basic > target; c--) {
    const v = model.vars[c];
    if (colStatus[c] === BASIC && v) {
      colStatus[c] = nonbasicFor(v.lb, v.ub);
      basic--;
    }
  }
}
