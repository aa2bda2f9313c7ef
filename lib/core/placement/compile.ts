/**
 * STRL + fleet -> MilpModel.
 *
 * Derivation. Slots t = 0..T-1 of Δ seconds; pools p (fleet.ts); job groups g of m identical jobs.
 * gen(e, I) takes the indicator I of e's parent (a variable, or the constant m at a group root that
 * is a MAX or SUM) and returns e's contribution f_e to the objective:
 *
 *   nCk(S,k,s,d,v):  P_p in [0, k m] for p in S;  Σ_p P_p = k I;  f = v I.   (one pool: P_p := k I)
 *   LnCk:            Σ_p P_p <= k I;  f = Σ_p (v/k) P_p.
 *   MAX(e_i):        I_i per child;  Σ I_i <= I;  f = Σ f_i.
 *   MIN(e_i):        every child gets the shared I;  U in [0, ub(MIN)];  f_i - U >= 0;  f = U.
 *   SUM(e_i):        I_i <= I per child;  f = Σ f_i.
 *
 * MIN is TetriSched's: with I = 1 each child still grants what its own rule allows (part of an LnCk,
 * any subset of a SUM, at most one MAX child), and U is the least child value. A child left with
 * nothing is worth 0 and so is the MIN, as `evaluate` has it; forcing every child to be granted whole
 * instead would price "worth its weakest part" as "all of it".
 *   BARRIER(e,v):    f_e - v I >= 0;  f = v I.          SCALE(e,s):  f = s f_e.
 *
 * No big-M: every link is k I or Σ I_i <= I, and U's bound is the tree's true upper bound.
 *
 * Capacity. A leaf starting at s for d slots registers demand_r * P_p in rows (p, t, r) for
 * t in [s, min(s+d, T)). For an existing pool the right side is the constant Σ_members free_r(t); for a
 * launch pool it is capacity_r * x_p(t), with x_p(t) integer = new instances alive in slot t. Counting
 * per pool relaxes multi-dimensional packing, so decode packs concretely and repairs (decode.ts).
 *
 * Launches. x_p(t) exists from the boot slot b_p on; a launch in slot j serves from j + b_p:
 *   l_p(j) >= x_p(j + b_p) - x_p(j + b_p - 1),  l_p >= 0 (integral at an optimum since x is).
 * Cost over the window = Σ_t price Δh x_p(t) + Σ_j price b_p Δh l_p(j) (booting is paid for too).
 * An instance no longer needed drops out of x (it is terminated), so the model decides between buying
 * now, waiting for busy capacity, or not running a job, by utility minus cost.
 *
 * Caps, per slot t, counting booting instances (launched in (t - b, t]):
 *   Σ_p price_p (x_p(t) + Σ l_p) <= budget - Σ existing prices;   Σ_p (x_p(t) + Σ l_p) <= max - #existing.
 *
 * Objective: maximise Σ_g f_root(g) - cost. Names derive from job ids, pool ids and absolute slot
 * numbers, so they stay stable across cycles for warm starts.
 */
import { copiesThatFit, RESOURCE_DIMENSIONS, type Resources } from '../model/resources.ts';
import { type ChooseExpr, isLeaf, type StrlExpr, upperBound } from '../strl/expr.ts';
import { addConflictRows, type UsageCell, type UsageTerm } from './conflict-rows.ts';
import { type Fleet, type LaunchPool, launchCap, type Pool, windowEnd } from './fleet.ts';
import type { JobGroup } from './jobs.ts';
import type { MilpModel } from './milp.ts';
import { addScaled, addTerm, type Linear, linear, ModelBuilder } from './model-builder.ts';

/** A unit variable of a leaf: `coef * value(varIndex)` tasks go to `poolId`. */
export interface UnitRef {
  readonly poolId: string;
  readonly varIndex: number;
  readonly coef: number;
}

export interface LeafRef {
  readonly leaf: ChooseExpr;
  /** Position in `leaves(group.expr)`. */
  readonly leafIndex: number;
  readonly indicator: number;
  readonly units: readonly UnitRef[];
}

export interface CompiledGroup {
  readonly group: JobGroup;
  readonly leafRefs: readonly LeafRef[];
  /** Every variable this group owns (for restricting a sub-MIP). */
  readonly varIndices: readonly number[];
}

export interface LaunchVars {
  readonly pool: LaunchPool;
  /** x by slot (undefined before boot or past the last slot anything could use). */
  readonly x: readonly (number | undefined)[];
  /** l by launch slot. */
  readonly l: readonly (number | undefined)[];
}

export interface CompiledModel {
  readonly model: MilpModel;
  readonly fleet: Fleet;
  readonly groups: readonly CompiledGroup[];
  readonly launches: ReadonlyMap<string, LaunchVars>;
  readonly absSlot0: number;
}

