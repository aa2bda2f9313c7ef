import type { Requirement } from '../model/job.ts';
import type { PendingJob } from '../placement/types.ts';
import { maxOverStarts } from './alternatives.ts';
import type { Policy } from './types.ts';

/** $-equivalent value of a best-effort job that has just arrived (or `utility.value` when given). */
export const FIFO_BASE_VALUE = 1;
/** The value grows by the base value for every this many seconds waited, so nothing starves. */
export const FIFO_AGING_SECONDS = 3600;
/** Most a job gives up for starting at the end of the window instead of now: a share of its value. */
const FIFO_EARLY_BONUS = 0.05;
/** Work (vCPU-equivalents held for the whole window) at which the earliness term reaches its cap. */
const FIFO_WORK_REF = 16;
/** Memory per vCPU and vCPUs per GPU of a typical instance: a requirement's size in vCPU-equivalents. */
const MIB_PER_VCPU = 4096;
const VCPU_PER_GPU = 4;

/** What a FIFO job is worth now, before the earliness term: the base value, aged. */
export function fifoAgedValue(job: PendingJob, now: number): number {
  const waited = Math.max(0, (now - job.submittedAt) / 1000);
  return (job.spec.utility?.value ?? FIFO_BASE_VALUE) * job.spec.priority * (1 + waited / FIFO_AGING_SECONDS);
}

function size(r: Requirement): number {
  return Math.max(r.vcpu, r.memoryMiB / MIB_PER_VCPU, r.gpus * VCPU_PER_GPU);
}

/**
 * Best-effort work: a small value that grows with waiting time. It runs on spare capacity, and once it
 * has waited long enough its value outweighs the price of a new instance.
 *
 * FIFO order. Each slot a job waits costs it `aged * work` (times a constant), where work is its size
 * times its duration. Summed over jobs this is a weighted completion time, which on one resource is
 * least when jobs run in decreasing weight / duration (Smith's rule): here decreasing `aged * size`, so
 * among jobs of one size the oldest goes first whatever the durations, while a younger job can still
 * backfill capacity an older one cannot use. A penalty per slot that ignored the work (a flat
 * earliness bonus) made the solver run short jobs first instead. With mixed sizes and several
 * resources the order is approximate (size is a scalar); the plan's post-pass (assemble.ts) makes it
 * exact among jobs of one shape, and the greedy takes FIFO jobs oldest first.
 */
export const fifoPolicy: Policy = {
  name: 'fifo',
  toStrl(job, ctx) {
    const aged = fifoAgedValue(job, ctx.now);
    const windowSeconds = ctx.slots * ctx.slotSeconds;
    return maxOverStarts(job, ctx, (alt, s) => {
      const finish = Math.min(1, (s * ctx.slotSeconds + alt.durationSeconds) / windowSeconds);
      const held = Math.min(1, alt.durationSeconds / windowSeconds);
      const work = Math.min(1, (held * size(alt.requirement)) / FIFO_WORK_REF);
      return aged * (1 - FIFO_EARLY_BONUS * work * finish);
    });
  },
};
