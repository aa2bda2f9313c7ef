/**
 * In-memory fakes of the stores kept in DynamoDB tables (jobs, leases, task records, instances): every
 * conditional write checks the version it was given and throws ConflictError, job moves follow the state
 * machine, `moveTask` moves only from the listed states.
 */
import type { TaskRecord, TaskState } from '../../lib/core/control/task-record.ts';
import { TaskRecordSchema, taskSortKey } from '../../lib/core/control/task-record.ts';
import { ConflictError, NotFoundError } from '../../lib/core/errors.ts';
import type { Instance, InstanceState, InstanceUpdate } from '../../lib/core/model/instance.ts';
import {
  assertInstanceTransition,
  INSTANCE_STATES,
  InstanceSchema,
  InstanceUpdateSchema,
} from '../../lib/core/model/instance.ts';
import type { Market } from '../../lib/core/model/instance-type.ts';
import type { Job } from '../../lib/core/model/job.ts';
import { JobSchema } from '../../lib/core/model/job.ts';
import { assertTransition, isTerminal } from '../../lib/core/model/job-state.ts';
import { parseOrThrow } from '../../lib/core/model/validate.ts';
import type {
  CreateJobResult,
  InstanceStore,
  JobStore,
  LeaseStore,
  Rejection,
  TaskStore,
  TransitionRequest,
} from '../../lib/core/ports.ts';
import { copy, Recorder } from './fake-recorder.ts';

type JobMethod =
  | 'create'
  | 'get'
  | 'list'
  | 'transition'
  | 'requestCancel'
  | 'recordRejection'
  | 'getRejection';

export class FakeJobStore extends Recorder<JobMethod> implements JobStore {
  readonly jobs = new Map<string, Job>();
  readonly rejections = new Map<string, Rejection>();
  private readonly keys = new Map<string, string>();

  /** Stores jobs as they are, bypassing every check (test setup). */
  seed(...jobs: Job[]): this {
    for (const j of jobs) this.jobs.set(j.id, copy(parseOrThrow(JobSchema, j, 'job')));
    return this;
  }

  async create(job: Job, idempotencyKey?: string): Promise<CreateJobResult> {
    this.record('create', job, idempotencyKey);
    const owner = idempotencyKey ? this.keys.get(idempotencyKey) : undefined;
    const existing = this.jobs.get(job.id) ?? (owner === undefined ? undefined : this.jobs.get(owner));
    if (existing) return { created: false, job: copy(existing) };
    this.jobs.set(job.id, copy(parseOrThrow(JobSchema, job, 'job')));
    if (idempotencyKey) this.keys.set(idempotencyKey, job.id);
    return { created: true, job: copy(job) };
  }

  async get(jobId: string): Promise<Job | undefined> {
    this.record('get', jobId);
    const job = this.jobs.get(jobId);
    return job && copy(job);
  }

  /** Pages of `limit` (100 by default), oldest first when filtered by status, as the status index sorts. */
  async list(query: { status?: Job['status']; limit?: number; cursor?: string }) {
    this.record('list', query);
    const all = [...this.jobs.values()]
      .filter((j) => !query.status || j.status === query.status)
      .sort((a, b) => a.submittedAt - b.submittedAt || a.id.localeCompare(b.id));
    const from = query.cursor ? Number(query.cursor) : 0;
    if (!Number.isInteger(from) || from < 0)
      throw new RangeError(`cursor is not one this store returned, got ${query.cursor}`);
    const to = from + Math.min(query.limit ?? 100, 1000);
    return { jobs: all.slice(from, to).map(copy), cursor: to < all.length ? String(to) : undefined };
  }

  async transition(jobId: string, request: TransitionRequest): Promise<Job> {
    this.record('transition', jobId, request);
    assertTransition(request.from, request.to);
    const job = this.jobs.get(jobId);
    if (!job || job.status !== request.from || job.version !== request.expectedVersion)
      throw new ConflictError(
        `job ${jobId} is no longer ${request.from} at version ${request.expectedVersion}`,
        jobId,
      );
    const patch = Object.fromEntries(Object.entries(request.patch ?? {}).filter(([, v]) => v !== undefined));
    const next: Job = {
      ...job,
      ...patch,
      status: request.to,
      version: job.version + 1,
      updatedAt: request.now,
    };
    this.jobs.set(jobId, next);
    return copy(next);
  }