type Indicator =
  | { readonly kind: 'var'; readonly index: number }
  | { readonly kind: 'const'; readonly value: number };

class Compiler {
  readonly b = new ModelBuilder();
  /** Usage terms per (pool, slot), keyed by poolIndex * slots + t. */
  readonly cells = new Map<number, UsageCell>();
  private readonly poolIndex: Map<string, number>;
  private readonly unitCaps = new Map<Resources, Map<string, number>>();
  private leafRefs: LeafRef[] = [];
  private owned: number[] = [];
  private leafCounter = 0;
  private groupId = '';

  constructor(
    readonly fleet: Fleet,
    readonly absSlot0: number,
  ) {
    this.poolIndex = new Map([...fleet.pools.keys()].map((id, i) => [id, i]));
  }

  private use(poolId: string, t: number, term: UsageTerm): void {
    const key = this.poolIndex.get(poolId)! * this.fleet.slots + t;
    let cell = this.cells.get(key);
    if (!cell) {
      cell = { poolId, t, terms: [] };
      this.cells.set(key, cell);
    }
    cell.terms.push(term);
  }

  group(g: JobGroup): CompiledGroup {
    this.leafRefs = [];
    this.owned = [];
    this.leafCounter = 0;
    this.groupId = g.id;
    const mult = g.jobs.length;
    const e = g.expr;
    const rootConst = !isLeaf(e) && (e.op === 'MAX' || e.op === 'SUM');
    const ind: Indicator = rootConst
      ? { kind: 'const', value: mult }
      : { kind: 'var', index: this.newVar(`${g.id}.I`, mult) };
    const f = this.gen(e, ind, g.id, mult);
    for (const [i, c] of f.terms) this.b.addObjective(i, c);
    return { group: g, leafRefs: this.leafRefs, varIndices: this.owned };
  }

  private newVar(name: string, ub: number, kind: 'integer' | 'continuous' = 'integer'): number {
    const i = this.b.addVar(name, kind, 0, ub);
    this.owned.push(i);
    return i;
  }

  private indicatorFor(ind: Indicator, name: string, mult: number): number {
    return ind.kind === 'var' ? ind.index : this.newVar(name, Math.min(mult, ind.value));
  }

  private gen(e: StrlExpr, ind: Indicator, path: string, mult: number): Linear {
    if (isLeaf(e)) return this.leaf(e, this.indicatorFor(ind, this.leafName(e, path), mult), mult);
    switch (e.op) {
      case 'SCALE':
        return addScaled(linear(), this.gen(e.child, ind, `${path}.S`, mult), e.factor);
      case 'BARRIER': {
        const fe = this.gen(e.child, ind, `${path}.B`, mult);
        const I = this.indicatorFor(ind, `${path}.B.I`, mult);
        this.b.addRow(
          `${path}.barrier`,
          addTerm(addScaled(linear(), fe, 1), I, -e.value),
          0,
          Number.POSITIVE_INFINITY,
        );
        return addTerm(linear(), I, e.value);
      }
      case 'MIN':
        return this.min(e.children, ind, path, mult, upperBound(e));
      case 'MAX':
      case 'SUM':
        return this.choice(e.op, e.children, ind, path, mult);
    }
  }

  /** MAX: at most one child per unit of I. SUM: each child at most I. */
  private choice(
    op: 'MAX' | 'SUM',
    children: readonly StrlExpr[],
    ind: Indicator,
    path: string,
    mult: number,
  ) {
    const f = linear();
    const link = linear();
    const bound = ind.kind === 'const' ? ind.value : 0;
    if (ind.kind === 'var') addTerm(link, ind.index, -1);
    children.forEach((c, i) => {
      const name = isLeaf(c) ? this.leafName(c, path) : `${path}.${op === 'MAX' ? 'm' : 's'}${i}`;
      const Ii = this.newVar(name, Math.min(mult, ind.kind === 'const' ? ind.value : mult));
      addScaled(f, this.gen(c, { kind: 'var', index: Ii }, name, mult), 1);
      if (op === 'MAX') addTerm(link, Ii, 1);
      else if (ind.kind === 'var')
        this.b.addRow(`${name}.le`, addTerm(addTerm(linear(), Ii, 1), ind.index, -1), -Infinity, 0);
    });
    if (op === 'MAX') this.b.addRow(`${path}.pick`, link, Number.NEGATIVE_INFINITY, bound);
    return f;
  }

  private min(children: readonly StrlExpr[], ind: Indicator, path: string, mult: number, ub: number): Linear {
    const U = this.newVar(`${path}.U`, ub * mult, 'continuous');
    children.forEach((c, i) => {
      const fi = this.gen(c, ind, `${path}.n${i}`, mult);
      this.b.addRow(
        `${path}.min${i}`,
        addTerm(addScaled(linear(), fi, 1), U, -1),
        0,
        Number.POSITIVE_INFINITY,
      );
    });
    return addTerm(linear(), U, 1);
  }

