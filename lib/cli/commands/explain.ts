import { NotFoundError } from '../../core/errors.ts';
import type { Job } from '../../core/model/job.ts';
import { isTerminal } from '../../core/model/job-state.ts';
import type { CycleRecord } from '../../core/ports.ts';
import { SubmissionRejectedError } from '../../sdk/errors.ts';
import { ago, clockTime, formatDuration } from '../format.ts';
import type { CliSource } from '../source.ts';
import { type PlacedTask, placedTasks } from './jobs.ts';
import type { CommandOutput } from './output.ts';

export interface Explanation {
  readonly jobId: string;
  /** The job's status, or REJECTED when admission refused it. */
  readonly status: Job['status'] | 'REJECTED';
  /** One line: why the job waits, runs where it runs, or how it ended. */
  readonly summary: string;
  /** The latest schedule cycle's word on this job, when a recent cycle has one. */
  readonly scheduler?: { readonly cycleId: string; readonly at: number; readonly reason: string };
  readonly tasks: PlacedTask[];
  readonly issues?: readonly { path: string; message: string }[];
}

/** How many recent cycles to search for the job's latest explanation. */
const CYCLES = 200;

/**
 * Why a job waits or sits where it is: the newest schedule cycle's explanation for it, its state, and
 * where its tasks are placed. A job refused at admission is explained by its field issues.
 */
export async function explainCommand(
  source: CliSource,
  jobId: string,
  now = Date.now(),
): Promise<CommandOutput<Explanation>> {
  let job: Job | undefined;
  try {
    job = await source.client.getJob(jobId);
  } catch (error) {
    if (error instanceof SubmissionRejectedError) return rejected(jobId, error);
    throw error;
  }
  if (!job) throw new NotFoundError('job', jobId);
  const [tasks, cycles] = await Promise.all([
    placedTasks(source, jobId),
    source.adapters.jobs.recent(CYCLES),
  ]);
  const explanation = buildExplanation(job, tasks, cycles, now);
  return { data: explanation, text: explanationText(job, explanation, now) };
}

function rejected(jobId: string, error: SubmissionRejectedError): CommandOutput<Explanation> {
  const explanation: Explanation = {
    jobId,
    status: 'REJECTED',
    summary: `refused at admission: ${error.reason}`,
    tasks: [],
    issues: error.issues,
  };
  const issues = error.issues.map((i) => `  ${i.path || '(spec)'}: ${i.message}`);
  return {
    data: explanation,
    text: [`job ${jobId} REJECTED`, `  ${explanation.summary}`, ...issues].join('\n'),
  };
}

/** The newest cycle that said something about the job (cycles come newest first). */
export function latestWord(jobId: string, cycles: readonly CycleRecord[]) {
  for (const c of cycles) {
    const reason = c.explanations[jobId];
    if (reason) return { cycleId: c.cycleId, at: c.at, reason };
  }
  return undefined;
}

export function buildExplanation(
  job: Job,
  tasks: readonly PlacedTask[],
  cycles: readonly CycleRecord[],
  now: number,
): Explanation {
  const scheduler = latestWord(job.id, cycles);
  const current = tasks.filter((t) => t.attempt === Math.max(...tasks.map((x) => x.attempt)));
  const where = [...new Set(current.map((t) => `${t.instanceType ?? '?'} ${t.instanceId}`))].join(', ');
  return {
    jobId: job.id,
    status: job.status,
    summary: summaryOf(job, where, scheduler?.reason, now),
    scheduler,
    tasks: [...tasks],
  };
}

function summaryOf(job: Job, where: string, reason: string | undefined, now: number): string {
  if (isTerminal(job.status)) {
    const took =
      job.finishedAt !== undefined ? ` after ${formatDuration(job.finishedAt - job.submittedAt)}` : '';
    const err = job.error ? `: ${job.error.message}` : '';
    return `finished as ${job.status}${took}${where ? ` on ${where}` : ''}${err}`;
  }
  switch (job.status) {
    case 'PENDING':
      return `waiting for ${formatDuration(now - job.submittedAt)}: ${reason ?? 'no schedule cycle has considered it yet'}`;
    // Placed jobs: where they are is the summary; the scheduler's reasoning follows on its own line.
    case 'LAUNCHING':
      return `placed on capacity being launched (${where || 'instance pending'})`;
    case 'PLACED':
      return `placed on ${where || 'an instance'}, waiting for its agent to start it`;
    default:
      return `running on ${where || 'an instance'}${job.cancelRequestedAt ? ' (cancel requested)' : ''}`;
  }
}

function explanationText(job: Job, e: Explanation, now: number): string {
  const lines = [`job ${job.id} (${job.spec.name}) ${job.status}`, `  ${e.summary}`];
  if (e.scheduler) {
    // A waiting job's summary already quotes the reason; then only say which cycle gave it.
    const quoted = e.summary.includes(e.scheduler.reason);
    lines.push(
      `  scheduler (cycle at ${clockTime(e.scheduler.at)} UTC, ${ago(e.scheduler.at, now)})${quoted ? '' : `: ${e.scheduler.reason}`}`,
    );
  }
  for (const t of e.tasks) {
    lines.push(
      `  task ${t.taskIndex} attempt ${t.attempt}: ${t.state} on ${t.instanceType ?? '?'} ${t.instanceId} (alternative ${t.alternative}, ` +
        `${t.resources.vcpu} vCPU, ${t.resources.gpus} GPU)`,
    );
  }
  return lines.join('\n');
}
