/**
 * Step 2 of a schedule cycle: read everything the decision needs, once, before anything is written.
 * The decision is then a pure function of this snapshot.
 */
import type { Instance } from '../model/instance.ts';
import type { Job } from '../model/job.ts';
import type { JobStatus } from '../model/job-state.ts';
import type { CloudInstance, FleetProvider, InstanceStore, JobStore, TaskStore } from '../ports.ts';
import type { TaskRecord } from './task-record.ts';

export interface CycleState {
  readonly now: number;
  /** Jobs waiting for a placement, oldest first. */
  readonly pending: readonly Job[];
  /** The fleet as the store has it (every state but TERMINATED). */
  readonly instances: readonly Instance[];
  /** Tasks that hold resources (PLACED, DISPATCHED, RUNNING). */
  readonly tasks: readonly TaskRecord[];
  /** The fleet as the cloud has it. */
  readonly cloud: readonly CloudInstance[];
  /** PLACED, LAUNCHING or RUNNING jobs a user asked to cancel. */
  readonly cancelRequested: readonly Job[];
  /** Stored records of cloud instances missing from `instances` (already TERMINATED in the store). */
  readonly untrackedRecords: readonly Instance[];
  /** Jobs of tasks still PLACED: committed by an earlier cycle that stopped before dispatching them. */
  readonly placedJobs: readonly Job[];
}

const PAGE = 500;

/** Every job in `status`, following cursors to the last page. */
export async function listAll(jobs: JobStore, status: JobStatus): Promise<Job[]> {
  const out: Job[] = [];
  let cursor: string | undefined;
  do {
    const page = await jobs.list({ status, limit: PAGE, cursor });
    out.push(...page.jobs);
    cursor = page.cursor;
  } while (cursor);
  return out;
}

export interface LoadDeps {
  readonly jobs: JobStore;
  readonly tasks: TaskStore;
  readonly instances: InstanceStore;
  readonly fleet: FleetProvider;
}

export async function loadCycleState(deps: LoadDeps, now: number): Promise<CycleState> {
  const [pending, instances, tasks, cloud, placed, launching, running] = await Promise.all([
    listAll(deps.jobs, 'PENDING'),
    deps.instances.listInstances(),
    deps.tasks.activeTasks(),
    deps.fleet.list(),
    listAll(deps.jobs, 'PLACED'),
    listAll(deps.jobs, 'LAUNCHING'),
    listAll(deps.jobs, 'RUNNING'),
  ]);
  const placedNow = [...placed, ...launching, ...running];
  const known = new Set(instances.map((i) => i.id));
  const untracked = cloud.filter((c) => !known.has(c.id));
  const records = await Promise.all(untracked.map((c) => deps.instances.getInstance(c.id)));
  const byId = new Map(placedNow.map((j) => [j.id, j]));
  const placedJobIds = new Set(tasks.filter((t) => t.state === 'PLACED').map((t) => t.jobId));
  const placedJobs = await Promise.all(
    [...placedJobIds].map(async (id) => byId.get(id) ?? (await deps.jobs.get(id))),
  );
  return {
    now,
    pending: [...pending].sort((a, b) => a.submittedAt - b.submittedAt || a.id.localeCompare(b.id)),
    instances,
    tasks,
    cloud,
    cancelRequested: placedNow.filter((j) => j.cancelRequestedAt !== undefined),
    untrackedRecords: records.filter((r): r is Instance => r !== undefined),
    placedJobs: placedJobs.filter((j): j is Job => j !== undefined),
  };
}
