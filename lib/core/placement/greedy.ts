/**
 * A fast, heterogeneity-aware greedy: jobs in order of value, each takes the (alternative, start,
 * target) that earns the most after the capacity it adds. A new instance is charged to a job by the
 * job's dominant share of it, so the first job does not pay for a whole instance that later jobs fill;
 * a pass drops instances whose jobs, all together, are worth less than the instance costs, and a last
 * one moves the work of an instance nothing else filled to cheaper capacity (`right-size.ts`).
 * It is always feasible, gives the MILP its incumbent, and is the answer when the solver is too slow.
 */
import { fifoAgedValue } from '../policies/fifo.ts';
import { type ChooseExpr, isLeaf, leaves } from '../strl/expr.ts';
import type { Outcome, PlanContext } from './assemble.ts';
import { settle } from './assemble.ts';
import { NOT_WORTH_CAPACITY } from './blocked.ts';
import type { LaunchPool } from './fleet.ts';
import { Packer } from './pack.ts';
import type { NewHost } from './pack-types.ts';
import { bootingCounts } from './pool-cost.ts';
import { newHostCost, rightSize } from './right-size.ts';

export interface GreedyGuide {
  /** Higher goes first; default is the job's best leaf value. */
  readonly jobRank?: (jobId: string) => number;
  /** Higher is tried first; default is the leaf value. */
  readonly leafRank?: (jobId: string, leafIndex: number, leaf: ChooseExpr) => number;
  /** Pools to fill first, with how many of the job's tasks each (the LP's split, when rounding). */
  readonly poolHints?: (jobId: string, leafIndex: number) => ReadonlyMap<string, number> | undefined;
}

export interface Candidate {
  readonly jobId: string;
  readonly leaves: readonly { leaf: ChooseExpr; index: number }[];
}

function candidates(ctx: PlanContext, dropped: Map<string, string>): Candidate[] {
  const out: Candidate[] = [];
  for (const g of ctx.prepared.groups) {
    const e = g.expr;
    const simple = isLeaf(e) || (e.op === 'MAX' && e.children.every(isLeaf));
    for (const job of g.jobs) {
      if (!simple) {
        dropped.set(job.id, 'its request (MIN, SUM, BARRIER) needs the solver, which found no plan in time');
        continue;
      }
      out.push({ jobId: job.id, leaves: leaves(e).map((leaf, index) => ({ leaf, index })) });
    }
  }
  return out;
}

export function placeBest(
  packer: Packer,
  c: Candidate,
  guide: GreedyGuide,
  acceptZeroOnly: boolean,
): boolean {
  const rank = (l: { leaf: ChooseExpr; index: number }) =>
    guide.leafRank?.(c.jobId, l.index, l.leaf) ?? l.leaf.value;
  const ordered = [...c.leaves].sort((a, b) => rank(b) - rank(a) || a.leaf.start - b.leaf.start);
  let best: { l: (typeof ordered)[number]; score: number } | undefined;
  for (const l of ordered) {
    if (!guide.leafRank && best && l.leaf.value <= best.score) break;
    const hints = guide.poolHints?.(c.jobId, l.index);
    const res = packer.place(
      { jobId: c.jobId, leaf: l.leaf, leafIndex: l.index, units: l.leaf.k, hints },
      { allowMove: true, allowExtra: true },
    );
    if (!res) continue;
    packer.remove(c.jobId);
    if (acceptZeroOnly && res.marginal > 0) continue;
    const score = l.leaf.value - res.marginal;
    if (score > 0 && (!best || score > best.score + 1e-12)) best = { l, score };
    // Rounding an LP: the jobs left here are those the LP split or did not fit where it put them; the
    // LP's favourite is then only a tie-break, and every leaf is scored (measured: 832.3 -> 837.4).
    if (guide.leafRank && !guide.poolHints && best) break;
  }
  if (!best) return false;
  const leaf = best.l.leaf;
  return (
    packer.place(
      {
        jobId: c.jobId,
        leaf,
        leafIndex: best.l.index,
        units: leaf.k,
        hints: guide.poolHints?.(c.jobId, best.l.index),
      },
      { allowMove: true, allowExtra: true },
    ) !== undefined
  );
}