  /** unitCap, cached: leaves of one job share their demand object across starts and pools. */
  private unitCap(pool: Pool, demand: Resources, start: number, end: number): number {
    let byDemand = this.unitCaps.get(demand);
    if (!byDemand) {
      byDemand = new Map();
      this.unitCaps.set(demand, byDemand);
    }
    const key = `${pool.id}|${start}|${end}`;
    let n = byDemand.get(key);
    if (n === undefined) {
      n = unitCap(this.fleet, pool, demand, start, end);
      byDemand.set(key, n);
    }
    return n;
  }

  private leafName(e: ChooseExpr, path: string): string {
    const abs = this.absSlot0 + e.start;
    return e.tag ? `${this.groupId}.a${e.tag.alternative}.t${abs}` : `${path}.c.t${abs}`;
  }

  private leaf(e: ChooseExpr, I: number, mult: number): Linear {
    const name = this.b.varName(I);
    const leafIndex = this.leafCounter++;
    const units: UnitRef[] = [];
    const end = windowEnd(this.fleet, e.start, e.duration);
    if (e.op === 'nCk' && e.partitions.length === 1) {
      units.push({ poolId: e.partitions[0]!, varIndex: I, coef: e.k });
    } else {
      const link = addTerm(linear(), I, -e.k);
      for (const p of e.partitions) {
        const pool = this.fleet.pools.get(p)!;
        const ub = Math.min(e.k * mult, this.unitCap(pool, e.demand, e.start, end));
        const P = this.newVar(`${name}.${p}`, ub);
        addTerm(link, P, 1);
        units.push({ poolId: p, varIndex: P, coef: 1 });
      }
      this.b.addRow(`${name}.units`, link, e.op === 'nCk' ? 0 : Number.NEGATIVE_INFINITY, 0);
    }
    for (const u of units) {
      const term = { demand: e.demand, varIndex: u.varIndex, coef: u.coef };
      for (let t = e.start; t < end; t++) this.use(u.poolId, t, term);
    }
    this.leafRefs.push({ leaf: e, leafIndex, indicator: I, units });
    if (e.op === 'nCk') return addTerm(linear(), I, e.value);
    const f = linear();
    for (const u of units) addTerm(f, u.varIndex, (e.value / e.k) * u.coef);
    return f;
  }
}

/** How many units of `demand` the pool could ever hold over [start, end) (a true bound). */
function unitCap(fleet: Fleet, pool: Pool, demand: Resources, start: number, end: number): number {
  if (pool.kind === 'new') return launchCap(fleet, pool) * copiesThatFit(demand, pool.capacity);
  let total = 0;
  for (const free of pool.memberFree) {
    let per = Number.POSITIVE_INFINITY;
    for (let t = start; t < end; t++) per = Math.min(per, copiesThatFit(demand, free[t]!));
    total += Number.isFinite(per) ? per : 0;
  }
  return total;
}

function launchVars(
  c: Compiler,
  fleet: Fleet,
  lastUse: ReadonlyMap<string, number>,
): Map<string, LaunchVars> {
  const out = new Map<string, LaunchVars>();
  for (const [poolId, last] of lastUse) {
    const pool = fleet.pools.get(poolId);
    if (pool?.kind !== 'new') continue;
    const cap = launchCap(fleet, pool);
    const x: (number | undefined)[] = new Array(fleet.slots).fill(undefined);
    const l: (number | undefined)[] = new Array(fleet.slots).fill(undefined);
    const perSlot = pool.pricePerHour * fleet.slotHours;
    for (let t = pool.bootSlots; t <= last; t++) {
      x[t] = c.b.addVar(`x.${poolId}.t${c.absSlot0 + t}`, 'integer', 0, cap, -perSlot);
      const j = t - pool.bootSlots;
      l[j] = c.b.addVar(`l.${poolId}.t${c.absSlot0 + j}`, 'continuous', 0, cap, -perSlot * pool.bootSlots);
      const f = addTerm(addTerm(linear(), l[j]!, 1), x[t]!, -1);
      if (t > pool.bootSlots) addTerm(f, x[t - 1]!, 1);
      c.b.addRow(`boot.${poolId}.t${c.absSlot0 + t}`, f, 0, Number.POSITIVE_INFINITY);
    }
    out.set(poolId, { pool, x, l });
  }
  return out;
}

type Dim = (typeof RESOURCE_DIMENSIONS)[number];

/**
 * Dimensions whose row another dimension's row implies, in a cell where every term's share of one
 * dimension is at most its share of another (memory next to vCPU, typically): those rows are dropped,
 * as are rows of an existing pool that even the most its terms could ever take does not fill.
 */
