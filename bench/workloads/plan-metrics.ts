/** Measures of a single-cycle plan against its input, for the placement benchmark. */
import type { PlacementInput, PlacementPlan } from '../../lib/core/placement/types.ts';

/** Planned completion (epoch ms) of each job the plan runs, now or in a later slot. */
export function plannedCompletions(plan: PlacementPlan, input: PlacementInput): Map<string, number> {
  const done = new Map<string, number>();
  const jobs = new Map(input.jobs.map((j) => [j.id, j]));
  const note = (jobId: string, end: number) => done.set(jobId, Math.max(done.get(jobId) ?? 0, end));
  for (const p of plan.placements) note(p.jobId, p.expectedEndAt);
  for (const f of plan.future) {
    const alt = jobs.get(f.jobId)?.spec.alternatives[f.alternative];
    if (alt) note(f.jobId, input.now + f.slot * input.slotSeconds * 1000 + alt.durationSeconds * 1000);
  }
  return done;
}

/** Share of the input's jobs that the plan finishes by their deadline (jobs it does not run count as missed). */
export function plannedDeadlineMet(plan: PlacementPlan, input: PlacementInput): number {
  if (input.jobs.length === 0) return 1;
  const done = plannedCompletions(plan, input);
  let met = 0;
  for (const job of input.jobs) {
    const end = done.get(job.id);
    const deadline = job.submittedAt + (job.spec.utility?.deadlineSeconds ?? Number.POSITIVE_INFINITY) * 1000;
    if (end !== undefined && end <= deadline) met++;
  }
  return met / input.jobs.length;
}
