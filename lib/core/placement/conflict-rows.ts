/**
 * Clique rows: a valid tightening of the per-pool capacity rows.
 *
 * Counting tasks per pool lets the solver split one task across the leftovers of two instances (two
 * g5.xlarge with 2 vCPU free each "hold" a 4-vCPU task). Two task shapes conflict on an instance when
 * together they exceed its capacity in some dimension; a shape conflicts with itself when two copies
 * do. In a set K of shapes that all conflict pairwise and with themselves, each instance holds at most
 * one task, so   Σ_{tasks of shapes in K} n <= instances   (x(t) for a launch pool; for an existing
 * one, the members with room for some shape of K in slot t). Every such row is valid for any concrete packing, so it cuts only relaxed solutions.
 */
import { fits, RESOURCE_DIMENSIONS, type Resources } from '../model/resources.ts';
import type { LaunchVars } from './compile.ts';
import type { Fleet } from './fleet.ts';
import { addTerm, linear, type ModelBuilder } from './model-builder.ts';

export interface UsageTerm {
  readonly demand: Resources;
  readonly varIndex: number;
  readonly coef: number;
}

/** Every usage term of one pool in one slot. */
export interface UsageCell {
  readonly poolId: string;
  readonly t: number;
  readonly terms: UsageTerm[];
}

function shapeKey(d: Resources): string {
  return `${d.vcpu}/${d.memoryMiB}/${d.gpus}`;
}

function conflict(a: Resources, b: Resources, cap: Resources): boolean {
  return !fits({ vcpu: a.vcpu + b.vcpu, memoryMiB: a.memoryMiB + b.memoryMiB, gpus: a.gpus + b.gpus }, cap);
}

function size(d: Resources, cap: Resources): number {
  return RESOURCE_DIMENSIONS.reduce((s, r) => s + (cap[r] > 0 ? d[r] / cap[r] : 0), 0);
}

/** Greedy maximal cliques of self-conflicting shapes, one seeded at each shape, deduplicated. */
export function conflictCliques(shapes: readonly Resources[], cap: Resources): number[][] {
  const order = shapes.map((_, i) => i).filter((i) => conflict(shapes[i]!, shapes[i]!, cap));
  order.sort((a, b) => size(shapes[b]!, cap) - size(shapes[a]!, cap));
  const seen = new Set<string>();
  const out: number[][] = [];
  for (const seed of order) {
    const clique = [seed];
    for (const j of order) {
      if (j !== seed && clique.every((i) => conflict(shapes[i]!, shapes[j]!, cap))) clique.push(j);
    }
    const key = [...clique].sort((a, b) => a - b).join(',');
    if (!seen.has(key)) {
      seen.add(key);
      out.push(clique);
    }
  }
  return out;
}

export function addConflictRows(
  b: ModelBuilder,
  fleet: Fleet,
  cells: Iterable<UsageCell>,
  launches: ReadonlyMap<string, LaunchVars>,
  absSlot0: number,
): void {
  for (const { poolId, t, terms } of cells) {
    const pool = fleet.pools.get(poolId)!;
    const cap = pool.capacity;
    const byShape = new Map<string, { demand: Resources; terms: UsageTerm[] }>();
    for (const u of terms) {
      const k = shapeKey(u.demand);
      const e = byShape.get(k) ?? { demand: u.demand, terms: [] };
      e.terms.push(u);
      byShape.set(k, e);
    }
    const shapes = [...byShape.values()];
    conflictCliques(
      shapes.map((s) => s.demand),
      cap,
    ).forEach((clique, n) => {
      // In a launch pool, a dimension every shape of the clique fills alone already allows one task per
      // instance through the capacity row.
      const implied = RESOURCE_DIMENSIONS.some((d) =>
        clique.every((i) => shapes[i]!.demand[d] >= cap[d] - 1e-9 && cap[d] > 0),
      );
      if (implied && pool.kind === 'new') return;
      const f = linear();
      for (const i of clique) for (const u of shapes[i]!.terms) addTerm(f, u.varIndex, u.coef);
      const name = `one.${poolId}.t${absSlot0 + t}.k${n}`;
      if (pool.kind === 'existing') {
        // Only members with room for at least one task of the clique in this slot count.
        const hosts = pool.memberFree.filter((free) =>
          clique.some((i) => fits(shapes[i]!.demand, free[t]!)),
        ).length;
        b.addRow(name, f, Number.NEGATIVE_INFINITY, hosts);
      } else b.addRow(name, addTerm(f, launches.get(poolId)!.x[t]!, -1), Number.NEGATIVE_INFINITY, 0);
    });
  }
}
