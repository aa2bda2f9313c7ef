/**
 * Step 7 of a schedule cycle: apply a CycleDecision through the ports, in an order that is safe to stop
 * at any point. Housekeeping first; then launch, record and open queues for new instances, so that every
 * commit names an instance that exists; then commit each job in its own transaction; then send RunTask
 * only for what committed; retire idle instances last. Each item fails alone: a lost race or a refused
 * launch skips the jobs it concerns and the rest of the cycle goes on. What is left half-done (a task
 * committed but not sent, an instance launched but not recorded) is picked up by the next cycle.
 */
import { ConflictError, InsufficientCapacityError } from '../errors.ts';
import { findInstanceType } from '../model/catalog.ts';
import type { Instance } from '../model/instance.ts';
import type { Market } from '../model/instance-type.ts';
import type { FleetProvider, LaunchedInstance, Logger } from '../ports.ts';
import type { CommitOrder, CycleDecision, SkippedJob } from './cycle-decide.ts';
import { hostKey } from './cycle-decide.ts';
import { type ControlDeps, requeueAttempt, settleJob, stopTasks } from './requeue.ts';
import type { TaskRecord } from './task-record.ts';

export interface ExecuteDeps extends ControlDeps {
  readonly fleet: FleetProvider;
  readonly log?: Logger;
}

export interface ExecutionCounts {
  adopted: number;
  cloudTerminated: number;
  instancesRetired: number;
  requeued: number;
  failed: number;
  expired: number;
  cancelled: number;
  redispatched: number;
  instancesLaunched: number;
  launchFailures: number;
  jobsCommitted: number;
  tasksDispatched: number;
  instancesTerminated: number;
}

export interface ExecutionResult {
  readonly counts: ExecutionCounts;
  readonly skipped: SkippedJob[];
  /** Items that failed for reasons other than a lost race, e.g. throttling; retried next cycle. */
  readonly errors: string[];
}

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

class Run {
  readonly counts: ExecutionCounts = {
    adopted: 0,
    cloudTerminated: 0,
    instancesRetired: 0,
    requeued: 0,
    failed: 0,
    expired: 0,
    cancelled: 0,
    redispatched: 0,
    instancesLaunched: 0,
    launchFailures: 0,
    jobsCommitted: 0,
    tasksDispatched: 0,
    instancesTerminated: 0,
  };
  readonly skipped: SkippedJob[] = [];
  readonly errors: string[] = [];
  /** Instance id -> its queue, for every instance a RunTask may go to. */
  readonly queues = new Map<string, string>();

  constructor(
    readonly d: CycleDecision,
    readonly deps: ExecuteDeps,
  ) {}

  /** Runs one item; an error is logged and recorded, never thrown, so other items still run. */
  async attempt(what: string, fn: () => Promise<void>): Promise<boolean> {
    try {
      await fn();
      return true;
    } catch (error) {
      this.errors.push(`${what}: ${messageOf(error)}`);
      this.deps.log?.warn('schedule cycle step failed', {
        cycleId: this.d.cycleId,
        what,
        error: messageOf(error),
      });
      return false;
    }
  }

  /** Marks an instance TERMINATED, re-reading its version when a heartbeat moved it meanwhile. */
  async markTerminated(id: string, version: number): Promise<void> {
    let expected = version;
    for (let i = 0; ; i++) {
      try {
        await this.deps.instances.updateInstance(id, expected, { state: 'TERMINATED' });
        return;
      } catch (error) {
        const now = await this.deps.instances.getInstance(id);
        if (!(error instanceof ConflictError) || !now || i >= 3) throw error;
        if (now.state === 'TERMINATED') return;
        expected = now.version;
      }
    }
  }

  async retire(r: { instanceId: string; version: number; queueUrl?: string }, terminate: boolean) {
    if (terminate) await this.deps.fleet.terminate([r.instanceId]);
    await this.markTerminated(r.instanceId, r.version);
    if (r.queueUrl) await this.deps.channel.close(r.queueUrl);
  }