  async requestCancel(jobId: string, now: number): Promise<Job> {
    this.record('requestCancel', jobId, now);
    const job = this.jobs.get(jobId);
    if (!job) throw new NotFoundError('job', jobId);
    if (isTerminal(job.status)) return copy(job);
    if (job.status !== 'PENDING' && job.cancelRequestedAt !== undefined) return copy(job);
    const next: Job =
      job.status === 'PENDING'
        ? {
            ...job,
            status: 'CANCELLED',
            finishedAt: now,
            error: { code: 'CANCELLED', message: 'cancelled by the user' },
          }
        : { ...job, cancelRequestedAt: now };
    const stored = { ...next, version: job.version + 1, updatedAt: now };
    this.jobs.set(jobId, stored);
    return copy(stored);
  }

  async recordRejection(rejection: Rejection): Promise<void> {
    this.record('recordRejection', rejection);
    this.rejections.set(rejection.jobId, copy(rejection));
  }

  async getRejection(jobId: string): Promise<Rejection | undefined> {
    this.record('getRejection', jobId);
    const r = this.rejections.get(jobId);
    return r && copy(r);
  }
}

type LeaseMethod = 'acquire' | 'release';

export class FakeLeaseStore extends Recorder<LeaseMethod> implements LeaseStore {
  readonly leases = new Map<string, { owner: string; until: number }>();

  /** Someone else holds `name` until `until` (test setup). */
  hold(name: string, owner: string, until: number): this {
    this.leases.set(name, { owner, until });
    return this;
  }

  async acquire(name: string, owner: string, ttlMs: number, now: number): Promise<boolean> {
    this.record('acquire', name, owner, ttlMs, now);
    const held = this.leases.get(name);
    if (held && held.until >= now && held.owner !== owner) return false;
    this.leases.set(name, { owner, until: now + ttlMs });
    return true;
  }

  async release(name: string, owner: string): Promise<void> {
    this.record('release', name, owner);
    const held = this.leases.get(name);
    if (held?.owner === owner) this.leases.set(name, { owner, until: 0 });
  }
}

type TaskMethod = 'tasksOfJob' | 'activeTasks' | 'commitPlacement' | 'moveTask';
const ACTIVE: ReadonlySet<TaskState> = new Set(['PLACED', 'DISPATCHED', 'RUNNING']);
/** DynamoDB transactions take at most 100 items: the job plus up to 99 tasks. */
const MAX_TASKS_PER_COMMIT = 99;
const taskKey = (t: { jobId: string; taskIndex: number; attempt: number }) => `${t.jobId}|${taskSortKey(t)}`;

/** Task records; a placement commit moves the job in `jobs` and writes the tasks, all or nothing. */
export class FakeTaskStore extends Recorder<TaskMethod> implements TaskStore {
  readonly records = new Map<string, TaskRecord>();

  constructor(private readonly jobs: FakeJobStore) {
    super();
  }

  seed(...tasks: TaskRecord[]): this {
    for (const t of tasks)
      this.records.set(taskKey(t), copy(parseOrThrow(TaskRecordSchema, t, 'task record')));
    return this;
  }

  all(): TaskRecord[] {
    return [...this.records.values()].map(copy);
  }

  get(key: { jobId: string; taskIndex: number; attempt: number }): TaskRecord | undefined {
    const t = this.records.get(taskKey(key));
    return t && copy(t);
  }

  async tasksOfJob(jobId: string): Promise<TaskRecord[]> {
    this.record('tasksOfJob', jobId);
    return this.all()
      .filter((t) => t.jobId === jobId)
      .sort((a, b) => taskSortKey(a).localeCompare(taskSortKey(b)));
  }

  async activeTasks(): Promise<TaskRecord[]> {
    this.record('activeTasks');
    return this.all().filter((t) => ACTIVE.has(t.state));
  }

