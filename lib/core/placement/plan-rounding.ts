/**
 * Guides for rounding the LP relaxation: per-job and per-leaf ranks from the LP's values, pool hints
 * that hand each job its share of the LP's tasks, and the LP's new-instance counts.
 */
import type { ChooseExpr } from '../strl/expr.ts';
import type { CompiledModel, LeafRef } from './compile.ts';

/**
 * The LP's tasks per pool for a leaf, rounded, handed to the group's jobs k at a time in order: the
 * rounding then fills the pools the LP chose (existing instances above all) with the jobs it chose them
 * for, instead of with whichever jobs come first. Jobs in `served` already took another leaf's share.
 */
function splitUnits(
  jobs: readonly { id: string }[],
  ref: LeafRef,
  lp: Float64Array,
  out: Map<string, Map<number, Map<string, number>>>,
  served?: Set<string>,
): void {
  const pools = new Map<string, number>();
  for (const u of ref.units) {
    const n = Math.round((lp[u.varIndex] ?? 0) * u.coef);
    if (n > 0) pools.set(u.poolId, (pools.get(u.poolId) ?? 0) + n);
  }
  if (pools.size === 0) return;
  const order = [...pools].sort((a, b) => b[1] - a[1]);
  for (const job of jobs) {
    if (served?.has(job.id)) continue;
    const mine = new Map<string, number>();
    let need = ref.leaf.k;
    for (const entry of order) {
      const take = Math.min(entry[1], need);
      if (take <= 0) continue;
      mine.set(entry[0], take);
      entry[1] -= take;
      need -= take;
    }
    if (mine.size === 0) return;
    const m = out.get(job.id) ?? new Map<number, Map<string, number>>();
    m.set(ref.leafIndex, mine);
    out.set(job.id, m);
    served?.add(job.id);
  }
}

/**
 * In a group of identical jobs the LP's x on a leaf stands for x distinct jobs, so each job takes one
 * leaf's share, largest first. Handing every leaf's units to the first jobs again (right for a lone job,
 * whose hints are alternatives) left the rest unhinted: of 10 replicas, 6 on existing instances now and
 * 4 on new ones, 4 came after every hinted batch job and found the LP's new instances taken.
 */
function hintGroup(
  cg: CompiledModel['groups'][number],
  lp: Float64Array,
  out: Map<string, Map<number, Map<string, number>>>,
) {
  if (cg.group.jobs.length === 1) {
    for (const ref of cg.leafRefs) splitUnits(cg.group.jobs, ref, lp, out);
    return;
  }
  const served = new Set<string>();
  const refs = [...cg.leafRefs].sort((a, b) => (lp[b.indicator] ?? 0) - (lp[a.indicator] ?? 0));
  for (const ref of refs) splitUnits(cg.group.jobs, ref, lp, out, served);
}

export function lpGuide(compiled: CompiledModel, lp: Float64Array, prev?: ReadonlyMap<string, number>) {
  const leafScore = new Map<string, Map<number, number>>();
  const jobScore = new Map<string, number>();
  const hints = new Map<string, Map<number, Map<string, number>>>();
  for (const cg of compiled.groups) {
    hintGroup(cg, lp, hints);
    for (const ref of cg.leafRefs) {
      const name = compiled.model.vars[ref.indicator]!.name;
      const share = (lp[ref.indicator] ?? 0) / cg.group.jobs.length + 1e-3 * (prev?.get(name) ?? 0);
      for (const job of cg.group.jobs) {
        const m = leafScore.get(job.id) ?? new Map<number, number>();
        m.set(ref.leafIndex, (m.get(ref.leafIndex) ?? 0) + share);
        leafScore.set(job.id, m);
        jobScore.set(job.id, (jobScore.get(job.id) ?? 0) + share * ref.leaf.value);
      }
    }
  }
  return {
    jobRank: (jobId: string) => jobScore.get(jobId) ?? 0,
    leafRank: (jobId: string, leafIndex: number, leaf: ChooseExpr) =>
      (leafScore.get(jobId)?.get(leafIndex) ?? 0) * 1e6 + leaf.value * 1e-6,
    poolHints: (jobId: string, leafIndex: number) => hints.get(jobId)?.get(leafIndex),
  };
}

/** The LP's new-instance counts per launch pool and slot, rounded up (or to the nearest). */
export function lpCounts(compiled: CompiledModel, lp: Float64Array, up = true): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const round = up ? (x: number) => Math.ceil(x - 1e-6) : Math.round;
  for (const [poolId, v] of compiled.launches) {
    out.set(
      poolId,
      v.x.map((i) => (i === undefined ? 0 : round(lp[i] ?? 0))),
    );
  }
  return out;
}