/** The job's highest-ranked leaf that has pool hints (the LP's favourite), if any. */
function topHinted(c: Candidate, guide: GreedyGuide) {
  let top: { leaf: ChooseExpr; index: number; hints: ReadonlyMap<string, number> } | undefined;
  let topRank = Number.NEGATIVE_INFINITY;
  for (const l of c.leaves) {
    const hints = guide.poolHints?.(c.jobId, l.index);
    const r = guide.leafRank?.(c.jobId, l.index, l.leaf) ?? l.leaf.value;
    if (hints && r > topRank) {
      top = { ...l, hints };
      topRank = r;
    }
  }
  return top;
}

/** The LP's favourite leaf of the job, on exactly the pools the LP chose and the instances it paid for. */
function placeHinted(packer: Packer, c: Candidate, guide: GreedyGuide): boolean {
  const top = topHinted(c, guide);
  if (!top) return false;
  const req = { jobId: c.jobId, leaf: top.leaf, leafIndex: top.index, units: top.leaf.k, hints: top.hints };
  const res = packer.place(req, { allowMove: false, allowExtra: false });
  if (res && top.leaf.value - res.marginal > 0) return true;
  if (res) packer.remove(c.jobId);
  return false;
}

/** Value each new instance carries: a job's value split over its tasks. */
function hostValues(packer: Packer): Map<NewHost, { value: number; jobs: Set<string> }> {
  const out = new Map<NewHost, { value: number; jobs: Set<string> }>();
  for (const [jobId, tasks] of packer.placed) {
    const value = tasks[0]?.leaf.value ?? 0;
    for (const t of tasks) {
      if (t.host.kind !== 'new') continue;
      const e = out.get(t.host) ?? { value: 0, jobs: new Set<string>() };
      e.value += value / tasks.length;
      e.jobs.add(jobId);
      out.set(t.host, e);
    }
  }
  return out;
}

/** Drops the instance whose value falls furthest short of its cost, until none does. */
function trim(ctx: PlanContext, packer: Packer, dropped: Map<string, string>): string[] {
  const removed: string[] = [];
  for (let round = 0; round < 1000; round++) {
    let worst: { host: NewHost; shortfall: number; jobs: Set<string> } | undefined;
    for (const [host, { value, jobs }] of hostValues(packer)) {
      const shortfall = newHostCost(ctx, host) - value;
      if (shortfall > 1e-9 && (!worst || shortfall > worst.shortfall)) worst = { host, shortfall, jobs };
    }
    if (!worst) break;
    const pool = ctx.fleet.pools.get(worst.host.poolId) as LaunchPool;
    for (const jobId of worst.jobs) {
      packer.remove(jobId);
      removed.push(jobId);
      dropped.set(jobId, `worth less than the new ${pool.typeName} it would need`);
    }
  }
  return removed;
}

/**
 * FIFO jobs keep the places they hold in the ranking but take them oldest (most aged) first: a FIFO job
 * then never finds capacity it could use taken by a younger one, which may only backfill what is left.
 * By value alone a short young job could rank first (it gives up less for a late start).
 */
function fifoOldestFirst<T extends { c: Candidate }>(ctx: PlanContext, ranked: T[]): T[] {
  const isFifo = (x: T) => ctx.jobs.get(x.c.jobId)?.spec.policy === 'fifo';
  const fifo = ranked.filter(isFifo);
  if (fifo.length < 2) return ranked;
  const aged = new Map(fifo.map((x) => [x.c.jobId, fifoAgedValue(ctx.jobs.get(x.c.jobId)!, ctx.input.now)]));
  const submitted = (x: T) => ctx.jobs.get(x.c.jobId)!.submittedAt;
  fifo.sort((a, b) => aged.get(b.c.jobId)! - aged.get(a.c.jobId)! || submitted(a) - submitted(b));
  let next = 0;
  return ranked.map((x) => (isFifo(x) ? fifo[next++]! : x));
}

