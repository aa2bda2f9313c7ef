import { ConflictError } from '../errors.ts';
import { deriveForType as deriveFromCatalog } from '../inference/derivation.ts';
import { fromModelProfile, type StageProfile } from '../inference/profiles.ts';
import { findInstanceType } from '../model/catalog.ts';
import type { InstanceType } from '../model/instance-type.ts';
import type { Job } from '../model/job.ts';
import { isTerminal } from '../model/job-state.ts';
import type { PipelineRecord } from '../model/pipeline-serving.ts';
import type { Clock, JobStore, Logger, PipelinePatch, PipelineStore } from '../ports.ts';
import { type ModelProfile, ModelProfileSchema } from '../protocol/inference.ts';
import type { TaskEvent } from '../protocol/tasks.ts';
import { LABEL, type ProfilePair, profileJobId, profilePairs } from './pipeline-jobs.ts';

/**
 * Profiles in, pipeline on. A profiling job prints its ModelProfile on stdout; its `succeeded` event
 * carries the tail, from which the profile is read and stored.
 *
 * Honesty rule: a GPU type profiled with `provider: "cpu"` (no GPU was at hand) measured the host's CPU,
 * not the GPU, so it is never stored as that type's measured profile. Once the job has succeeded and a
 * measured profile of the same model is stored (on another GPU type by preference, else on a CPU type),
 * the GPU type's profile is derived from it (`deriveForType`) and stored marked derived, with its
 * derivation.
 */

/** Estimates a profile on `target` from a measured one; the result is marked derived. */
export type DeriveForType = (measured: StageProfile, target: InstanceType) => StageProfile;

export interface PipelineProfileDeps {
  readonly pipelines: PipelineStore;
  readonly jobs: Pick<JobStore, 'get'>;
  readonly clock: Clock;
  readonly allowedTypes: readonly string[];
  /** @default deriveForType of lib/core/inference/derivation.ts (stated, conservative factors) */
  readonly deriveForType?: DeriveForType;
  readonly log?: Logger;
}

/** The ModelProfile printed last on stdout (pretty-printed or on one line), if any. */
export function profileFromOutput(stdout: string): ModelProfile | undefined {
  const text = stdout.trim();
  const starts: number[] = [];
  if (text.startsWith('{')) starts.push(0);
  for (let i = text.indexOf('\n{'); i >= 0; i = text.indexOf('\n{', i + 1)) starts.push(i + 1);
  for (const start of starts.reverse()) {
    const candidate = text.slice(start);
    const end = candidate.lastIndexOf('}');
    if (end < 0) continue;
    try {
      const parsed = ModelProfileSchema.safeParse(JSON.parse(candidate.slice(0, end + 1)));
      if (parsed.success) return parsed.data;
    } catch {
      // Not JSON from here on: try an earlier start.
    }
  }
  return undefined;
}

/** What to store for a profiling report, by the honesty rule: the measured profile, or nothing yet. */
export function measuredProfileOf(
  report: ModelProfile,
  pair: Omit<ProfilePair, 'uri'>,
): StageProfile | undefined {
  const type = findInstanceType(pair.instanceType);
  if (type && type.gpus > 0 && report.provider === 'cpu') return undefined;
  // The job's labels name the pair; the report's own fields may say `unknown` when the agent had no type.
  return fromModelProfile({ ...report, modelId: pair.modelId, instanceType: pair.instanceType });
}

/**
 * A profiling job reported: store its profile on success, refuse the pipeline when the job ended without
 * one, then move the pipeline on if every profile is in.
 */
export async function applyProfileEvent(
  job: Job,
  event: TaskEvent,
  deps: PipelineProfileDeps,
): Promise<'stored' | 'deferred' | 'refused' | 'ignored'> {
  const pipelineId = job.spec.labels[LABEL.pipeline];
  const modelId = job.spec.labels[LABEL.model];
  const instanceType = job.spec.labels[LABEL.instanceType];
  if (!pipelineId || !modelId || !instanceType || event.event === 'started') return 'ignored';
  if (event.event === 'succeeded') {
    const report = profileFromOutput(event.output?.stdout ?? '');
    if (!report) {
      await refuseProfiling(
        pipelineId,
        `profiling ${modelId} on ${instanceType} printed no ModelProfile (job ${job.id})`,
        deps,
      );
      return 'refused';
    }
    const profile = measuredProfileOf(report, { modelId, instanceType });
    if (profile) await deps.pipelines.putProfile(profile, deps.clock.now());
    else
      deps.log?.info('a GPU type was profiled on CPU; its profile will be derived', {
        modelId,
        instanceType,
      });
    await advanceProfiling(pipelineId, deps);
    return profile ? 'stored' : 'deferred';
  }
  // A failure may be retried (handed back, requeued); only a job that ended for good refuses.
  const now = await deps.jobs.get(job.id);
  if (!now || !isTerminal(now.status) || now.status === 'SUCCEEDED') return 'ignored';
  const why = now.error?.message ?? now.status.toLowerCase();
  await refuseProfiling(
    pipelineId,
    `profiling ${modelId} on ${instanceType} ended ${now.status}: ${why} (job ${job.id})`,
    deps,
  );
  return 'refused';
}

export type ProfilingProgress =
  | { readonly state: 'complete' }
  | { readonly state: 'waiting'; readonly missing: readonly ProfilePair[] }
  | { readonly state: 'failed'; readonly reason: string };

