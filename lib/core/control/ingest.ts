import { ConflictError } from '../errors.ts';
import type { Instance, InstanceUpdate } from '../model/instance.ts';
import type { Job } from '../model/job.ts';
import { isTerminal } from '../model/job-state.ts';
import type { FleetProvider, InstanceStore, Logger } from '../ports.ts';
import type { Heartbeat } from '../protocol/heartbeat.ts';
import type { TaskEvent } from '../protocol/tasks.ts';
import { heartbeatOrder, livenessAt } from './heartbeat-order.ts';
import { type ControlDeps, requeueAttempt } from './requeue.ts';
import { stopStrayTask } from './stray-tasks.ts';
import { ACTIVE_TASK_STATES, type TaskRecord, type TaskState } from './task-record.ts';
import { cancelJob, failJob, failureOf, finishIfGangDone, jobLagsTask, markRunning } from './task-settle.ts';

/**
 * The ingest path: applies what agents and EC2 report. Every change is conditional on the state it
 * moves from, so a duplicate or out-of-order report is a no-op, and effects happen once under
 * at-least-once delivery. A report about an older attempt of a job never touches the current one, and a
 * report about a task from an instance it is not placed on touches nothing.
 */
export interface IngestDeps extends ControlDeps {
  readonly instances: InstanceStore;
  readonly fleet: Pick<FleetProvider, 'terminate'>;
  readonly log?: Logger;
}

/** `foreign`: the report names an instance other than the one its task is placed on. */
export type IngestOutcome = 'applied' | 'duplicate' | 'stale' | 'foreign' | 'unknown';

const ACTIVE: readonly TaskState[] = [...ACTIVE_TASK_STATES];
/**
 * How long a spot instance's agent may keep working after the warning: EC2 reclaims it two minutes after
 * the warning, which leaves 30 s for the hand-back reports and the DRAINED heartbeat.
 */
export const SPOT_DRAIN_GRACE_SECONDS = 90;

/** Task-end reasons that say nothing about the job itself: run it again elsewhere. */
const RETRYABLE_REASONS = new Set(['does-not-fit', 'drain']);

export async function applyTaskEvent(event: TaskEvent, deps: IngestDeps): Promise<IngestOutcome> {
  const job = await deps.jobs.get(event.jobId);
  if (!job) return 'unknown';
  const record = (await deps.tasks.tasksOfJob(event.jobId)).find(
    (t) => t.taskIndex === event.taskIndex && t.attempt === event.attempt,
  );
  if (record && record.instanceId !== event.instanceId) {
    deps.log?.warn('ignored a task event from an instance the task is not placed on', {
      jobId: event.jobId,
      taskIndex: event.taskIndex,
      attempt: event.attempt,
      event: event.event,
      reportedBy: event.instanceId,
      placedOn: record.instanceId,
    });
    // Whatever runs there is a copy nobody placed: stop it.
    if (event.event === 'started')
      await stopStrayTask(event, job, undefined, 'the task is placed on another instance', deps);
    return 'foreign';
  }
  // The job's current run is attempt (attempts - 1): commits record attempts = attempt + 1.
  const current = event.attempt === job.attempts - 1;
  if (event.event === 'started') {
    const why = strayReason(job, current, record);
    if (why) {
      await stopStrayTask(event, job, record, why, deps);
      return 'stale';
    }
  }
  if (!current) return 'stale';
  const key = { jobId: event.jobId, taskIndex: event.taskIndex, attempt: event.attempt };
  const now = deps.clock.now();
  switch (event.event) {
    case 'started': {
      const moved = await deps.tasks.moveTask(key, ['PLACED', 'DISPATCHED'], 'RUNNING', now);
      await markRunning(job.id, event.attempt, event.at, deps);
      await touchInstance(event.instanceId, event.at, deps);
      return moved ? 'applied' : 'duplicate';
    }
    case 'succeeded': {
      const moved = await deps.tasks.moveTask(key, ACTIVE, 'SUCCEEDED', now, { exitCode: event.exitCode });
      await touchInstance(event.instanceId, event.at, deps);
      if (!moved && !jobLagsTask(job, event.attempt, record?.state, 'SUCCEEDED')) return 'duplicate';
      const finished = await finishIfGangDone(job.id, event.attempt, event.at, deps);
      return moved || finished ? 'applied' : 'duplicate';
    }
    case 'failed': {
      if (event.reason && RETRYABLE_REASONS.has(event.reason)) return handBack(event, job, deps);
      const moved = await deps.tasks.moveTask(key, ACTIVE, 'FAILED', now, { exitCode: event.exitCode });
      await touchInstance(event.instanceId, event.at, deps);
      if (!moved && !jobLagsTask(job, event.attempt, record?.state, 'FAILED')) return 'duplicate';
      const failed = await failJob(job.id, event.attempt, failureOf(event), event.at, deps);
      return moved || failed ? 'applied' : 'duplicate';
    }
    case 'cancelled': {
      if (event.reason === 'drain') return handBack(event, job, deps);
      const moved = await deps.tasks.moveTask(key, ACTIVE, 'CANCELLED', now);
      await touchInstance(event.instanceId, event.at, deps);
      if (!moved) return 'duplicate';
      await cancelJob(job.id, event.attempt, event.at, deps);
      return 'applied';
    }
    case 'handed-back':
      return handBack(event, job, deps);
  }
}

