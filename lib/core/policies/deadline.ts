import { hardDeadlineSeconds, utilityAt } from '../model/utility.ts';
import { maxOverStarts } from './alternatives.ts';
import type { Policy } from './types.ts';

/**
 * Among choices of equal utility the one that completes earlier wins, by up to this fraction of the
 * value over the window, so the solver does not wander between equally good choices (symmetry) and
 * work is not put off.
 */
export const EARLINESS = 1e-4;

/**
 * Deadline batch work: one MAX over every alternative and start slot. A choice is worth the utility
 * curve at its completion time times the job's priority; choices past the hard deadline are pruned.
 */
export const deadlinePolicy: Policy = {
  name: 'deadline',
  toStrl(job, ctx) {
    const u = job.spec.utility;
    if (!u) return { ok: false, reason: 'the deadline policy needs a utility curve' };
    const hard = hardDeadlineSeconds(u);
    const windowSeconds = ctx.slots * ctx.slotSeconds;
    return maxOverStarts(job, ctx, (alt, s, completion) => {
      if (completion > hard) return 0;
      const finish = Math.min(1, (s * ctx.slotSeconds + alt.durationSeconds) / windowSeconds);
      return job.spec.priority * utilityAt(u, completion) * (1 - EARLINESS * finish);
    });
  },
};
