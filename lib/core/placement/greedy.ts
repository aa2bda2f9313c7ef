/**
 * A fast, heterogeneity-aware greedy: jobs in order of value, each takes the (alternative, start,
 * target) that earns the most after the capacity it adds. A new instance is charged to a job by the
 * job's dominant share of it, so the first job does not pay for a whole instance that later jobs fill;
 * a final pass drops instances whose jobs, all together, are worth less than the instance costs.
 * It is always feasible, gives the MILP its incumbent, and is the answer when the solver is too slow.
 */
import { type ChooseExpr, isLeaf, leaves } from '../strl/expr.ts';
import type { Outcome, PlanContext } from './assemble.ts';
import { settle } from './assemble.ts';
import { spanOf } from './capacity.ts';
import type { LaunchPool } from './fleet.ts';
import { type NewHost, Packer } from './pack.ts';
import { bootingCounts } from './pool-cost.ts';

export interface GreedyGuide {
  /** Higher goes first; default is the job's best leaf value. */
  readonly jobRank?: (jobId: string) => number;
  /** Higher is tried first; default is the leaf value. */
  readonly leafRank?: (jobId: string, leafIndex: number, leaf: ChooseExpr) => number;
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
    const res = packer.place(
      { jobId: c.jobId, leaf: l.leaf, leafIndex: l.index, units: l.leaf.k },
      { allowMove: true, allowExtra: true },
    );
    if (!res) continue;
    packer.remove(c.jobId);
    if (acceptZeroOnly && res.marginal > 0) continue;
    const score = l.leaf.value - res.marginal;
    if (score > 0 && (!best || score > best.score + 1e-12)) best = { l, score };
    if (guide.leafRank && best) break;
  }
  if (!best) return false;
  const leaf = best.l.leaf;
  return (
    packer.place(
      { jobId: c.jobId, leaf, leafIndex: best.l.index, units: leaf.k },
      { allowMove: true, allowExtra: true },
    ) !== undefined
  );
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
      const pool = ctx.fleet.pools.get(host.poolId) as LaunchPool;
      const span = spanOf(host);
      if (!span) continue;
      const cost = (span[1] - span[0] + 1 + pool.bootSlots) * pool.pricePerHour * ctx.fleet.slotHours;
      const shortfall = cost - value;
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
  const ranked = cands.map((c) => ({ c, r: jobRank(c) })).sort((a, b) => b.r - a.r);
  for (const { c } of ranked) {
    // Past the deadline the jobs not yet reached wait for the next cycle; what is placed stays valid.
    if (stop?.()) dropped.set(c.jobId, 'not reached before the planning time limit');
    else if (!placeBest(packer, c, guide, false))
      dropped.set(c.jobId, 'no choice earns more than the capacity it needs');
  }
  // Jobs dropped by the trim may still fit, for free, on capacity that stays.
  const byId = new Map(cands.map((c) => [c.jobId, c]));
  for (const jobId of trim(ctx, packer, dropped)) {
    const c = byId.get(jobId)!;
    if (placeBest(packer, c, guide, true)) dropped.delete(jobId);
  }
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
 * Rounding of an LP answer (the calibration recipe): instance counts first, as the LP's x rounded up,
 * which the packer treats as paid for; then jobs packed in the LP's order of preference; instances left
 * unused are trimmed when the plan is settled (its cost counts only what is used).
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
