/**
 * A post-pass over a packing: among jobs that ask for exactly the same thing, the earliest starts go to
 * the most valuable, and among equals to the oldest. Two such jobs can trade their task lists without
 * touching capacity, so this is free; which of them the packing served first is arbitrary (the model
 * counts identical jobs, the greedy and the rounding take them in rank or LP order).
 *
 * Two kinds of jobs trade:
 * - jobs of one group (identical expressions): the value is unchanged;
 * - FIFO jobs of one shape: their values differ only by a factor (the aged value), so handing the
 *   earlier start to the higher factor never lowers the plan's value, and keeps FIFO order exactly.
 */
import { leaves, upperBound } from '../strl/expr.ts';
import type { PlanContext } from './assemble.ts';
import { isSimpleShape, signature } from './jobs.ts';
import type { PlacedTask } from './pack-types.ts';
import type { PendingJob, Repair } from './types.ts';

export interface Packing {
  readonly placed: ReadonlyMap<string, readonly PlacedTask[]>;
  readonly dropped: ReadonlyMap<string, string>;
  readonly repairs: readonly Repair[];
}

/** Jobs that may trade places, each class ordered best first (value, then submission, then id). */
function classes(ctx: PlanContext): PendingJob[][] {
  const byKey = new Map<string, PendingJob[]>();
  const value = new Map<string, number>();
  for (const g of ctx.prepared.groups) {
    if (!isSimpleShape(g.expr)) continue;
    for (const job of g.jobs) {
      const expr = ctx.prepared.exprs.get(job.id) ?? g.expr;
      const key = job.spec.policy === 'fifo' ? `fifo|${signature(expr, false)}` : `group|${g.id}`;
      value.set(job.id, upperBound(expr));
      const list = byKey.get(key) ?? [];
      list.push(job);
      byKey.set(key, list);
    }
  }
  const out: PendingJob[][] = [];
  for (const list of byKey.values()) {
    if (list.length < 2) continue;
    list.sort(
      (a, b) =>
        value.get(b.id)! - value.get(a.id)! ||
        a.submittedAt - b.submittedAt ||
        (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    );
    out.push(list);
  }
  return out;
}

function firstStart(tasks: readonly PlacedTask[]): number {
  return tasks.reduce((s, t) => Math.min(s, t.start), Number.POSITIVE_INFINITY);
}

/** The packing with task lists (and the reasons and repairs that go with them) handed out best first. */
export function seniorsFirst(ctx: PlanContext, p: Packing): Packing {
  const owner = new Map<string, string>();
  for (const members of classes(ctx)) {
    // What each member holds now, earliest start first; members with nothing placed come last.
    const rank = new Map(members.map((m, i) => [m.id, i]));
    const start = new Map(members.map((m) => [m.id, firstStart(p.placed.get(m.id) ?? [])]));
    const held = [...members].sort(
      (a, b) => start.get(a.id)! - start.get(b.id)! || rank.get(a.id)! - rank.get(b.id)!,
    );
    members.forEach((job, i) => {
      if (held[i]!.id !== job.id) owner.set(held[i]!.id, job.id);
    });
  }
  if (owner.size === 0) return p;
  const rename = (id: string) => owner.get(id) ?? id;
  const placed = new Map<string, PlacedTask[]>();
  for (const [jobId, tasks] of p.placed) {
    const to = rename(jobId);
    if (to === jobId) {
      placed.set(jobId, [...tasks]);
      continue;
    }
    const own = leaves(ctx.prepared.exprs.get(to)!);
    placed.set(
      to,
      tasks.map((t) => ({ ...t, jobId: to, leaf: own[t.leafIndex]! })),
    );
  }
  const dropped = new Map<string, string>();
  for (const [jobId, reason] of p.dropped) dropped.set(rename(jobId), reason);
  const repairs = p.repairs.map((r) => (owner.has(r.jobId) ? { ...r, jobId: rename(r.jobId) } : r));
  return { placed, dropped, repairs };
}
