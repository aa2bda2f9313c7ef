/**
 * Steps 3 and 4 of a schedule cycle, as pure decisions over the loaded snapshot: reconcile the store
 * with the cloud, retire silent instances, expire jobs past their hard deadline, stop cancelled jobs and
 * re-send RunTasks an earlier cycle committed but never sent. Then the view the planner works on.
 */
import { findInstanceType } from '../model/catalog.ts';
import type { Instance } from '../model/instance.ts';
import type { Job } from '../model/job.ts';
import { hardDeadlineSeconds } from '../model/utility.ts';
import type { RunTaskInput } from '../protocol/tasks.ts';
import { readyAtOf } from './capacity.ts';
import type { CycleConfig } from './cycle-config.ts';
import type { CycleState } from './cycle-state.ts';
import { REBALANCE_SERVE_SECONDS } from './ingest.ts';
import { runTaskFor } from './run-task.ts';
import type { TaskRecord } from './task-record.ts';

/** A stored instance that is gone or presumed dead: mark it TERMINATED and requeue its tasks. */
export interface Retirement {
  readonly instanceId: string;
  readonly version: number;
  readonly queueUrl?: string;
  /** Ask the cloud to terminate it; false when the cloud has already lost it. */
  readonly terminate: boolean;
  readonly reason: string;
}

export interface Requeue {
  readonly jobId: string;
  readonly attempt: number;
  readonly reason: string;
}

export interface Expiration {
  readonly job: Job;
  readonly reason: string;
}

export interface Cancellation {
  readonly job: Job;
  /** The attempt now running (`job.attempts - 1`). */
  readonly attempt: number;
  readonly tasks: readonly TaskRecord[];
}

export interface Redispatch {
  readonly task: TaskRecord;
  readonly runTask: RunTaskInput;
}

export interface Housekeeping {
  /** Cloud instances of this fleet the store lacks, to record (state PENDING) and use or retire. */
  readonly adoptions: readonly Instance[];
  /**
   * Cloud instances to terminate without touching the store: untracked ones the fleet cannot use (unknown
   * type, already written off), and TERMINATING ones the cloud still runs (an earlier terminate failed).
   */
  readonly cloudTerminations: readonly { readonly instanceId: string; readonly reason: string }[];
  /** How late agents' reports reach the control plane (reportLagMs); silence is judged that much later. */
  readonly reportLagMs: number;
  readonly retirements: readonly Retirement[];
  readonly requeues: readonly Requeue[];
  readonly expirations: readonly Expiration[];
  readonly cancellations: readonly Cancellation[];
  readonly redispatches: readonly Redispatch[];
}

const GONE = new Set(['terminated', 'shutting-down']);
const STOPPED = new Set(['stopping', 'stopped']);
const secs = (ms: number) => Math.round(ms / 1000);

function reconcile(state: CycleState, config: CycleConfig): Retirement[] {
  const cloud = new Map(state.cloud.map((c) => [c.id, c]));
  const out: Retirement[] = [];
  for (const inst of state.instances) {
    const seen = cloud.get(inst.id);
    const base = { instanceId: inst.id, version: inst.version, queueUrl: inst.queueUrl };
    if (!seen || GONE.has(seen.state)) {
      // A fresh launch may not be listed yet: describe calls are eventually consistent.
      if (!seen && state.now - inst.launchedAt < config.launchGraceSeconds * 1000) continue;
      out.push({ ...base, terminate: false, reason: 'the cloud no longer lists it' });
    } else if (STOPPED.has(seen.state)) {
      out.push({ ...base, terminate: true, reason: `the cloud reports it ${seen.state}` });
    }
  }
  return out;
}

/** The most report lag the schedule credits, in heartbeat timeouts (reportLagMs). */
export const REPORT_LAG_CREDIT_TIMEOUTS = 4;

/**
 * How late agents' reports reach the control plane now: the median, over instances whose last heartbeat was
 * applied within the heartbeat timeout, of applied − sent; 0 with no such heartbeat.
 * A backlog in the reports queue (a throttled ingest, a slow table) delays every heartbeat alike, and
 * without this credit the schedule would read its own slowness as a fleet of dead agents and retire them,
 * requeueing their work and launching replacements whose reports join the backlog. The median keeps one
 * agent with a skewed clock from setting it. It is capped at REPORT_LAG_CREDIT_TIMEOUTS timeouts, which
 * bounds how long a dead instance is kept while reports are late; an ingest that stops altogether leaves
 * no fresh heartbeat, so no credit, and silence counts as it did without it.
 */