function boundingDims(terms: readonly UsageTerm[], rhs: Resources, ub: (i: number) => number): Dim[] {
  // The dominance tests depend only on the distinct demands (many terms share one leaf's demand).
  const shapes = [...new Set(terms.map((u) => u.demand))];
  const used = RESOURCE_DIMENSIONS.filter((d) => shapes.some((s) => s[d] > 0));
  // Only terms that use a dimension count towards it (0 * Infinity would be NaN).
  const most = (d: Dim) => {
    let s = 0;
    for (const u of terms) if (u.demand[d] > 0) s += u.demand[d] * u.coef * ub(u.varIndex);
    return s;
  };
  const live = used.filter((d) => most(d) > rhs[d] + 1e-9);
  return live.filter((d, i) => {
    if (rhs[d] <= 0) return true;
    return !live.some((o, j) => {
      if (o === d || rhs[o] <= 0) return false;
      const implied = shapes.every((u) => u[d] / rhs[d] <= u[o] / rhs[o] + 1e-12);
      // Between two rows that imply each other, keep the first.
      const mutual = implied && shapes.every((u) => u[o] / rhs[o] <= u[d] / rhs[d] + 1e-12);
      return implied && (!mutual || j < i);
    });
  });
}

function capacityRows(c: Compiler, fleet: Fleet, launches: ReadonlyMap<string, LaunchVars>): void {
  const ub = (i: number) => c.b.upperBound(i);
  for (const { poolId, t, terms } of c.cells.values()) {
    const pool = fleet.pools.get(poolId)!;
    const rhs = pool.kind === 'existing' ? pool.free[t]! : pool.capacity;
    // A launch pool's right side grows with x(t), so only dominance (not the fill test) applies there.
    const bound = pool.kind === 'existing' ? ub : () => Number.POSITIVE_INFINITY;
    for (const dim of boundingDims(terms, rhs, bound)) {
      const row: [number, number][] = [];
      for (const u of terms) if (u.demand[dim] > 0) row.push([u.varIndex, u.demand[dim] * u.coef]);
      const name = `cap.${poolId}.t${c.absSlot0 + t}.${dim}`;
      if (pool.kind === 'existing') {
        c.b.addRowTerms(name, row, Number.NEGATIVE_INFINITY, rhs[dim]);
      } else {
        row.push([launches.get(poolId)!.x[t]!, -rhs[dim]]);
        c.b.addRowTerms(name, row, Number.NEGATIVE_INFINITY, 0);
      }
    }
  }
}

/** Instances of a launch pool counted in slot t: alive plus booting. */
export function countedInSlot(v: LaunchVars, t: number): number[] {
  const out: number[] = [];
  if (v.x[t] !== undefined) out.push(v.x[t]);
  for (let j = Math.max(0, t - v.pool.bootSlots + 1); j <= t; j++) {
    const lj = v.l[j];
    if (lj !== undefined) out.push(lj);
  }
  return out;
}

function capRows(c: Compiler, fleet: Fleet, launches: ReadonlyMap<string, LaunchVars>): void {
  if (launches.size === 0) return;
  const countRhs = Math.max(0, fleet.maxInstances - fleet.fixedCount);
  const budgetRhs = Math.max(0, fleet.budgetPerHour - fleet.fixedPerHour);
  for (let t = 0; t < fleet.slots; t++) {
    const count = linear();
    const dollars = linear();
    for (const v of launches.values()) {
      for (const i of countedInSlot(v, t)) {
        addTerm(count, i, 1);
        addTerm(dollars, i, v.pool.pricePerHour);
      }
    }
    c.b.addRow(`fleet.t${c.absSlot0 + t}`, count, Number.NEGATIVE_INFINITY, countRhs);
    c.b.addRow(`budget.t${c.absSlot0 + t}`, dollars, Number.NEGATIVE_INFINITY, budgetRhs);
  }
}

export function absoluteSlot(now: number, slotSeconds: number): number {
  return Math.floor(now / (slotSeconds * 1000));
}

export function compile(fleet: Fleet, groups: readonly JobGroup[], now: number): CompiledModel {
  const c = new Compiler(fleet, absoluteSlot(now, fleet.slotSeconds));
  const compiled = groups.map((g) => c.group(g));
  const lastUse = new Map<string, number>();
  for (const cell of c.cells.values())
    lastUse.set(cell.poolId, Math.max(lastUse.get(cell.poolId) ?? -1, cell.t));
  const launches = launchVars(c, fleet, lastUse);
  capacityRows(c, fleet, launches);
  addConflictRows(c.b, fleet, c.cells.values(), launches, c.absSlot0);
  capRows(c, fleet, launches);
  return { model: c.b.build(), fleet, groups: compiled, launches, absSlot0: c.absSlot0 };
}
