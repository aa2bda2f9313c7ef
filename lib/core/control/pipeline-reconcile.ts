import { isHeadroomSlot, servingCount } from '../inference/headroom.ts';
import { replicasFor } from '../inference/tuner.ts';
import { findInstanceType } from '../model/catalog.ts';
import type { Job, JobSpec } from '../model/job.ts';
import { isTerminal } from '../model/job-state.ts';
import type { PipelineRecord, ServingPlan } from '../model/pipeline-serving.ts';
import type { Clock, JobStore, Logger } from '../ports.ts';
import { own } from './own.ts';
import {
  configTag,
  isPipelineJob,
  LABEL,
  replicaJobId,
  replicaJobSpec,
  routerJobId,
  routerJobSpec,
} from './pipeline-jobs.ts';

/**
 * Reconcile: make a pipeline's running jobs match what it wants.
 *
 * For a SERVING pipeline, each stage wants servingCount('absorb', target, planned, headroom) replicas of
 * its planned configuration (headroom.ts): target + headroom while the tuner's target is at or below the
 * planned count, max(target, planned + headroom) above it, so a scale-up is served by the warm replicas
 * before any instance is launched. The pipeline wants exactly one router. Headroom covers the time new EC2
 * capacity takes to boot; the router dispatches to it like any other replica. The plan stores it
 * (ServingPlan.headroom, sized by withSurgeHeadroom: the replicas the estimator adds for a surge to
 * HEADROOM_SURGE_FACTOR x the sample's rate over one boot). A plan without it (its surge beyond the
 * planner's cap) keeps, with B the stage type's boot latency and r_B the sample
 * envelope's rate at the window nearest B (at least the planning rate),
 * H = replicasFor(r_B, s, μ, ρ) − plannedReplicas warm replicas, never below 0: what the tuner would ask
 * for at the burst rate the sample shows over one boot. The tuner sizes for what it sees; headroom is
 * there for the burst it cannot wait for.
 *
 * With the spec's spotHeadroom, slots planned..planned+headroom-1 of a stage (its warm headroom) may run on
 * spot capacity; the placement engine buys spot for them where it is cheaper, and a spot interruption
 * requeues them like any other task.
 *
 * Replicas of another configuration (after a re-plan) are retired once the new configuration's replicas
 * run (make before break); those of a stage no longer in the plan at once. A surplus is cancelled highest
 * slot first (newest first within a slot) through the job store's cancel path, so the stage keeps slots
 * 0..n-1: a replaced planned slot outlives the warm headroom slots above it, which with spotHeadroom are
 * the ones allowed on spot. Missing replicas get job ids
 * from their stage, configuration, slot and incarnation, so a retried or concurrent reconcile creates the
 * same jobs, never more. STOPPED and REFUSED pipelines have every job cancelled.
 */
export interface ReconcileDeps {
  readonly jobs: JobStore;
  readonly clock: Clock;
  readonly log?: Logger;
}

export interface ReconcileResult {
  readonly submitted: readonly string[];
  readonly cancelled: readonly string[];
}

/**
 * In lifecycle order (PENDING -> LAUNCHING -> PLACED -> RUNNING): the statuses are listed one after the
 * other, so a job that moves on between two queries is still found by the later one.
 */
const ACTIVE_STATUSES = ['PENDING', 'LAUNCHING', 'PLACED', 'RUNNING'] as const;

/** `live`: the pipeline's live jobs when the caller has just read them (one scan for many pipelines). */
export async function reconcilePipeline(
  record: PipelineRecord,
  deps: ReconcileDeps,
  live?: readonly Job[],
): Promise<ReconcileResult> {
  const jobs = live ?? (await activePipelineJobs(record.pipelineId, deps.jobs));
  const submitted: string[] = [];
  const cancelled: string[] = [];
  const cancel = async (list: readonly Job[]) => {
    for (const job of list) {
      await deps.jobs.requestCancel(job.id, deps.clock.now());
      cancelled.push(job.id);
    }
  };
  if (record.status === 'STOPPED' || record.status === 'REFUSED') {
    await cancel(jobs);
    return { submitted, cancelled };
  }
  const plan = record.plan;
  if (record.status !== 'SERVING' || !plan) return { submitted, cancelled };

  const replicas = jobs.filter((j) => j.spec.labels[LABEL.role] === 'replica');
  const headroom = warmHeadroom(plan);
  for (const stage of record.spec.stages) {
    const stagePlan = own(plan.config, stage.id);
    if (!stagePlan) continue;
    const mine = replicas.filter((j) => j.spec.labels[LABEL.stage] === stage.id);
    const current = mine.filter((j) => j.spec.labels[LABEL.config] === configTag(stagePlan));
    const target = own(record.targets, stage.id) ?? stagePlan.replicas;
    const warm = own(headroom, stage.id) ?? 0;
    const desired = servingCount('absorb', target, stagePlan.replicas, warm);
    // Make before break: replicas of the old configuration serve until the new ones run.
    const running = current.filter((j) => j.status === 'RUNNING').length;
    if (running >= desired) await cancel(mine.filter((j) => !current.includes(j)));
    if (current.length > desired) {
      await cancel(highestSlotFirst(current).slice(0, current.length - desired));
      continue;
    }
    const used = new Set(current.map((j) => Number(j.spec.labels[LABEL.slot])));
    for (let slot = 0, missing = desired - current.length; missing > 0; slot++) {
      if (used.has(slot)) continue;
      const spot = record.spec.spotHeadroom === true && isHeadroomSlot(slot, stagePlan.replicas, warm);
      const spec = replicaJobSpec(record.pipelineId, record.spec.owner, stage, stagePlan, slot, spot);
      const id = await createIncarnation(
        (inc) => replicaJobId(record.pipelineId, stage.id, stagePlan, slot, inc),
        spec,
        deps,
      );
      if (id) submitted.push(id);
      missing--;
    }
  }
  const stages = new Set(record.spec.stages.map((s) => s.id));
  await cancel(replicas.filter((j) => !stages.has(j.spec.labels[LABEL.stage] ?? '')));

  const routers = newestFirst(jobs.filter((j) => j.spec.labels[LABEL.role] === 'router'));
  // Keep the router clients already reach (the oldest running one), else the oldest.
  const keep = [...routers].reverse().find((j) => j.status === 'RUNNING') ?? routers.at(-1);
  if (routers.length > 1) await cancel(routers.filter((j) => j !== keep));
  if (routers.length === 0) {
    const spec = routerJobSpec(record.pipelineId, record.spec.owner);
    const id = await createIncarnation((inc) => routerJobId(record.pipelineId, inc), spec, deps);
    if (id) submitted.push(id);
  }
  if (submitted.length + cancelled.length > 0)
    deps.log?.info('reconciled a pipeline', { pipelineId: record.pipelineId, submitted, cancelled });
  return { submitted, cancelled };
}

