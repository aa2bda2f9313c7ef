import type { TaskRecord } from '../../core/control/task-record.ts';
import { NotFoundError } from '../../core/errors.ts';
import type { Instance } from '../../core/model/instance.ts';
import type { Job } from '../../core/model/job.ts';
import { isTerminal, JOB_STATES, type JobStatus } from '../../core/model/job-state.ts';
import { CliUsageError } from '../errors.ts';
import { ago, clockTime, formatDuration, formatTable } from '../format.ts';
import type { CliSource } from '../source.ts';
import type { CommandOutput } from './output.ts';

/** One row of `tetrafleet jobs`: the fields people scan for, flat for `--json` consumers. */
export interface JobRow {
  readonly id: string;
  readonly name: string;
  readonly policy: string;
  readonly status: JobStatus;
  readonly gang: number;
  readonly submittedAt: number;
  readonly startedAt?: number;
  readonly finishedAt?: number;
  /** The market of its latest placement: spot when any task landed on spot. */
  readonly market?: string;
  readonly deadlineSeconds?: number;
  readonly attempts: number;
}

export interface JobsOptions {
  readonly state?: string;
  /** Newest first, at most this many. @default 100 */
  readonly limit?: number;
  /** Epoch ms for ages; injected so output is testable. @default Date.now() */
  readonly now?: number;
}

export function parseState(state: string | undefined): JobStatus | undefined {
  if (state === undefined) return undefined;
  const upper = state.toUpperCase();
  if (!(JOB_STATES as readonly string[]).includes(upper))
    throw new CliUsageError(`--state must be one of ${JOB_STATES.join(', ')}, got ${JSON.stringify(state)}`);
  return upper as JobStatus;
}

export function toJobRow(job: Job): JobRow {
  return {
    id: job.id,
    name: job.spec.name,
    policy: job.spec.policy,
    status: job.status,
    gang: job.spec.gang,
    submittedAt: job.submittedAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    market: job.market,
    deadlineSeconds: job.spec.utility?.deadlineSeconds,
    attempts: job.attempts,
  };
}

/** Every job (of a state), read page by page. */
export async function listAll(source: CliSource, status?: JobStatus): Promise<Job[]> {
  const jobs: Job[] = [];
  let cursor: string | undefined;
  do {
    const page = await source.client.listJobs({ status, limit: 100, cursor });
    jobs.push(...page.jobs);
    cursor = page.cursor;
  } while (cursor);
  return jobs;
}

export async function jobsCommand(
  source: CliSource,
  opts: JobsOptions = {},
): Promise<CommandOutput<{ jobs: JobRow[]; total: number }>> {
  const status = parseState(opts.state);
  const limit = opts.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1)
    throw new CliUsageError(`--limit must be a whole number of at least 1, got ${limit}`);
  const all = await listAll(source, status);
  const rows = all
    .sort((a, b) => b.submittedAt - a.submittedAt || a.id.localeCompare(b.id))
    .slice(0, limit)
    .map(toJobRow);
  return {
    data: { jobs: rows, total: all.length },
    text: jobsTable(rows, all.length, opts.now ?? Date.now()),
  };
}

export function jobsTable(rows: readonly JobRow[], total: number, now: number): string {
  if (rows.length === 0) return 'no jobs';
  const table = formatTable<JobRow>(
    [
      { header: 'ID', value: (r) => r.id },
      { header: 'NAME', value: (r) => r.name },
      { header: 'POLICY', value: (r) => r.policy },
      { header: 'STATUS', value: (r) => r.status },
      { header: 'SUBMITTED', value: (r) => ago(r.submittedAt, now) },
      { header: 'RUNTIME', value: (r) => runtime(r, now), right: true },
      { header: 'MARKET', value: (r) => (r.status === 'PENDING' ? '-' : (r.market ?? '-')) },
    ],
    rows,
  );
  return rows.length < total ? `${table}\n(${rows.length} of ${total} jobs; raise --limit for more)` : table;
}

function runtime(r: Pick<JobRow, 'startedAt' | 'finishedAt'>, now: number): string {
  if (r.startedAt === undefined) return '-';
  return formatDuration((r.finishedAt ?? now) - r.startedAt);
}

