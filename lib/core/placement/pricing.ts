/**
 * A restricted LP with pricing (column generation over start slots), for the pipeline's LP stage.
 *
 * Most of a job's leaves (one per alternative, start slot and pool set) end up at 0 in the LP. Solving
 * the LP over a few leaves per job, then pricing the rest with the row duals, reaches the full LP's
 * value in a fraction of the simplex work, and gives a valid upper bound on the full LP at every round:
 *
 *   For a group of m identical jobs whose expression is a MAX of nCk leaves, every leaf's indicator sits
 *   in the group's pick row (Σ I <= m). Per unit of I a left-out leaf earns, at the current duals y,
 *     rc = obj(I) - Σ_r y_r a_rI  (+ k max_p [obj(P_p) - Σ_r y_r a_rP]  when units are split over pools).
 *   Raising the pick row's dual by δ_g = max(0, max rc over the group's left-out leaves) makes y dual
 *   feasible for the full LP, so  LP*  <=  z_restricted + Σ_g m_g δ_g  (weak duality).
 *
 * Groups of any other shape keep all their leaves.
 */
import { isLeaf } from '../strl/expr.ts';
import type { CompiledGroup, CompiledModel, LeafRef } from './compile.ts';
import type { MilpModel } from './milp.ts';

/** Leaves each group starts with, per alternative: the earliest start slots. */
const INITIAL_STARTS = 2;
/** New leaves per group and round: the best-priced ones (more per round made the warm rounds slower). */
const ADD_PER_GROUP = 2;
const RC_EPS = 1e-7;

export interface Restriction {
  /** Leaves left out, per group index (by position in `leafRefs`). */
  readonly out: Set<number>[];
}

function priceable(cg: CompiledGroup): boolean {
  const e = cg.group.expr;
  return !isLeaf(e) && e.op === 'MAX' && e.children.every((c) => isLeaf(c) && c.op === 'nCk');
}

function leafVars(ref: LeafRef): number[] {
  return [ref.indicator, ...ref.units.map((u) => u.varIndex).filter((i) => i !== ref.indicator)];
}

/** Earliest starts per alternative, plus every leaf the keep predicate names (e.g. a warm start's). */
export function initialRestriction(
  compiled: CompiledModel,
  keep: (varIndex: number) => boolean,
): Restriction {
  const out = compiled.groups.map((cg) => {
    const set = new Set<number>();
    if (!priceable(cg)) return set;
    const starts = new Map<number, number[]>();
    for (const ref of cg.leafRefs) {
      const alt = ref.leaf.tag?.alternative ?? 0;
      starts.set(alt, [...(starts.get(alt) ?? []), ref.leaf.start]);
    }
    for (const [alt, list] of starts)
      starts.set(
        alt,
        [...new Set(list)].sort((a, b) => a - b),
      );
    cg.leafRefs.forEach((ref, i) => {
      const rank = starts.get(ref.leaf.tag?.alternative ?? 0)!.indexOf(ref.leaf.start);
      if (rank >= INITIAL_STARTS && !leafVars(ref).some(keep)) set.add(i);
    });
    return set;
  });
  return { out };
}

/** The model with the left-out leaves' variables fixed at 0. */
export function restrictedModel(compiled: CompiledModel, r: Restriction): MilpModel {
  const off = new Set<number>();
  compiled.groups.forEach((cg, g) => {
    for (const i of r.out[g]!) for (const v of leafVars(cg.leafRefs[i]!)) off.add(v);
  });
  const { model } = compiled;
  return { ...model, vars: model.vars.map((v, i) => (off.has(i) ? { ...v, ub: 0 } : v)) };
}

export function leftOut(r: Restriction): number {
  return r.out.reduce((n, s) => n + s.size, 0);
}

/** obj_j - Σ_r y_r a_rj for every column (rows with a zero dual are skipped). */
function reducedCosts(model: MilpModel, duals: Float64Array): Float64Array {
  const rc = Float64Array.from(model.vars, (v) => v.obj);
  model.rows.forEach((row, r) => {
    const y = duals[r] ?? 0;
    if (y === 0) return;
    for (const [j, a] of row.terms) rc[j] = rc[j]! - y * a;
  });
  return rc;
}

function leafPrice(ref: LeafRef, rc: Float64Array): number {
  const own = rc[ref.indicator]!;
  const split = ref.units.filter((u) => u.varIndex !== ref.indicator);
  if (split.length === 0) return own;
  return own + ref.leaf.k * Math.max(...split.map((u) => rc[u.varIndex]!));
}

export interface Pricing {
  /** A valid upper bound on the full LP. */
  readonly bound: number;
  /** Leaves to bring in, per group index. */
  readonly add: number[][];
}

/** Prices the left-out leaves at an optimal restricted LP's duals. */
export function price(
  compiled: CompiledModel,
  r: Restriction,
  objective: number,
  duals: Float64Array,
): Pricing {
  const rc = reducedCosts(compiled.model, duals);
  let bound = objective;
  const add = compiled.groups.map((cg, g) => {
    const priced = [...r.out[g]!]
      .map((i) => ({ i, p: leafPrice(cg.leafRefs[i]!, rc) }))
      .filter((x) => x.p > RC_EPS)
      .sort((a, b) => b.p - a.p);
    if (priced.length > 0) bound += cg.group.jobs.length * priced[0]!.p;
    return priced.slice(0, ADD_PER_GROUP).map((x) => x.i);
  });
  return { bound, add };
}

export function bringIn(r: Restriction, add: readonly number[][]): void {
  add.forEach((list, g) => {
    for (const i of list) r.out[g]!.delete(i);
  });
}
