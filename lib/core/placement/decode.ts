/**
 * Solver values -> grants -> concrete packing (with repairs) -> Outcome; and the reverse, an Outcome as
 * a variable assignment to warm-start the solver.
 *
 * Values are rounded (|x| < 0.5 counts as 0 after rounding). A group of m identical jobs hands its
 * granted leaves to its jobs in order, earliest start first.
 */
import { leaves } from '../strl/expr.ts';
import type { Outcome, PlanContext } from './assemble.ts';
import { settle } from './assemble.ts';
import type { CompiledGroup, CompiledModel, LeafRef } from './compile.ts';
import type { LaunchPool } from './fleet.ts';
import { placeBest } from './greedy.ts';
import { isSimpleShape } from './jobs.ts';
import { Packer } from './pack.ts';
import type { GrantRequest } from './pack-types.ts';
import { launchesOf } from './pool-cost.ts';
import type { Repair } from './types.ts';

function unitsByPool(ref: LeafRef, values: Float64Array): Map<string, number> {
  const m = new Map<string, number>();
  for (const u of ref.units) {
    const n = Math.round((values[u.varIndex] ?? 0) * u.coef);
    if (n > 0) m.set(u.poolId, (m.get(u.poolId) ?? 0) + n);
  }
  return m;
}

function takeUnits(pools: Map<string, number>, k: number): Map<string, number> {
  const out = new Map<string, number>();
  let need = k;
  for (const [p, n] of pools) {
    if (need === 0) break;
    const take = Math.min(n, need);
    if (take === 0) continue;
    out.set(p, take);
    pools.set(p, n - take);
    need -= take;
  }
  return out;
}

function groupGrants(cg: CompiledGroup, values: Float64Array): GrantRequest[] {
  const jobs = cg.group.jobs;
  const out: GrantRequest[] = [];
  if (jobs.length === 1) {
    for (const ref of cg.leafRefs) {
      const hints = unitsByPool(ref, values);
      const units = [...hints.values()].reduce((s, n) => s + n, 0);
      if (units > 0)
        out.push({
          jobId: jobs[0]!.id,
          leaf: ref.leaf,
          leafIndex: ref.leafIndex,
          units: ref.leaf.op === 'nCk' ? ref.leaf.k : units,
          hints,
        });
    }
    return out;
  }
  let next = 0;
  const refs = [...cg.leafRefs].sort((a, b) => a.leaf.start - b.leaf.start);
  for (const ref of refs) {
    const count = Math.round(values[ref.indicator] ?? 0);
    const pools = unitsByPool(ref, values);
    for (let i = 0; i < count && next < jobs.length; i++) {
      out.push({
        jobId: jobs[next++]!.id,
        leaf: ref.leaf,
        leafIndex: ref.leafIndex,
        units: ref.leaf.k,
        hints: takeUnits(pools, ref.leaf.k),
      });
    }
  }
  return out;
}

function launchLimits(compiled: CompiledModel, values: Float64Array): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [poolId, v] of compiled.launches) {
    out.set(
      poolId,
      v.x.map((i) => (i === undefined ? 0 : Math.round(values[i] ?? 0))),
    );
  }
  return out;
}

function packOne(packer: Packer, g: GrantRequest, repairs: Repair[], dropped: Map<string, string>): void {
  if (packer.place(g, { allowMove: false, allowExtra: false })) return;
  const moved = packer.place(g, { allowMove: true, allowExtra: false });
  if (moved) {
    repairs.push({
      jobId: g.jobId,
      action: 'moved',
      detail: `packed into another pool of its choice in slot ${g.leaf.start}`,
    });
    return;
  }
  const extra = packer.place(g, { allowMove: true, allowExtra: true });
  if (extra) {
    const types = [...new Set(extra.tasks.map((t) => t.host.poolId))].join(', ');
    repairs.push({
      jobId: g.jobId,
      action: 'launched-extra',
      detail: `launched one more instance (${types}) in slot ${g.leaf.start}`,
    });
    return;
  }
  packer.remove(g.jobId);
  const reason = `deferred: its ${g.units} task(s) did not pack onto concrete instances in slot ${g.leaf.start} within the caps`;
  repairs.push({ jobId: g.jobId, action: 'deferred', detail: reason });
  dropped.set(g.jobId, reason);
}

/**
 * A deferred job with a simple request (one choice among alternatives and starts) may still fit another
 * of its choices on what is left, as the greedy would place it (paying for what it adds).
 */
