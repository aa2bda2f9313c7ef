import { maxOverStarts } from './alternatives.ts';
import type { Policy } from './types.ts';

/** $-equivalent value of a best-effort job that has just arrived (or `utility.value` when given). */
export const FIFO_BASE_VALUE = 1;
/** The value grows by the base value for every this many seconds waited, so nothing starves. */
export const FIFO_AGING_SECONDS = 3600;
/** Preference for finishing sooner within one cycle: up to this fraction of the value. */
const FIFO_EARLY_BONUS = 0.01;

/**
 * Best-effort work: a small value that grows with waiting time. It runs on spare capacity, and once it
 * has waited long enough its value outweighs the price of a new instance.
 */
export const fifoPolicy: Policy = {
  name: 'fifo',
  toStrl(job, ctx) {
    const base = (job.spec.utility?.value ?? FIFO_BASE_VALUE) * job.spec.priority;
    const waited = Math.max(0, (ctx.now - job.submittedAt) / 1000);
    const aged = base * (1 + waited / FIFO_AGING_SECONDS);
    const windowSeconds = ctx.slots * ctx.slotSeconds;
    return maxOverStarts(job, ctx, (alt, s) => {
      const finish = Math.min(1, (s * ctx.slotSeconds + alt.durationSeconds) / windowSeconds);
      return aged * (1 - FIFO_EARLY_BONUS * finish);
    });
  },
};