/**
 * Where a PROFILING pipeline stands: every pair has a profile (deriving the ones that can be derived
 * now), some are still running, or one cannot be had.
 */
export async function profilingProgress(
  record: PipelineRecord,
  deps: PipelineProfileDeps,
): Promise<ProfilingProgress> {
  const pairs = profilePairs(record.spec.stages, deps.allowedTypes);
  const missing: ProfilePair[] = [];
  for (const pair of pairs) {
    const profiles = await deps.pipelines.profilesOf(pair.modelId);
    if (profiles.some((p) => p.instanceType === pair.instanceType)) continue;
    const job = await deps.jobs.get(profileJobId(record.pipelineId, pair));
    if (job && isTerminal(job.status) && job.status !== 'SUCCEEDED')
      return {
        state: 'failed',
        reason: `profiling ${pair.modelId} on ${pair.instanceType} ended ${job.status}`,
      };
    if (job?.status === 'SUCCEEDED') {
      const derived = deriveFor(pair, profiles, deps);
      if (typeof derived === 'string') return { state: 'failed', reason: derived };
      if (derived) {
        await deps.pipelines.putProfile(derived, deps.clock.now());
        continue;
      }
    }
    missing.push(pair);
  }
  return missing.length === 0 ? { state: 'complete' } : { state: 'waiting', missing };
}

/**
 * A derived profile for a GPU pair measured only on CPU; undefined while its basis is still being
 * profiled; a reason when it cannot be derived. The basis is a profile of the same model measured on
 * another GPU type where one is stored (its batch curve is a GPU's), else one measured on a CPU type.
 */
function deriveFor(
  pair: ProfilePair,
  profiles: readonly StageProfile[],
  deps: PipelineProfileDeps,
): StageProfile | undefined | string {
  const target = findInstanceType(pair.instanceType);
  if (!target) return `unknown instance type ${pair.instanceType}`;
  const measured = (gpu: boolean) =>
    profiles
      .filter(
        (p) =>
          p.source.kind === 'measured' &&
          (findInstanceType(p.instanceType)?.gpus ?? 0) > 0 === gpu &&
          p.instanceType !== pair.instanceType,
      )
      .sort((a, b) => a.instanceType.localeCompare(b.instanceType))[0];
  const basis = (target.gpus > 0 ? measured(true) : undefined) ?? measured(false);
  if (!basis) return undefined;
  try {
    return (deps.deriveForType ?? deriveFromCatalog)(basis, target);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return `${pair.instanceType} could only be profiled on CPU, and deriving it from ${basis.instanceType} failed: ${why}`;
  }
}

/** PROFILING -> PLANNING once every profile is in; -> REFUSED when one cannot be had. */
export async function advanceProfiling(
  pipelineId: string,
  deps: PipelineProfileDeps,
): Promise<PipelineRecord | undefined> {
  const record = await deps.pipelines.get(pipelineId);
  if (record?.status !== 'PROFILING') return record;
  const progress = await profilingProgress(record, deps);
  if (progress.state === 'waiting') {
    const reason = `profiling ${progress.missing.length} (model, instance type) pairs`;
    return reason === record.reason ? record : updateIf(pipelineId, 'PROFILING', { reason }, deps);
  }
  const patch: PipelinePatch =
    progress.state === 'complete'
      ? { status: 'PLANNING', reason: 'every profile is stored; waiting for the planner' }
      : { status: 'REFUSED', reason: progress.reason };
  return updateIf(pipelineId, 'PROFILING', patch, deps);
}

async function refuseProfiling(pipelineId: string, reason: string, deps: PipelineProfileDeps): Promise<void> {
  await updateIf(pipelineId, 'PROFILING', { status: 'REFUSED', reason }, deps);
  deps.log?.warn('refused a pipeline: profiling failed', { pipelineId, reason });
}

/**
 * Applies `patch` while the pipeline is in `from`, re-reading on a lost race; returns the record as it
 * ends up (unchanged when it has left `from`).
 */
export async function updateIf(
  pipelineId: string,
  from: PipelineRecord['status'],
  patch: PipelinePatch,
  deps: Pick<PipelineProfileDeps, 'pipelines' | 'clock'>,
): Promise<PipelineRecord | undefined> {
  for (let attempt = 0; ; attempt++) {
    const record = await deps.pipelines.get(pipelineId);
    if (!record || record.status !== from) return record;
    try {
      return await deps.pipelines.update(pipelineId, record.version, patch, deps.clock.now());
    } catch (error) {
      if (!(error instanceof ConflictError) || attempt >= 4) throw error;
    }
  }
}

/**
 * A ModelProfile sent on the reports queue (the agent's profile mode, outside a profiling job): stored by
 * the honesty rule when its type is in the catalog, then every PROFILING pipeline is moved on, since any
 * of them may have waited for it. Returns whether it was stored.
 */
export async function applyModelProfile(report: ModelProfile, deps: PipelineProfileDeps): Promise<boolean> {
  if (!findInstanceType(report.instanceType)) return false;
  const profile = measuredProfileOf(report, { modelId: report.modelId, instanceType: report.instanceType });
  if (!profile) return false;
  await deps.pipelines.putProfile(profile, deps.clock.now());
  for (const record of await deps.pipelines.list())
    if (record.status === 'PROFILING') await advanceProfiling(record.pipelineId, deps);
  return true;
}
