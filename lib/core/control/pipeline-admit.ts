import type { FieldIssue } from '../errors.ts';
import { type StageProfile, serviceTimeMs } from '../inference/profiles.ts';
import { compileTopology, longestPath } from '../inference/topology.ts';
import { findInstanceType } from '../model/catalog.ts';
import type { PipelineSpec } from '../model/pipeline.ts';
import type { PipelineRecord } from '../model/pipeline-serving.ts';
import type { Clock, CreatePipelineResult, JobStore, Logger, ModelCatalog, PipelineStore } from '../ports.ts';
import type { SubmitPipeline } from '../protocol/pipeline.ts';
import { allowedTypes, modelIdFor, profileJobId, profileJobSpec, profilePairs } from './pipeline-jobs.ts';

/**
 * Admission of a pipeline. Checks that the schema cannot make (the schema already refuses cycles and
 * unknown stage names): every model exists, every named instance type is allowed, and, when every
 * profile the planner would use is already stored, that the SLO is not below the planner's floor (the
 * batch-1 latency of the longest path on each stage's fastest hardware). A refusal is recorded under the
 * pipeline id with every field issue. An accepted pipeline is stored PROFILING with one profiling job per
 * (model, type) pair that has no profile, or PLANNING when every profile is in.
 */
export interface PipelineAdmitDeps {
  readonly pipelines: PipelineStore;
  readonly jobs: JobStore;
  readonly models: ModelCatalog;
  readonly clock: Clock;
  /** The stack's allowed instance types; empty allows every catalog type. */
  readonly allowedTypes: readonly string[];
  readonly log?: Logger;
}

export type PipelineAdmitOutcome =
  | {
      readonly outcome: 'admitted' | 'duplicate';
      readonly record: PipelineRecord;
      readonly profileJobs: number;
    }
  | { readonly outcome: 'refused'; readonly reason: string; readonly issues: readonly FieldIssue[] };

export async function admitPipeline(
  submission: SubmitPipeline,
  deps: PipelineAdmitDeps,
): Promise<PipelineAdmitOutcome> {
  const existing = await deps.pipelines.get(submission.pipelineId);
  if (existing) return { outcome: 'duplicate', record: existing, profileJobs: 0 };
  const issues = [
    ...typeIssues(submission.spec, deps.allowedTypes),
    ...(await modelIssues(submission.spec, deps.models)),
  ];
  const pairs = issues.length === 0 ? profilePairs(submission.spec.stages, deps.allowedTypes) : [];
  const known = await knownProfiles(pairs, deps.pipelines);
  if (issues.length === 0) issues.push(...sloIssues(submission.spec, deps.allowedTypes, known));
  if (issues.length > 0) return refuse(submission.pipelineId, issues, deps);

  const missing = pairs.filter(
    (p) => !known.some((k) => k.modelId === p.modelId && k.instanceType === p.instanceType),
  );
  const now = deps.clock.now();
  const record: PipelineRecord = {
    pipelineId: submission.pipelineId,
    spec: submission.spec,
    status: missing.length === 0 ? 'PLANNING' : 'PROFILING',
    reason:
      missing.length === 0
        ? 'every profile is stored; waiting for the planner'
        : `profiling ${missing.length} (model, instance type) pairs`,
    createdAt: now,
    updatedAt: now,
    version: 0,
    targets: {},
    targetsAt: 0,
    ...(submission.idempotencyKey ? { idempotencyKey: submission.idempotencyKey } : {}),
  };
  const result: CreatePipelineResult = await deps.pipelines.create(record, submission.idempotencyKey);
  if (!result.created) {
    if (result.record.pipelineId !== submission.pipelineId)
      await refuseReusedKey(submission, result.record.pipelineId, deps);
    return { outcome: 'duplicate', record: result.record, profileJobs: 0 };
  }
  // Jobs after the record: a crash in between leaves a PROFILING pipeline whose jobs a resend or the
  // scale tick (ensureProfilingJobs) submits, since their ids are fixed by the pair.
  const profileJobs = await ensureProfilingJobs(result.record, deps);
  deps.log?.info('admitted a pipeline', {
    pipelineId: record.pipelineId,
    status: record.status,
    profileJobs,
  });
  return { outcome: 'admitted', record: result.record, profileJobs };
}

/** Submits the profiling job of every pair without a profile; returns how many were newly created. */
export async function ensureProfilingJobs(
  record: PipelineRecord,
  deps: Pick<PipelineAdmitDeps, 'pipelines' | 'jobs' | 'clock' | 'allowedTypes'>,
): Promise<number> {
  const pairs = profilePairs(record.spec.stages, deps.allowedTypes);
  const known = await knownProfiles(pairs, deps.pipelines);
  let created = 0;
  for (const pair of pairs) {
    if (known.some((k) => k.modelId === pair.modelId && k.instanceType === pair.instanceType)) continue;
    const now = deps.clock.now();
    const res = await deps.jobs.create({
      id: profileJobId(record.pipelineId, pair),
      spec: profileJobSpec(record.pipelineId, record.spec.owner, pair),
      status: 'PENDING',
      version: 0,
      submittedAt: now,
      updatedAt: now,
      attempts: 0,
    });
    if (res.created) created++;
  }
  return created;
}

/**
 * The idempotency key was first used by another pipeline, so this id is never created: say so under this
 * id, so that whoever waits for it learns which pipeline holds the key instead of waiting for nothing.
 */
