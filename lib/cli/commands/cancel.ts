import type { Job } from '../../core/model/job.ts';
import { isTerminal } from '../../core/model/job-state.ts';
import type { CliSource } from '../source.ts';
import { requireJob } from './jobs.ts';
import type { CommandOutput } from './output.ts';

export type CancelOutcome = 'cancelled' | 'cancel-requested' | 'already-finished';

/**
 * Cancels a job. A pending one is cancelled at once; a launching, placed or running one is marked and the
 * scheduler stops its tasks on its next cycle; a finished one is left as it is.
 */
export async function cancelCommand(
  source: CliSource,
  jobId: string,
): Promise<CommandOutput<{ job: Job; outcome: CancelOutcome }>> {
  const before = await requireJob(source, jobId);
  if (isTerminal(before.status)) {
    return {
      data: { job: before, outcome: 'already-finished' },
      text: `job ${jobId} already finished as ${before.status}; nothing to cancel`,
    };
  }
  const job = await source.client.cancelJob(jobId);
  if (job.status === 'CANCELLED')
    return { data: { job, outcome: 'cancelled' }, text: `job ${jobId} cancelled` };
  // It finished between our read and the cancel: nothing left to stop.
  if (isTerminal(job.status))
    return {
      data: { job, outcome: 'already-finished' },
      text: `job ${jobId} finished as ${job.status} before it could be cancelled`,
    };
  return {
    data: { job, outcome: 'cancel-requested' },
    text: `job ${jobId} is ${job.status}: cancel requested, its tasks stop on the next schedule cycle`,
  };
}