/**
 * Why a task that reports `started` must not run, if it must not: its job has ended, its attempt is not
 * the job's current one, no task was placed under its key, or its run was already given up (requeued or
 * stopped) while its RunTask was on the way.
 */
function strayReason(job: Job, current: boolean, record: TaskRecord | undefined): string | undefined {
  if (isTerminal(job.status)) return `its job is ${job.status}`;
  if (!current) return `attempt ${job.attempts - 1} is the job's current one`;
  if (!record) return 'no such task was placed';
  if (record.state === 'LOST' || record.state === 'CANCELLED') return `its run is ${record.state}`;
  return undefined;
}

async function handBack(event: TaskEvent, job: Job, deps: IngestDeps): Promise<IngestOutcome> {
  const tasks = await deps.tasks.tasksOfJob(event.jobId);
  const mine = tasks.find((t) => t.taskIndex === event.taskIndex && t.attempt === event.attempt);
  // A LOST task whose job is still on this attempt is a requeue that failed before the job followed.
  if (!mine || !(ACTIVE_TASK_STATES.has(mine.state) || jobLagsTask(job, event.attempt, mine.state, 'LOST')))
    return 'duplicate';
  const outcome = await requeueAttempt(
    event.jobId,
    event.attempt,
    `task handed back by ${event.instanceId} (${event.reason ?? 'drain'})`,
    deps,
  );
  return ACTIVE_TASK_STATES.has(mine.state) || outcome !== 'unchanged' ? 'applied' : 'duplicate';
}

async function touchInstance(instanceId: string, at: number, deps: IngestDeps): Promise<void> {
  await updateInstanceWithRetry(instanceId, deps, (i) =>
    (i.lastBusyAt ?? 0) >= at ? undefined : { lastBusyAt: at },
  );
}

/**
 * A heartbeat: the instance is alive. PENDING -> RUNNING on the first one; DRAINED means the agent is
 * done and exiting, so the instance is terminated. Heartbeats are ordered by run and sequence number, not
 * by the agent's clock (heartbeat-order.ts): one not newer than the last one applied is a no-op.
 */
export async function applyHeartbeat(hb: Heartbeat, deps: IngestDeps): Promise<IngestOutcome> {
  const instance = await deps.instances.getInstance(hb.instanceId);
  if (!instance) return 'unknown';
  if (ended(instance)) return 'stale';
  const order = heartbeatOrder(instance, hb);
  if (order !== 'newer') return order === 'duplicate' ? 'duplicate' : 'stale';
  const appliedAt = deps.clock.now();
  const applied = await updateInstanceWithRetry(hb.instanceId, deps, (i) =>
    ended(i) || heartbeatOrder(i, hb) !== 'newer'
      ? undefined
      : {
          lastHeartbeatAt: livenessAt(hb.at, appliedAt),
          heartbeatAppliedAt: appliedAt,
          heartbeatBootId: hb.bootId,
          heartbeatSeq: hb.seq,
          state: nextState(i.state, hb.state === 'DRAINED' ? 'TERMINATING' : 'RUNNING'),
        },
  );
  if (applied && hb.state === 'DRAINED') {
    await deps.fleet.terminate([hb.instanceId]);
    await requeueInstanceTasks(hb.instanceId, 'the agent drained and exited', deps);
  }
  return applied ? 'applied' : 'duplicate';
}