async function refuseReusedKey(submission: SubmitPipeline, owner: string, deps: PipelineAdmitDeps) {
  const message = `idempotency key ${submission.idempotencyKey} already used by pipeline ${owner}`;
  await deps.pipelines.recordRejection({
    pipelineId: submission.pipelineId,
    reason: message,
    issues: [{ path: 'idempotencyKey', message }],
    at: deps.clock.now(),
  });
  deps.log?.info('a pipeline submission reused an idempotency key', {
    pipelineId: submission.pipelineId,
    owner,
  });
}

async function refuse(
  pipelineId: string,
  issues: FieldIssue[],
  deps: PipelineAdmitDeps,
): Promise<PipelineAdmitOutcome> {
  const reason = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  await deps.pipelines.recordRejection({ pipelineId, reason, issues, at: deps.clock.now() });
  deps.log?.warn('refused a pipeline', { pipelineId, reason });
  return { outcome: 'refused', reason, issues };
}

/** Every instance type a stage names must be in the catalog and allowed by the stack. */
export function typeIssues(spec: PipelineSpec, allowed: readonly string[]): FieldIssue[] {
  const usable = new Set(allowedTypes(allowed).map((t) => t.name));
  const list = [...usable].slice(0, 8).join(', ') + (usable.size > 8 ? ', ...' : '');
  const issues: FieldIssue[] = [];
  spec.stages.forEach((stage, i) => {
    stage.instanceTypes?.forEach((type, j) => {
      const path = `spec.stages.${i}.instanceTypes.${j}`;
      if (!findInstanceType(type))
        issues.push({ path, message: `unknown instance type ${type}; allowed types are ${list}` });
      else if (!usable.has(type))
        issues.push({
          path,
          message: `instance type ${type} is not allowed by the stack; allowed are ${list}`,
        });
    });
  });
  if (usable.size === 0)
    issues.push({ path: 'spec.stages', message: 'the stack allows no instance type a stage can run on' });
  return issues;
}

/** Every stage's model must exist (each URI checked once). */
export async function modelIssues(spec: PipelineSpec, models: ModelCatalog): Promise<FieldIssue[]> {
  const seen = new Map<string, boolean>();
  const issues: FieldIssue[] = [];
  for (const [i, stage] of spec.stages.entries()) {
    const uri = stage.model.uri;
    if (!seen.has(uri)) seen.set(uri, await models.exists(uri));
    if (!seen.get(uri))
      issues.push({
        path: `spec.stages.${i}.model.uri`,
        message: `model ${uri} does not exist or cannot be read; give an s3://bucket/key object or an absolute path that exists`,
      });
  }
  return issues;
}

/**
 * The planner's refusal rule, applied at admission when every profile it would use is known: no
 * configuration can beat each stage's fastest batch-1 latency, so an SLO below their sum along the longest
 * path is impossible.
 */
export function sloIssues(
  spec: PipelineSpec,
  allowed: readonly string[],
  known: readonly StageProfile[],
): FieldIssue[] {
  const pairs = profilePairs(spec.stages, allowed);
  if (pairs.some((p) => !known.some((k) => k.modelId === p.modelId && k.instanceType === p.instanceType)))
    return [];
  const floor = new Map<string, number>();
  for (const stage of spec.stages) {
    const modelId = modelIdFor(stage.model.uri);
    const types =
      stage.instanceTypes ?? pairs.filter((p) => p.modelId === modelId).map((p) => p.instanceType);
    const fastest = Math.min(
      ...known
        .filter((k) => k.modelId === modelId && types.includes(k.instanceType))
        .map((k) => serviceTimeMs(k, 1)),
    );
    floor.set(stage.id, fastest);
  }
  const topo = compileTopology(spec);
  const floorMs = longestPath(topo, (s) => floor.get(topo.ids[s] as string) ?? 0);
  if (!(floorMs > spec.sloP99Ms)) return [];
  return [
    {
      path: 'spec.sloP99Ms',
      message: `slo of ${spec.sloP99Ms} ms is below the ${Math.round(floorMs * 100) / 100} ms batch-1 latency of the longest path on the fastest profiled hardware`,
    },
  ];
}

async function knownProfiles(
  pairs: readonly { modelId: string }[],
  store: Pick<PipelineStore, 'profilesOf'>,
): Promise<StageProfile[]> {
  const models = [...new Set(pairs.map((p) => p.modelId))];
  return (await Promise.all(models.map((m) => store.profilesOf(m)))).flat();
}

/**
 * A pipeline submission that could not be admitted at all (bad fields, or refused above): remember why
 * under its pipeline id when the body names one, so that `getPipeline` can say. Never shadows a pipeline
 * admitted under the same id. Returns false when nothing was recorded.
 */
export async function rejectPipelineSubmission(
  body: string,
  reason: string,
  issues: readonly FieldIssue[],
  deps: { readonly pipelines: PipelineStore; readonly clock: Clock },
): Promise<boolean> {
  const pipelineId = pipelineIdOf(body);
  if (!pipelineId || (await deps.pipelines.get(pipelineId))) return false;
  await deps.pipelines.recordRejection({ pipelineId, reason, issues, at: deps.clock.now() });
  return true;
}

const PIPELINE_ID = /^[a-z][a-z0-9-]{0,62}$/;

/** The `pipelineId` of a SubmitPipeline body, if it is one with a well-formed id. */
export function pipelineIdOf(body: string): string | undefined {
  try {
    const value: unknown = JSON.parse(body);
    if (typeof value !== 'object' || value === null) return undefined;
    const { kind, pipelineId } = value as { kind?: unknown; pipelineId?: unknown };
    return kind === 'SubmitPipeline' && typeof pipelineId === 'string' && PIPELINE_ID.test(pipelineId)
      ? pipelineId
      : undefined;
  } catch {
    return undefined;
  }
}
