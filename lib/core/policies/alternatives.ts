/** Shared by the batch policies: a MAX over (alternative x start slot) choices, each an nCk of the gang. */
import type { Alternative } from '../model/job.ts';
import type { PendingJob } from '../placement/types.ts';
import { type ChooseExpr, MAX, nCk } from '../strl/expr.ts';
import type { PolicyContext, PolicyResult } from './types.ts';

/** Value of running `alt` from `startSlot`, finishing `completionSeconds` after submission. */
export type ValueAt = (alt: Alternative, startSlot: number, completionSeconds: number) => number;

/** Why a policy offers a job nothing: no pool (running, or launchable within the caps) fits it. */
export const NO_FITTING_TYPE = 'no instance type in the fleet or catalog fits any alternative';

export function alternativeName(alt: Alternative, index: number): string {
  if (alt.name) return alt.name;
  const r = alt.requirement;
  return r.gpus > 0 ? `${r.gpus}-GPU alternative ${index}` : `CPU alternative ${index}`;
}

/**
 * Fraction of a run that falls inside the window. As in TetriSched, a choice that runs past the
 * horizon earns only that share, since only that share of its capacity is charged.
 */
export function windowShare(start: number, duration: number, slots: number): number {
  return (Math.min(start + duration, slots) - start) / duration;
}

export function maxOverStarts(job: PendingJob, ctx: PolicyContext, valueAt: ValueAt): PolicyResult {
  const waited = (ctx.now - job.submittedAt) / 1000;
  const leaves: ChooseExpr[] = [];
  let fitting = 0;
  job.spec.alternatives.forEach((alt, a) => {
    const pools = ctx.poolsFor(alt.requirement);
    if (pools.length === 0) return;
    fitting++;
    const duration = Math.max(1, Math.ceil(alt.durationSeconds / ctx.slotSeconds - 1e-9));
    for (let s = 0; s < ctx.slots; s++) {
      const completion = waited + s * ctx.slotSeconds + alt.durationSeconds;
      const v = valueAt(alt, s, completion) * windowShare(s, duration, ctx.slots);
      if (v <= 0) continue;
      const demand = {
        vcpu: alt.requirement.vcpu,
        memoryMiB: alt.requirement.memoryMiB,
        gpus: alt.requirement.gpus,
      };
      leaves.push(nCk(pools, job.spec.gang, s, duration, v, demand, { jobId: job.id, alternative: a }));
    }
  });
  if (fitting === 0) return { ok: false, reason: NO_FITTING_TYPE };
  if (leaves.length === 0)
    return { ok: false, reason: 'no start slot in the window earns value (deadline passed)' };
  return { ok: true, expr: leaves.length === 1 ? leaves[0]! : MAX(...leaves) };
}