/** Warm replicas per stage beyond the target, by the rule in the file comment (never below 0). */
export function warmHeadroom(plan: ServingPlan): Record<string, number> {
  if (plan.headroom) return { ...plan.headroom };
  const { windowsMs, ratesPerSecond } = plan.basis.sample;
  const out: Record<string, number> = {};
  for (const [stageId, c] of Object.entries(plan.config)) {
    const b = own(plan.basis.stages, stageId);
    const bootMs = (findInstanceType(c.instanceType)?.bootSeconds ?? 60) * 1000;
    let i = 0;
    while (i + 1 < windowsMs.length && (windowsMs[i + 1] as number) <= bootMs) i++;
    const rate = Math.max(ratesPerSecond[i] ?? 0, plan.basis.planningRatePerSecond);
    out[stageId] = b
      ? Math.max(0, replicasFor(rate, b.visitFraction, b.replicaThroughputQps, b.rho) - b.plannedReplicas)
      : 0;
  }
  return out;
}

/**
 * Creates the job under its first free incarnation. Incarnations of a slot are created in order, and only
 * once the one before has ended or been asked to cancel, so the ids that exist are a prefix 0..n-1 and
 * only the last can be live. n is found by doubling then bisecting with reads (O(log n) however often a
 * slot has been replaced); a live last incarnation means another reconcile got there first.
 */
async function createIncarnation(
  idOf: (incarnation: number) => string,
  spec: JobSpec,
  deps: ReconcileDeps,
): Promise<string | undefined> {
  const exists = async (inc: number) => (await deps.jobs.get(idOf(inc))) !== undefined;
  let count = 0;
  if (await exists(0)) {
    // exists(lo) and not exists(hi): double hi, then bisect; the prefix is hi long.
    let lo = 0;
    let hi = 1;
    while (await exists(hi)) {
      lo = hi;
      hi *= 2;
    }
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (await exists(mid)) lo = mid;
      else hi = mid;
    }
    count = hi;
  }
  // Try the last existing incarnation first: when it is live, nothing is added.
  for (let inc = Math.max(0, count - 1); ; inc++) {
    const now = deps.clock.now();
    const res = await deps.jobs.create({
      id: idOf(inc),
      spec,
      status: 'PENDING',
      version: 0,
      submittedAt: now,
      updatedAt: now,
      attempts: 0,
    });
    if (res.created) return res.job.id;
    if (!isTerminal(res.job.status) && res.job.cancelRequestedAt === undefined) return undefined;
  }
}

/** Surplus replicas in the order they go: highest slot first, then newest. */
function highestSlotFirst(jobs: readonly Job[]): Job[] {
  const slot = (j: Job) => Number(j.spec.labels[LABEL.slot] ?? 0);
  return newestFirst(jobs).sort((a, b) => slot(b) - slot(a));
}

function newestFirst(jobs: readonly Job[]): Job[] {
  return [...jobs].sort((a, b) => b.submittedAt - a.submittedAt || b.id.localeCompare(a.id));
}

/** Live jobs of a pipeline (any role), leaving out those already asked to cancel. */
export async function activePipelineJobs(pipelineId: string, jobs: Pick<JobStore, 'list'>): Promise<Job[]> {
  return (await activeJobsByPipeline(jobs)).get(pipelineId) ?? [];
}

/** Every pipeline's live jobs, from one pass over the active statuses. */
export async function activeJobsByPipeline(jobs: Pick<JobStore, 'list'>): Promise<Map<string, Job[]>> {
  const out = new Map<string, Job[]>();
  for (const status of ACTIVE_STATUSES) {
    let cursor: string | undefined;
    do {
      const page = await jobs.list({ status, limit: 500, cursor });
      for (const job of page.jobs) {
        const pipelineId = job.spec.labels[LABEL.pipeline];
        if (!pipelineId || job.cancelRequestedAt !== undefined || !isPipelineJob(job)) continue;
        out.set(pipelineId, [...(out.get(pipelineId) ?? []), job]);
      }
      cursor = page.cursor;
    } while (cursor);
  }
  return out;
}