  async commitPlacement(
    job: Job,
    to: 'PLACED' | 'LAUNCHING',
    tasks: readonly TaskRecord[],
    now: number,
    placed: { readonly market?: Market } = {},
  ): Promise<Job> {
    this.record('commitPlacement', job, to, tasks, now, placed);
    assertTransition(job.status, to);
    if (tasks.length === 0 || tasks.length > MAX_TASKS_PER_COMMIT)
      throw new RangeError(`a placement commits 1 to ${MAX_TASKS_PER_COMMIT} tasks, got ${tasks.length}`);
    const parsed = tasks.map((t) => parseOrThrow(TaskRecordSchema, t, 'task record'));
    const stored = this.jobs.jobs.get(job.id);
    const clash = parsed.some((t) => this.records.has(taskKey(t)));
    if (!stored || stored.status !== job.status || stored.version !== job.version || clash)
      throw new ConflictError(`job ${job.id} changed since it was read; not placed`, job.id);
    const attempts = Math.max(...parsed.map((t) => t.attempt)) + 1;
    const moved = {
      status: to,
      updatedAt: now,
      attempts,
      ...(placed.market ? { market: placed.market } : {}),
    };
    this.jobs.jobs.set(job.id, { ...stored, ...moved, version: stored.version + 1 });
    for (const t of parsed) this.records.set(taskKey(t), copy(t));
    return copy({ ...job, ...moved, version: job.version + 1 });
  }

  async moveTask(
    key: { jobId: string; taskIndex: number; attempt: number },
    from: readonly TaskState[],
    to: TaskState,
    now: number,
    patch: { exitCode?: number } = {},
  ): Promise<boolean> {
    this.record('moveTask', key, from, to, now, patch);
    const t = this.records.get(taskKey(key));
    if (!t || !from.includes(t.state)) return false;
    this.records.set(taskKey(key), {
      ...t,
      state: to,
      updatedAt: now,
      ...(patch.exitCode !== undefined ? { exitCode: patch.exitCode } : {}),
    });
    return true;
  }
}

type InstanceMethod = 'listInstances' | 'getInstance' | 'putInstance' | 'updateInstance';

/** Instance records; an update sets any field of InstanceUpdateSchema, validated (like the DynamoDB adapter). */
export class FakeInstanceStore extends Recorder<InstanceMethod> implements InstanceStore {
  readonly instances = new Map<string, Instance>();

  seed(...instances: Instance[]): this {
    for (const i of instances) this.instances.set(i.id, copy(parseInstance(i)));
    return this;
  }

  async listInstances(
    states: readonly InstanceState[] = INSTANCE_STATES.filter((s) => s !== 'TERMINATED'),
  ): Promise<Instance[]> {
    this.record('listInstances', states);
    return [...this.instances.values()].filter((i) => states.includes(i.state)).map(copy);
  }

  async getInstance(id: string): Promise<Instance | undefined> {
    this.record('getInstance', id);
    const i = this.instances.get(id);
    return i && copy(i);
  }

  async putInstance(instance: Instance): Promise<void> {
    this.record('putInstance', instance);
    const parsed = parseInstance(instance);
    if (!this.instances.has(instance.id)) this.instances.set(instance.id, copy(parsed));
  }

  async updateInstance(id: string, expectedVersion: number, patch: InstanceUpdate): Promise<Instance> {
    this.record('updateInstance', id, expectedVersion, patch);
    const valid = parseOrThrow(InstanceUpdateSchema, patch, 'instance update');
    const current = this.instances.get(id);
    if (!current || current.version !== expectedVersion)
      throw new ConflictError(`instance ${id} moved past version ${expectedVersion}`, id);
    if (valid.state !== undefined && valid.state !== current.state)
      assertInstanceTransition(current.state, valid.state);
    const set = Object.fromEntries(Object.entries(valid).filter(([, v]) => v !== undefined));
    const next = { ...current, ...set, version: current.version + 1 };
    this.instances.set(id, next);
    return copy(next);
  }
}

function parseInstance(instance: Instance): Instance {
  return parseOrThrow(InstanceSchema, instance, 'instance');
}