  async queueOf(instanceId: string): Promise<string> {
    const known = this.queues.get(instanceId);
    if (known) return known;
    // Recorded before its queue existed (an older cycle stopped in between): open it now, idempotently.
    const url = await this.deps.channel.open(instanceId);
    const inst = await this.deps.instances.getInstance(instanceId);
    if (inst && !inst.queueUrl)
      await this.deps.instances.updateInstance(instanceId, inst.version, { queueUrl: url });
    this.queues.set(instanceId, url);
    return url;
  }
}

async function housekeeping(run: Run): Promise<void> {
  const { d, deps, counts } = run;
  for (const inst of d.adoptions)
    await run.attempt(`adopt ${inst.id}`, async () => {
      const queueUrl = await deps.channel.open(inst.id);
      await deps.instances.putInstance({ ...inst, queueUrl });
      run.queues.set(inst.id, queueUrl);
      counts.adopted++;
    });
  if (d.cloudTerminations.length > 0)
    await run.attempt('terminate at the cloud', async () => {
      await deps.fleet.terminate(d.cloudTerminations.map((u) => u.instanceId));
      counts.cloudTerminated += d.cloudTerminations.length;
    });
  // Instances go first, so the requeue below sends no CancelTask to a queue nobody reads.
  for (const r of d.retirements)
    await run.attempt(`retire ${r.instanceId}`, async () => {
      await run.retire(r, r.terminate);
      counts.instancesRetired++;
      deps.log?.info('instance retired', { cycleId: d.cycleId, instanceId: r.instanceId, reason: r.reason });
    });
  for (const q of d.requeues)
    await run.attempt(`requeue ${q.jobId}`, async () => {
      const outcome = await requeueAttempt(q.jobId, q.attempt, q.reason, deps);
      if (outcome === 'requeued') counts.requeued++;
      if (outcome === 'failed') counts.failed++;
      if (outcome === 'cancelled') counts.cancelled++;
    });
  for (const e of d.expirations)
    await run.attempt(`expire ${e.job.id}`, async () => {
      try {
        await deps.jobs.transition(e.job.id, {
          from: 'PENDING',
          to: 'EXPIRED',
          expectedVersion: e.job.version,
          now: d.now,
          patch: { finishedAt: d.now, error: { code: 'EXPIRED', message: e.reason } },
        });
        counts.expired++;
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
        run.skipped.push({ jobId: e.job.id, reason: 'changed before it could be expired' });
      }
    });
  for (const c of d.cancellations)
    await run.attempt(`cancel ${c.job.id}`, async () => {
      await stopTasks(c.tasks, 'CANCELLED', 'cancelled by the user', deps);
      const settled = await settleJob(c.job.id, c.attempt, deps, (job) =>
        job.cancelRequestedAt === undefined
          ? undefined
          : {
              to: 'CANCELLED',
              patch: { finishedAt: d.now, error: { code: 'CANCELLED', message: 'cancelled by the user' } },
            },
      );
      if (settled) counts.cancelled++;
    });
  for (const r of d.redispatches)
    await run.attempt(`redispatch ${r.task.jobId}#${r.task.taskIndex}`, async () => {
      await deps.channel.send(await run.queueOf(r.task.instanceId), r.runTask);
      await deps.tasks.moveTask(r.task, ['PLACED'], 'DISPATCHED', d.now);
      counts.redispatched++;
    });
}

/** Launches every order; returns the instances per host key of the plan's `new` targets. */
async function launch(run: Run): Promise<Map<string, LaunchedInstance>> {
  const { d, deps, counts } = run;
  const hosts = new Map<string, LaunchedInstance>();
  const all = new Map<string, LaunchedInstance>();
  for (const order of d.launches) {
    let got: LaunchedInstance[] = [];
    try {
      got = await deps.fleet.launch(order.request);
    } catch (error) {
      counts.launchFailures++;
      const why =
        error instanceof InsufficientCapacityError
          ? `no capacity for ${order.type} (${order.market})`
          : `launch of ${order.type} (${order.market}) failed: ${messageOf(error)}`;
      run.errors.push(why);
      deps.log?.warn('launch failed', { cycleId: d.cycleId, type: order.type, error: messageOf(error) });
      continue;
    }
    for (const inst of got) all.set(inst.id, inst);
    got.forEach((inst, i) => {
      const index = order.indices[i];
      if (index === undefined) return;
      hosts.set(hostKey({ kind: 'new', type: order.type, market: order.market, index }), inst);
    });
    if (got.length < order.request.count) counts.launchFailures++;
  }
  // Every instance that came back is recorded, used or not, so none is leaked.
  for (const inst of all.values())
    await run.attempt(`record ${inst.id}`, async () => {
      const type = findInstanceType(inst.type);
      const boot = (type?.bootSeconds ?? 0) * 1000;
      // Open the queue first, so the record never exists without one; `open` is idempotent.
      const queueUrl = await deps.channel.open(inst.id);
      const record: Instance = {
        id: inst.id,
        type: inst.type,
        market: inst.market,
        state: 'PENDING',
        capacity: type
          ? { vcpu: type.vcpu, memoryMiB: type.memoryMiB, gpus: type.gpus }
          : { vcpu: 0, memoryMiB: 0, gpus: 0 },
        launchedAt: inst.launchedAt,
        readyAt: d.now + boot,
        queueUrl,
        version: 0,
      };
      await deps.instances.putInstance(record);
      run.queues.set(inst.id, queueUrl);
      counts.instancesLaunched++;
    });
  return hosts;
}