export function reportLagMs(instances: readonly Instance[], now: number, config: CycleConfig): number {
  const timeoutMs = config.heartbeatTimeoutSeconds * 1000;
  const lags: number[] = [];
  for (const i of instances) {
    const sent = i.lastHeartbeatAt;
    const applied = i.heartbeatAppliedAt;
    if (sent === undefined || applied === undefined || now - applied > timeoutMs) continue;
    lags.push(Math.max(0, applied - sent));
  }
  if (lags.length === 0) return 0;
  lags.sort((a, b) => a - b);
  const mid = lags.length >> 1;
  const median =
    lags.length % 2 === 1 ? (lags[mid] as number) : ((lags[mid - 1] as number) + (lags[mid] as number)) / 2;
  return Math.min(REPORT_LAG_CREDIT_TIMEOUTS * timeoutMs, Math.round(median));
}

/**
 * Why an instance counts as dead for want of heartbeats, or undefined while it is alive. `lagMs` is how late
 * reports reach the control plane (reportLagMs): a heartbeat sent that long ago may still be on its way.
 */
export function silence(inst: Instance, now: number, config: CycleConfig, lagMs = 0): string | undefined {
  const timeoutMs = config.heartbeatTimeoutSeconds * 1000;
  const late = lagMs >= 1000 ? `; reports reach the control plane ${secs(lagMs)}s late` : '';
  const seen = now - lagMs;
  if (inst.state === 'PENDING' && inst.lastHeartbeatAt === undefined) {
    const readyAt = readyAtOf(inst);
    if (seen - readyAt <= timeoutMs) return undefined;
    return `no heartbeat within boot (${secs(readyAt - inst.launchedAt)}s) + timeout (${config.heartbeatTimeoutSeconds}s${late})`;
  }
  if (inst.state !== 'RUNNING' && inst.state !== 'DRAINING' && inst.state !== 'PENDING') return undefined;
  const last = inst.lastHeartbeatAt ?? inst.launchedAt;
  if (seen - last <= timeoutMs) return undefined;
  return `no heartbeat for ${secs(now - last)}s (timeout ${config.heartbeatTimeoutSeconds}s${late})`;
}

/**
 * Why a cordoned instance (EC2 recommended rebalancing it) is done: no command task left on it, and its moved
 * serving tasks past the time they serve on (REBALANCE_SERVE_SECONDS). Undefined while it still has work,
 * and for an instance since warned of its interruption (that one drains and reports DRAINED itself).
 */
export function rebalanced(inst: Instance, hasTasks: boolean, now: number): string | undefined {
  const at = inst.rebalanceRecommendedAt;
  if (inst.state !== 'DRAINING' || at === undefined || inst.interruptionWarnedAt !== undefined)
    return undefined;
  if (hasTasks || now - at < REBALANCE_SERVE_SECONDS * 1000) return undefined;
  return `rebalance recommended ${secs(now - at)}s ago; its work has moved or finished`;
}

function adopt(state: CycleState): Pick<Housekeeping, 'adoptions' | 'cloudTerminations'> {
  const known = new Set(state.instances.map((i) => i.id));
  const written = new Set(state.untrackedRecords.map((i) => i.id));
  const adoptions: Instance[] = [];
  const cloudTerminations: { instanceId: string; reason: string }[] = [];
  for (const c of state.cloud) {
    if (known.has(c.id) || GONE.has(c.state)) continue;
    const type = findInstanceType(c.type);
    const reason = written.has(c.id)
      ? 'recorded as terminated but the cloud still runs it'
      : STOPPED.has(c.state)
        ? `untracked and ${c.state}`
        : !type
          ? `untracked instance of unknown type ${c.type}`
          : undefined;
    if (reason || !type) {
      cloudTerminations.push({ instanceId: c.id, reason: reason ?? 'unknown type' });
      continue;
    }
    adoptions.push({
      id: c.id,
      type: c.type,
      market: c.market,
      state: 'PENDING',
      capacity: { vcpu: type.vcpu, memoryMiB: type.memoryMiB, gpus: type.gpus },
      launchedAt: c.launchedAt,
      // Its agent gets a full heartbeat timeout from now to report in before it counts as dead.
      readyAt: Math.max(c.launchedAt + type.bootSeconds * 1000, state.now),
      version: 0,
    });
  }
  const byId = new Map(state.cloud.map((c) => [c.id, c]));
  for (const inst of state.instances) {
    const c = byId.get(inst.id);
    if (inst.state === 'TERMINATING' && c && !GONE.has(c.state))
      cloudTerminations.push({
        instanceId: inst.id,
        reason: `terminating but the cloud still reports it ${c.state}`,
      });
  }
  return { adoptions, cloudTerminations };
}

