import { parseCycleConfig } from '../../../lib/core/control/cycle-config.ts';
import type { Job } from '../../../lib/core/model/job.ts';
import { type JobOverrides, job } from '../../support/builders.ts';

/** The schedule cycle tests' shared configuration: two launchable types, a short solver budget. */
export const config = parseCycleConfig({
  slotSeconds: 600,
  slots: 12,
  solveTimeLimitMs: 500,
  heartbeatTimeoutSeconds: 180,
  allowedInstanceTypes: ['m7i.xlarge', 'g5.xlarge'],
});

/** A job as the store holds it, PENDING at version 1 unless told otherwise. */
export function storedJob(
  over: JobOverrides & Partial<Pick<Job, 'status' | 'version' | 'cancelRequestedAt'>> = {},
): Job {
  const { status = 'PENDING', version = 1, cancelRequestedAt, ...rest } = over;
  const p = job(rest);
  return { ...p, status, version, updatedAt: p.submittedAt, cancelRequestedAt };
}