/** A task record with the type and market of the instance it sits on. */
export interface PlacedTask extends TaskRecord {
  readonly instanceType?: string;
  readonly instanceMarket?: string;
}

export async function placedTasks(source: CliSource, jobId: string): Promise<PlacedTask[]> {
  const tasks = await source.adapters.fleetStore.tasksOfJob(jobId);
  const ids = [...new Set(tasks.map((t) => t.instanceId))];
  const instances = new Map<string, Instance | undefined>(
    await Promise.all(ids.map(async (id) => [id, await source.adapters.fleetStore.getInstance(id)] as const)),
  );
  return tasks
    .map((t) => ({
      ...t,
      instanceType: instances.get(t.instanceId)?.type,
      instanceMarket: instances.get(t.instanceId)?.market,
    }))
    .sort((a, b) => a.attempt - b.attempt || a.taskIndex - b.taskIndex);
}

/** Reads a job or fails with NotFoundError (exit code 3). */
export async function requireJob(source: CliSource, jobId: string): Promise<Job> {
  const job = await source.client.getJob(jobId);
  if (!job) throw new NotFoundError('job', jobId);
  return job;
}

export async function jobCommand(
  source: CliSource,
  jobId: string,
  now = Date.now(),
): Promise<CommandOutput<{ job: Job; tasks: PlacedTask[] }>> {
  const job = await requireJob(source, jobId);
  const tasks = await placedTasks(source, jobId);
  return { data: { job, tasks }, text: jobText(job, tasks, now) };
}

export function jobText(job: Job, tasks: readonly PlacedTask[], now: number): string {
  const s = job.spec;
  const lines = [
    `job ${job.id} (${s.name})`,
    `  status      ${job.status}${job.cancelRequestedAt !== undefined && !isTerminal(job.status) ? ' (cancel requested)' : ''}`,
    `  policy      ${s.policy}, priority ${s.priority}, gang ${s.gang}, owner ${s.owner}`,
    `  submitted   ${clockTime(job.submittedAt)} UTC (${ago(job.submittedAt, now)})`,
  ];
  if (job.startedAt !== undefined) lines.push(`  started     ${clockTime(job.startedAt)} UTC`);
  if (job.finishedAt !== undefined)
    lines.push(
      `  finished    ${clockTime(job.finishedAt)} UTC, took ${formatDuration(job.finishedAt - job.submittedAt)} from submission`,
    );
  if (s.utility)
    lines.push(`  deadline    ${s.utility.deadlineSeconds}s after submission, value ${s.utility.value}`);
  lines.push(`  attempts    ${job.attempts} of ${s.maxAttempts}`);
  if (job.market)
    lines.push(`  market      ${job.market}${job.status === 'PENDING' ? ' (its last placement)' : ''}`);
  if (job.error) lines.push(`  error       ${job.error.code}: ${job.error.message}`);
  lines.push('  alternatives');
  s.alternatives.forEach((a, i) => {
    const r = a.requirement;
    lines.push(
      `    ${i}.${a.name ? ` ${a.name}:` : ''} ${r.vcpu} vCPU, ${r.memoryMiB} MiB, ${r.gpus} GPU, ~${a.durationSeconds}s${r.spot ? ', spot ok' : ''}`,
    );
  });
  if (tasks.length > 0) {
    lines.push('  tasks');
    const table = formatTable<PlacedTask>(
      [
        { header: 'TASK', value: (t) => String(t.taskIndex) },
        { header: 'ATTEMPT', value: (t) => String(t.attempt) },
        { header: 'STATE', value: (t) => t.state },
        { header: 'INSTANCE', value: (t) => t.instanceId },
        { header: 'TYPE', value: (t) => t.instanceType ?? '?' },
        { header: 'MARKET', value: (t) => t.instanceMarket ?? '?' },
        { header: 'ALT', value: (t) => String(t.alternative) },
        { header: 'EXIT', value: (t) => (t.exitCode === undefined ? '-' : String(t.exitCode)) },
      ],
      tasks,
    );
    lines.push(...table.split('\n').map((l) => `    ${l}`));
  }
  return lines.join('\n');
}