function ended(i: Pick<Instance, 'state'>): boolean {
  return i.state === 'TERMINATED' || i.state === 'TERMINATING';
}

function nextState(current: Instance['state'], wanted: 'RUNNING' | 'TERMINATING') {
  // DRAINING is never undone by a heartbeat that was sent before the drain began.
  if (current === 'DRAINING' && wanted === 'RUNNING') return 'DRAINING' as const;
  return wanted;
}

/**
 * How long a serving task moved off an instance EC2 recommends rebalancing serves on there: long enough for
 * its replacement to be placed (up to a schedule cycle), its instance to boot (a GPU type's two and a half
 * minutes) and its model to load. The instance is retired once this has passed and no command task is left.
 */
export const REBALANCE_SERVE_SECONDS = 300;

/**
 * EC2 warned that a spot instance goes in two minutes: drain it and place its work elsewhere now. Its
 * serving tasks (model servers, routers) are requeued too but left running: the drain asks the agent to
 * serve on through the grace, so a replica's replacement boots while it still takes queries (make before
 * break), and the agent hands it back when the grace ends. Other tasks are stopped at once.
 *
 * An instance already DRAINING gets the same: one cordoned after a rebalance recommendation is drained now and
 * the command tasks it was left to finish are requeued; one draining for scale-in has its drain brought
 * forward to the warning's grace (by the agent's own notice on EC2: a draining agent reads no more
 * messages). The warning is applied once per instance (`interruptionWarnedAt`).
 */
export async function applySpotWarning(instanceId: string, deps: IngestDeps): Promise<IngestOutcome> {
  const instance = await deps.instances.getInstance(instanceId);
  if (!instance) return 'unknown';
  const warnable = (i: { state: string; interruptionWarnedAt?: number }) =>
    i.interruptionWarnedAt === undefined &&
    (i.state === 'RUNNING' || i.state === 'PENDING' || i.state === 'DRAINING');
  if (!warnable(instance)) return 'duplicate';
  const now = deps.clock.now();
  const applied = await updateInstanceWithRetry(instanceId, deps, (i) =>
    warnable(i) ? { state: 'DRAINING', interruptionWarnedAt: now } : undefined,
  );
  if (!applied) return 'duplicate';
  if (instance.queueUrl) {
    await deps.channel.send(instance.queueUrl, {
      version: 1,
      kind: 'Drain',
      reason: 'spot-interruption',
      graceSeconds: SPOT_DRAIN_GRACE_SECONDS,
      serveThroughGrace: true,
    });
  }
  await requeueInstanceTasks(instanceId, 'spot interruption warning', deps, { serveThroughGrace: true });
  return 'applied';
}

/**
 * EC2 recommends rebalancing a spot instance: it is at elevated risk of interruption, and the recommendation
 * can come well before the two-minute warning, or with none following. The instance is cordoned: it takes no
 * new work (DRAINING), but its agent is not told to drain. Its serving tasks are requeued, each with a
 * CancelTask that takes effect REBALANCE_SERVE_SECONDS later, so their replacements start on other capacity
 * while they still take queries; a GPU replica's boot, longer than a warning's grace, then fits. Command
 * tasks run on to their end (a recommendation is not an interruption) and can still be cancelled; the
 * schedule cycle retires the instance once they are done (decideHousekeeping). A warning that follows drains
 * it at once (applySpotWarning).
 */