/**
 * The task records one commit writes, and the job's market: spot when any of its tasks landed on spot
 * (the job can then be interrupted), on-demand otherwise. A new instance's market is the one it launched
 * in, since a spot request may have fallen back to on-demand. The reason instead when a task has no host.
 */
function toRecords(
  c: CommitOrder,
  launched: Map<string, LaunchedInstance>,
  now: number,
): { records: TaskRecord[]; market: Market } | string {
  const records: TaskRecord[] = [];
  let market: Market = 'on-demand';
  for (const t of c.tasks) {
    const host = t.target.kind === 'new' ? launched.get(hostKey(t.target)) : undefined;
    const instanceId = t.target.kind === 'existing' ? t.target.instanceId : host?.id;
    if (!instanceId)
      return t.target.kind === 'new'
        ? `no ${t.target.type} (${t.target.market}) instance could be launched for it`
        : 'its instance is gone';
    if ((host?.market ?? t.market) === 'spot') market = 'spot';
    const { runTask: _r, target: _t, market: _m, ...rest } = t;
    records.push({
      ...rest,
      jobId: c.job.id,
      instanceId,
      state: 'PLACED',
      gpuIndices: [...t.gpuIndices],
      updatedAt: now,
    });
  }
  return { records, market };
}

async function commitAndDispatch(run: Run, launched: Map<string, LaunchedInstance>): Promise<void> {
  const { d, deps, counts } = run;
  for (const c of d.commits) {
    const placed = toRecords(c, launched, d.now);
    if (typeof placed === 'string') {
      run.skipped.push({ jobId: c.job.id, reason: placed });
      continue;
    }
    const { records, market } = placed;
    try {
      await deps.tasks.commitPlacement(c.job, c.to, records, d.now, { market });
      counts.jobsCommitted++;
    } catch (error) {
      const reason =
        error instanceof ConflictError
          ? 'changed since it was read; not placed'
          : `commit failed: ${messageOf(error)}`;
      run.skipped.push({ jobId: c.job.id, reason });
      deps.log?.info('placement not committed', { cycleId: d.cycleId, jobId: c.job.id, reason });
      continue;
    }
    for (const [i, rec] of records.entries()) {
      const message = c.tasks[i]!.runTask;
      await run.attempt(`dispatch ${rec.jobId}#${rec.taskIndex}`, async () => {
        await deps.channel.send(await run.queueOf(rec.instanceId), message);
        if (await deps.tasks.moveTask(rec, ['PLACED'], 'DISPATCHED', d.now)) counts.tasksDispatched++;
      });
    }
  }
}

export async function executeDecision(
  d: CycleDecision,
  deps: ExecuteDeps,
  queues: ReadonlyMap<string, string>,
) {
  const run = new Run(d, deps);
  for (const [id, url] of queues) run.queues.set(id, url);
  await housekeeping(run);
  const launched = await launch(run);
  await commitAndDispatch(run, launched);
  for (const t of d.terminations)
    await run.attempt(`terminate idle ${t.instanceId}`, async () => {
      await run.retire(t, true);
      run.counts.instancesTerminated++;
    });
  return { counts: run.counts, skipped: run.skipped, errors: run.errors } satisfies ExecutionResult;
}