export function greedyPack(
  ctx: PlanContext,
  guide: GreedyGuide = {},
  openCharge: 'share' | 'dense' = 'share',
  limits?: ReadonlyMap<string, readonly number[]>,
  stop?: () => boolean,
): { packer: Packer; dropped: Map<string, string> } {
  const packer = new Packer(ctx.fleet, limits, openCharge, 'used');
  const dropped = new Map<string, string>();
  const cands = candidates(ctx, dropped);
  const jobRank = (c: Candidate) =>
    guide.jobRank?.(c.jobId) ?? Math.max(...c.leaves.map((l) => l.leaf.value));
  let ranked = cands.map((c) => ({ c, r: jobRank(c) })).sort((a, b) => b.r - a.r);
  if (!guide.jobRank) ranked = fifoOldestFirst(ctx, ranked);
  // Rounding: first every job on the pools the LP split it over, so that capacity the LP gave to one job
  // (existing instances above all) is not taken first by another that the LP placed elsewhere.
  const done = new Set<string>();
  if (guide.poolHints) {
    // Earliest start first: each pool's instances then fill slot by slot, as the LP's counts do.
    const start = new Map(ranked.map(({ c }) => [c.jobId, topHinted(c, guide)?.leaf.start ?? 0]));
    const order = [...ranked].sort((a, b) => start.get(a.c.jobId)! - start.get(b.c.jobId)!);
    for (const { c } of order) if (!stop?.() && placeHinted(packer, c, guide)) done.add(c.jobId);
  }
  for (const { c } of ranked) {
    if (done.has(c.jobId)) continue;
    // Past the deadline the jobs not yet reached wait for the next cycle; what is placed stays valid.
    if (stop?.()) dropped.set(c.jobId, 'not reached before the planning time limit');
    else if (!placeBest(packer, c, guide, false)) dropped.set(c.jobId, NOT_WORTH_CAPACITY);
  }
  // Jobs dropped by the trim may still fit, for free, on capacity that stays.
  const byId = new Map(cands.map((c) => [c.jobId, c]));
  for (const jobId of trim(ctx, packer, dropped)) {
    const c = byId.get(jobId)!;
    if (placeBest(packer, c, guide, true)) dropped.delete(jobId);
  }
  // Open mode only: a solver's counts (limited mode) already chose the instance types.
  if (!limits) rightSize(ctx, packer, stop);
  for (const jobId of packer.placed.keys()) dropped.delete(jobId);
  return { packer, dropped };
}

/** The greedy plan, verified and scored. */
/** True when some slot of the plan has the fleet at its size cap. */
function atFleetCap(ctx: PlanContext, o: Outcome): boolean {
  const { fleet } = ctx;
  const counts = new Array<number>(fleet.slots).fill(fleet.fixedCount);
  for (const [poolId, a] of o.pattern) {
    const pool = fleet.pools.get(poolId) as LaunchPool;
    bootingCounts(a, pool.bootSlots).forEach((n, t) => {
      counts[t] = counts[t]! + n;
    });
  }
  return counts.some((n) => n >= fleet.maxInstances);
}

/**
 * The greedy plan, verified and scored. When the fleet-size cap binds, a second pass that favours big
 * instances is tried as well and the better plan kept.
 */
export function greedyOutcome(ctx: PlanContext, guide?: GreedyGuide, stop?: () => boolean): Outcome {
  const first = greedyPack(ctx, guide, 'share', undefined, stop);
  const a = settle(ctx, first.packer, [], first.dropped);
  if (!atFleetCap(ctx, a) || stop?.()) return a;
  const second = greedyPack(ctx, guide, 'dense', undefined, stop);
  const b = settle(ctx, second.packer, [], second.dropped);
  return b.objective > a.objective ? b : a;
}

/**
 * Rounding of an LP answer (the calibration recipe): instance counts first, the LP's x rounded, as a
 * ceiling on new instances per pool and slot; then each job the LP chose, earliest start first, on its
 * favourite leaf and exactly the pools the LP split it over (`poolHints`); then the rest in the LP's
 * order, each on its best-scoring leaf; instances worth less than they cost are trimmed, and the plan
 * pays only for what is used. Measured at 1000 jobs against the same LP (859.7): 814.8 before the pool
 * hints, 837.4 with them.
 */
export function roundedOutcome(
  ctx: PlanContext,
  guide: GreedyGuide,
  counts: ReadonlyMap<string, readonly number[]>,
  stop?: () => boolean,
): Outcome {
  const { packer, dropped } = greedyPack(ctx, guide, 'share', counts, stop);
  return settle(ctx, packer, [], dropped);
}