function replanDeferred(
  ctx: PlanContext,
  packer: Packer,
  repairs: Repair[],
  dropped: Map<string, string>,
): void {
  for (const jobId of [...dropped.keys()]) {
    const expr = ctx.prepared.exprs.get(jobId);
    if (!expr || !isSimpleShape(expr)) continue;
    const c = { jobId, leaves: leaves(expr).map((leaf, index) => ({ leaf, index })) };
    if (!placeBest(packer, c, {}, false)) continue;
    dropped.delete(jobId);
    const slot = packer.placed.get(jobId)?.[0]?.start ?? 0;
    const i = repairs.findIndex((r) => r.jobId === jobId && r.action === 'deferred');
    repairs.splice(i, 1, {
      jobId,
      action: 'moved',
      detail: `re-planned to another of its choices, in slot ${slot}`,
    });
  }
}

/** Packs a solver answer onto concrete instances, repairing what does not fit, then verifies and scores it. */
export function decodeSolution(ctx: PlanContext, compiled: CompiledModel, values: Float64Array): Outcome {
  const grants = compiled.groups.flatMap((cg) => groupGrants(cg, values));
  grants.sort(
    (a, b) =>
      a.leaf.start - b.leaf.start ||
      b.leaf.demand.gpus - a.leaf.demand.gpus ||
      b.leaf.demand.memoryMiB - a.leaf.demand.memoryMiB ||
      b.leaf.demand.vcpu - a.leaf.demand.vcpu,
  );
  const packer = new Packer(ctx.fleet, launchLimits(compiled, values));
  const repairs: Repair[] = [];
  const dropped = new Map<string, string>();
  for (const g of grants) {
    // A job with several granted leaves (SUM, MIN) is packed leaf by leaf; if one fails the job goes.
    if (!dropped.has(g.jobId)) packOne(packer, g, repairs, dropped);
  }
  replanDeferred(ctx, packer, repairs, dropped);
  return settle(ctx, packer, repairs, dropped);
}

/** The assignment of model variables that an Outcome corresponds to (feasible for the model). */
export function outcomeToValues(compiled: CompiledModel, o: Outcome): Map<string, number> {
  const { model } = compiled;
  const values = new Map<string, number>(model.vars.map((v) => [v.name, 0]));
  const set = (i: number, v: number) =>
    values.set(model.vars[i]!.name, (values.get(model.vars[i]!.name) ?? 0) + v);
  const byJob = new Map<string, Map<number, Map<string, number>>>();
  for (const t of o.tasks) {
    const perLeaf = byJob.get(t.jobId) ?? new Map<number, Map<string, number>>();
    const pools = perLeaf.get(t.leafIndex) ?? new Map<string, number>();
    pools.set(t.host.poolId, (pools.get(t.host.poolId) ?? 0) + 1);
    perLeaf.set(t.leafIndex, pools);
    byJob.set(t.jobId, perLeaf);
  }
  for (const cg of compiled.groups) {
    const simple = cg.leafRefs.length === leaves(cg.group.expr).length;
    if (!simple) continue;
    for (const job of cg.group.jobs) {
      for (const [leafIndex, pools] of byJob.get(job.id) ?? []) {
        const ref = cg.leafRefs[leafIndex];
        if (!ref) continue;
        set(ref.indicator, 1);
        for (const u of ref.units)
          if (u.varIndex !== ref.indicator) set(u.varIndex, pools.get(u.poolId) ?? 0);
      }
    }
    const rootName = `${cg.group.id}.I`;
    const root = cg.varIndices.find((i) => model.vars[i]!.name === rootName);
    if (root !== undefined && cg.leafRefs[0]?.indicator !== root) {
      const granted = cg.group.jobs.filter((j) => byJob.has(j.id)).length;
      values.set(rootName, granted);
    }
  }
  for (const [poolId, a] of o.pattern) {
    const v = compiled.launches.get(poolId);
    if (!v) continue;
    const pool = v.pool as LaunchPool;
    const l = launchesOf(a, pool.bootSlots);
    a.forEach((n, t) => {
      const xi = v.x[t];
      if (xi !== undefined) values.set(model.vars[xi]!.name, n);
      const li = v.l[t];
      if (li !== undefined) values.set(model.vars[li]!.name, l[t]!);
    });
  }
  return values;
}
