/**
 * One line per job saying what happens to it and why, e.g.
 * "waits for g5.xlarge capacity in slot 3: the cpu alternative would finish after the deadline".
 */
import type { Alternative } from '../model/job.ts';
import { utilityAt } from '../model/utility.ts';
import { alternativeName } from '../policies/alternatives.ts';
import { type ChooseExpr, leaves } from '../strl/expr.ts';
import type { Outcome, PlanContext } from './assemble.ts';
import { blockedReason, NOT_WORTH_CAPACITY } from './blocked.ts';
import type { NewHost, PlacedTask } from './pack-types.ts';
import type { PendingJob, PlacementPlan } from './types.ts';

function money(v: number): string {
  return v.toFixed(v >= 100 ? 0 : 2);
}

function hostLabel(ctx: PlanContext, t: PlacedTask, labels: ReadonlyMap<NewHost, { index: number }>): string {
  if (t.host.kind === 'existing')
    return `${ctx.fleet.pools.get(t.host.poolId)?.typeName ?? '?'} ${t.host.id}`;
  const pool = ctx.fleet.pools.get(t.host.poolId)!;
  return `new ${pool.typeName} #${labels.get(t.host)?.index ?? t.host.serial}${pool.market === 'spot' ? ' (spot)' : ''}`;
}

function finishesLate(job: PendingJob, alt: Alternative, startSeconds: number, now: number): boolean {
  const u = job.spec.utility;
  if (!u || job.spec.policy !== 'deadline') return false;
  const completion = (now - job.submittedAt) / 1000 + startSeconds + alt.durationSeconds;
  return utilityAt(u, completion) <= 0;
}

function minutes(seconds: number): string {
  return `${Math.round(seconds / 60)} min`;
}

/** Why the other alternatives, or this one earlier, were not taken. */
function whyNotOthers(
  ctx: PlanContext,
  job: PendingJob,
  chosen: ChooseExpr,
  all: readonly ChooseExpr[],
  booting: boolean,
): string {
  const a = chosen.tag?.alternative ?? 0;
  const chosenAlt = job.spec.alternatives[a];
  const chosenEnd = chosen.start * ctx.input.slotSeconds + (chosenAlt?.durationSeconds ?? 0);
  const reasons: string[] = [];
  job.spec.alternatives.forEach((alt, i) => {
    if (i === a) return;
    // "the gpu alternative"; an unnamed one is already worded that way ("the CPU alternative 1").
    const name = alt.name ? `the ${alt.name} alternative` : `the ${alternativeName(alt, i)}`;
    const now = all.find((l) => l.tag?.alternative === i && l.start === 0);
    if (finishesLate(job, alt, 0, ctx.input.now)) reasons.push(`${name} would finish after the deadline`);
    else if (!now) reasons.push(`${name} has no free capacity now`);
    else if (Math.abs(now.value - chosen.value) <= 0.01 * Math.max(chosen.value, 1e-9)) {
      reasons.push(
        `${name} now would finish in ${minutes(alt.durationSeconds)} against ${minutes(chosenEnd)}`,
      );
    } else reasons.push(`${name} now would earn ${money(now.value)} against ${money(chosen.value)}`);
  });
  if (chosen.start > 0 && !booting && reasons.length === 0)
    reasons.push('no capacity for it is free earlier');
  return reasons.join('; ');
}

function describePlanned(
  ctx: PlanContext,
  job: PendingJob,
  list: readonly PlacedTask[],
  labels: ReadonlyMap<NewHost, { index: number }>,
) {
  const t = list[0]!;
  const alt = job.spec.alternatives[t.leaf.tag?.alternative ?? 0];
  const altName = alt ? alternativeName(alt, t.leaf.tag?.alternative ?? 0) : 'its request';
  const where = [...new Set(list.map((x) => hostLabel(ctx, x, labels)))].join(', ');
  return { t, altName, where };
}

export function explain(
  ctx: PlanContext,
  o: Outcome,
  committed: ReadonlySet<string>,
  labels: ReadonlyMap<NewHost, { index: number }>,
): Pick<PlacementPlan, 'unplaced' | 'explanations'> {
  const unplaced: Record<string, string> = {};
  const explanations: Record<string, string> = {};
  const byJob = new Map<string, PlacedTask[]>();
  for (const t of o.tasks) byJob.set(t.jobId, [...(byJob.get(t.jobId) ?? []), t]);
  for (const job of ctx.input.jobs) {
    const rejected = ctx.prepared.rejected.get(job.id) ?? o.dropped.get(job.id);
    const list = byJob.get(job.id);
    const expr = ctx.prepared.exprs.get(job.id);
    if (rejected || !list || !expr) {
      const vague = rejected === undefined || rejected === NOT_WORTH_CAPACITY;
      const reason =
        (vague ? blockedReason(ctx.fleet, job, o) : undefined) ??
        rejected ??
        'worth less than the capacity it needs, or its capacity went to higher-value work';
      unplaced[job.id] = reason;
      explanations[job.id] = `not placed: ${reason}`;
      continue;
    }
    const { t, altName, where } = describePlanned(ctx, job, list, labels);
    const why = whyNotOthers(ctx, job, t.leaf, leaves(expr), committed.has(job.id));
    const tail = why ? `: ${why}` : '';
    if (committed.has(job.id)) {
      const when = t.start === 0 ? 'now' : `in slot ${t.start} once it boots`;
      explanations[job.id] = `runs ${when} as ${altName} on ${where}${tail}`;
      continue;
    }
    const type = ctx.fleet.pools.get(t.host.poolId)?.typeName ?? '?';
    unplaced[job.id] = `planned for slot ${t.start} on ${where}`;
    explanations[job.id] = `waits for ${type} capacity in slot ${t.start}${tail}`;
  }
  return { unplaced, explanations };
}

/** The explanation recorded for one job, or a line saying the plan does not know it. */
export function explainJob(plan: PlacementPlan, jobId: string): string {
  return plan.explanations[jobId] ?? `job ${jobId} was not part of this plan`;
}