export async function applyRebalanceRecommendation(
  instanceId: string,
  deps: IngestDeps,
): Promise<IngestOutcome> {
  const instance = await deps.instances.getInstance(instanceId);
  if (!instance) return 'unknown';
  if (instance.state !== 'RUNNING' && instance.state !== 'PENDING') return 'duplicate';
  const now = deps.clock.now();
  const applied = await updateInstanceWithRetry(instanceId, deps, (i) =>
    i.state === 'RUNNING' || i.state === 'PENDING'
      ? { state: 'DRAINING', rebalanceRecommendedAt: now }
      : undefined,
  );
  if (!applied) return 'duplicate';
  await requeueInstanceTasks(instanceId, 'rebalance recommendation', deps, {
    servingOnly: true,
    cancelAfterSeconds: REBALANCE_SERVE_SECONDS,
  });
  return 'applied';
}

/** EC2 says the instance is shutting down or gone: its running work is lost and goes back to the queue. */
export async function applyInstanceGone(instanceId: string, deps: IngestDeps): Promise<IngestOutcome> {
  const instance = await deps.instances.getInstance(instanceId);
  if (!instance) return 'unknown';
  // Already TERMINATED: a redelivery, or the second of shutting-down and terminated. Its work is requeued
  // again all the same (only tasks still active move), since an earlier delivery may have failed after
  // marking the instance and before requeueing, and nothing else requeues work on a TERMINATED instance.
  const applied =
    instance.state !== 'TERMINATED' &&
    (await updateInstanceWithRetry(instanceId, deps, (i) =>
      i.state === 'TERMINATED' ? undefined : { state: 'TERMINATED' },
    ));
  const requeued = await requeueInstanceTasks(instanceId, 'instance terminated', deps);
  if (instance.queueUrl) await deps.channel.close(instance.queueUrl);
  return applied || requeued > 0 ? 'applied' : 'duplicate';
}

/**
 * Requeues the current attempt of every job with an active task on the instance. `serveThroughGrace`
 * leaves serving tasks running there (see applySpotWarning); `servingOnly` requeues only serving tasks,
 * stopped `cancelAfterSeconds` from now, and leaves command tasks alone (see applyRebalanceRecommendation).
 */
export async function requeueInstanceTasks(
  instanceId: string,
  reason: string,
  deps: ControlDeps,
  options: {
    readonly serveThroughGrace?: boolean;
    readonly servingOnly?: boolean;
    readonly cancelAfterSeconds?: number;
  } = {},
): Promise<number> {
  const active = (await deps.tasks.activeTasks()).filter((t) => t.instanceId === instanceId);
  const runs = new Map<string, TaskRecord>();
  for (const t of active) runs.set(`${t.jobId}#${t.attempt}`, t);
  const keepServing = options.serveThroughGrace === true || options.servingOnly === true;
  let requeued = 0;
  for (const t of runs.values()) {
    const kind = keepServing ? (await deps.jobs.get(t.jobId))?.spec.task.kind : undefined;
    const serving = kind !== undefined && kind !== 'command';
    if (options.servingOnly === true && !serving) continue;
    const outcome = await requeueAttempt(
      t.jobId,
      t.attempt,
      `${reason} (${instanceId})`,
      deps,
      options.servingOnly === true
        ? {
            ...(options.cancelAfterSeconds !== undefined
              ? { cancelAfterSeconds: options.cancelAfterSeconds }
              : {}),
          }
        : { leaveRunning: serving },
    );
    if (outcome !== 'unchanged') requeued++;
  }
  return requeued;
}

/**
 * Applies `patchFor`'s patch under the version read, re-reading after a conflict. A patch may set any field
 * of InstanceUpdateSchema (a heartbeat's run and seq included): the stores validate it with that schema and
 * write every field it has.
 */
async function updateInstanceWithRetry(
  instanceId: string,
  deps: Pick<IngestDeps, 'instances'>,
  patchFor: (i: Instance) => InstanceUpdate | undefined,
): Promise<boolean> {
  for (let i = 0; ; i++) {
    const instance = await deps.instances.getInstance(instanceId);
    if (!instance) return false;
    const patch = patchFor(instance);
    if (!patch) return false;
    try {
      await deps.instances.updateInstance(instanceId, instance.version, patch);
      return true;
    } catch (error) {
      if (!(error instanceof ConflictError) || i >= 4) throw error;
    }
  }
}