function expire(job: Job, now: number): Expiration | undefined {
  // Serving is wanted until the control plane cancels it; a utility on it does not make it expire.
  if (!job.spec.utility || job.spec.policy === 'slo-service') return undefined;
  const hard = hardDeadlineSeconds(job.spec.utility);
  const waited = (now - job.submittedAt) / 1000;
  if (waited <= hard) return undefined;
  return {
    job,
    reason: `not started by its hard deadline (${hard}s after submission; waited ${Math.round(waited)}s)`,
  };
}

function requeuesFor(
  retired: readonly Retirement[],
  tasks: readonly TaskRecord[],
  cancelled: ReadonlySet<string>,
): Requeue[] {
  const why = new Map(retired.map((r) => [r.instanceId, `instance ${r.instanceId}: ${r.reason}`]));
  const out = new Map<string, Requeue>();
  for (const t of tasks) {
    const reason = why.get(t.instanceId);
    // A job the user cancelled is stopped, not retried.
    if (!reason || cancelled.has(t.jobId)) continue;
    const key = `${t.jobId}#${t.attempt}`;
    if (!out.has(key)) out.set(key, { jobId: t.jobId, attempt: t.attempt, reason });
  }
  return [...out.values()];
}

function redispatchesFor(state: CycleState, skip: ReadonlySet<string>, cancelled: ReadonlySet<string>) {
  const jobs = new Map(state.placedJobs.map((j) => [j.id, j]));
  const out: Redispatch[] = [];
  for (const task of state.tasks) {
    const job = jobs.get(task.jobId);
    if (task.state !== 'PLACED' || !job || skip.has(task.instanceId) || cancelled.has(job.id)) continue;
    if (job.attempts !== task.attempt + 1) continue;
    out.push({ task, runTask: runTaskFor(job, task) });
  }
  return out;
}

export function decideHousekeeping(state: CycleState, config: CycleConfig): Housekeeping {
  const retirements = reconcile(state, config);
  const reconciled = new Set(retirements.map((r) => r.instanceId));
  const busy = new Set(state.tasks.map((t) => t.instanceId));
  const lagMs = reportLagMs(state.instances, state.now, config);
  for (const inst of state.instances) {
    if (reconciled.has(inst.id)) continue;
    const why = silence(inst, state.now, config, lagMs) ?? rebalanced(inst, busy.has(inst.id), state.now);
    if (why)
      retirements.push({
        instanceId: inst.id,
        version: inst.version,
        queueUrl: inst.queueUrl,
        terminate: true,
        reason: why,
      });
  }
  const retired = new Set(retirements.map((r) => r.instanceId));
  const cancelled = new Set(state.cancelRequested.map((j) => j.id));
  const cancellations = state.cancelRequested.map((job) => ({
    job,
    attempt: job.attempts - 1,
    tasks: state.tasks.filter((t) => t.jobId === job.id),
  }));
  return {
    ...adopt(state),
    reportLagMs: lagMs,
    retirements,
    requeues: requeuesFor(retirements, state.tasks, cancelled),
    expirations: state.pending.flatMap((j) => expire(j, state.now) ?? []),
    cancellations,
    redispatches: redispatchesFor(state, retired, cancelled),
  };
}

/** What the planner sees once housekeeping is applied. */
export interface PlanningView {
  /** Instances that may take work: RUNNING, or PENDING (booting), adopted ones included. */
  readonly instances: readonly Instance[];
  /** Active tasks on those instances. */
  readonly tasks: readonly TaskRecord[];
  /** Pending jobs to plan, oldest first. */
  readonly jobs: readonly Job[];
  /** Pending jobs left out of planning, with the reason. */
  readonly skipped: readonly { readonly jobId: string; readonly reason: string }[];
}

export function planningView(state: CycleState, hk: Housekeeping): PlanningView {
  const retired = new Set(hk.retirements.map((r) => r.instanceId));
  const instances = [...state.instances, ...hk.adoptions].filter(
    (i) => !retired.has(i.id) && (i.state === 'RUNNING' || i.state === 'PENDING'),
  );
  const live = new Set(instances.map((i) => i.id));
  const expired = new Set(hk.expirations.map((e) => e.job.id));
  // Every task kind is planned: commands run to their end, model and router tasks until cancelled.
  const jobs = state.pending.filter((j) => !expired.has(j.id));
  return { instances, tasks: state.tasks.filter((t) => live.has(t.instanceId)), jobs, skipped: [] };
}
