/**
 * STRL, the space-time request language of TetriSched, as typed data.
 *
 * A leaf asks for `k` units from a set of partitions (pools of interchangeable capacity), starting in
 * slot `start` and holding them for `duration` slots. In TetriSched a unit is a whole node; here a unit
 * is one task's `demand` (vCPU, memory, GPUs), because many tasks share one instance.
 *
 * Semantics (value of an expression given what the solver grants):
 * - `nCk`     all k units or nothing; value `v` when granted.
 * - `LnCk`    up to k units; value `v * m / k` for m units.
 * - `MAX`     at most one child is satisfied; value of that child.
 * - `MIN`     all children are satisfied together or none is; value of the smallest child. This is the
 *             paper's semantics (not the "sum of an all-or-nothing group" variant), so MIN expresses
 *             "worth only as much as its weakest part", e.g. a pipeline that needs every stage.
 * - `SUM`     any subset of children; values add.
 * - `BARRIER` value `v` when the child earns at least `v`, else 0.
 * - `SCALE`   child's value times `s` (priorities).
 */
import type { Resources } from '../model/resources.ts';

/** What a leaf refers back to, so a decoded grant becomes a placement of a job's alternative. */
export interface LeafTag {
  readonly jobId: string;
  readonly alternative: number;
}

export interface ChooseExpr {
  readonly op: 'nCk' | 'LnCk';
  readonly partitions: readonly string[];
  readonly k: number;
  readonly start: number;
  readonly duration: number;
  readonly value: number;
  readonly demand: Resources;
  readonly tag?: LeafTag;
}

export interface NaryExpr {
  readonly op: 'MAX' | 'MIN' | 'SUM';
  readonly children: readonly StrlExpr[];
}

export interface BarrierExpr {
  readonly op: 'BARRIER';
  readonly child: StrlExpr;
  readonly value: number;
}

export interface ScaleExpr {
  readonly op: 'SCALE';
  readonly child: StrlExpr;
  readonly factor: number;
}

export type StrlExpr = ChooseExpr | NaryExpr | BarrierExpr | ScaleExpr;

function choose(
  op: 'nCk' | 'LnCk',
  partitions: readonly string[],
  k: number,
  start: number,
  duration: number,
  value: number,
  demand: Resources,
  tag?: LeafTag,
): ChooseExpr {
  return tag
    ? { op, partitions, k, start, duration, value, demand, tag }
    : { op, partitions, k, start, duration, value, demand };
}

/** k units from `partitions`, all or nothing, in slots [start, start + duration), worth `value`. */
export function nCk(
  partitions: readonly string[],
  k: number,
  start: number,
  duration: number,
  value: number,
  demand: Resources,
  tag?: LeafTag,
): ChooseExpr {
  return choose('nCk', partitions, k, start, duration, value, demand, tag);
}

/** Up to k units from `partitions`, worth `value * m / k` for m units. */
export function LnCk(
  partitions: readonly string[],
  k: number,
  start: number,
  duration: number,
  value: number,
  demand: Resources,
  tag?: LeafTag,
): ChooseExpr {
  return choose('LnCk', partitions, k, start, duration, value, demand, tag);
}

export function MAX(...children: StrlExpr[]): NaryExpr {
  return { op: 'MAX', children };
}

export function MIN(...children: StrlExpr[]): NaryExpr {
  return { op: 'MIN', children };
}

export function SUM(...children: StrlExpr[]): NaryExpr {
  return { op: 'SUM', children };
}

export function BARRIER(child: StrlExpr, value: number): BarrierExpr {
  return { op: 'BARRIER', child, value };
}

export function SCALE(child: StrlExpr, factor: number): ScaleExpr {
  return { op: 'SCALE', child, factor };
}

export function isLeaf(e: StrlExpr): e is ChooseExpr {
  return e.op === 'nCk' || e.op === 'LnCk';
}

/** Every leaf, depth first, left to right (the order the compiler and the decoder share). */
export function leaves(e: StrlExpr): ChooseExpr[] {
  if (isLeaf(e)) return [e];
  if (e.op === 'BARRIER' || e.op === 'SCALE') return leaves(e.child);
  return e.children.flatMap(leaves);
}

/** The most the expression can ever be worth (a true bound, used instead of a big-M). */
export function upperBound(e: StrlExpr): number {
  switch (e.op) {
    case 'nCk':
    case 'LnCk':
      return e.value;
    case 'MAX':
      return Math.max(0, ...e.children.map(upperBound));
    case 'MIN':
      return Math.min(...e.children.map(upperBound));
    case 'SUM':
      return e.children.reduce((s, c) => s + upperBound(c), 0);
    case 'BARRIER':
      return e.value;
    case 'SCALE':
      return e.factor * upperBound(e.child);
  }
}

/**
 * The value of `e` when leaf i (in `leaves(e)` order) is granted `granted[i]` units, following the
 * semantics above. A grant that breaks a rule (part of an nCk, two children of a MAX, part of a MIN)
 * is worth nothing here; the compiler's rows forbid those grants anyway.
 */
export function evaluate(e: StrlExpr, granted: readonly number[]): number {
  let next = 0;
  const walk = (x: StrlExpr): { value: number; satisfied: boolean } => {
    if (isLeaf(x)) {
      const g = granted[next++] ?? 0;
      if (x.op === 'nCk')
        return g === x.k ? { value: x.value, satisfied: true } : { value: 0, satisfied: false };
      return { value: (x.value * Math.min(g, x.k)) / x.k, satisfied: g > 0 };
    }
    if (x.op === 'SCALE') {
      const c = walk(x.child);
      return { value: x.factor * c.value, satisfied: c.satisfied };
    }
    if (x.op === 'BARRIER') {
      const c = walk(x.child);
      const ok = c.satisfied && c.value >= x.value - 1e-9;
      return { value: ok ? x.value : 0, satisfied: ok };
    }
    const kids = x.children.map(walk);
    const sat = kids.filter((k) => k.satisfied);
    if (x.op === 'SUM') return { value: kids.reduce((s, k) => s + k.value, 0), satisfied: sat.length > 0 };
    if (x.op === 'MAX')
      return sat.length === 1 ? { value: sat[0]!.value, satisfied: true } : { value: 0, satisfied: false };
    const all = sat.length === kids.length;
    return all
      ? { value: Math.min(...kids.map((k) => k.value)), satisfied: true }
      : { value: 0, satisfied: false };
  };
  return walk(e).value;
}
