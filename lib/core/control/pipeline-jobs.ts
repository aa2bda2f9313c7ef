import { replicaRequirementOf, replicaThreadsOf } from '../inference/replica.ts';
import { findInstanceType, INSTANCE_CATALOG } from '../model/catalog.ts';
import type { InstanceType } from '../model/instance-type.ts';
import type { Job, JobSpec } from '../model/job.ts';
import { JobSpecSchema } from '../model/job.ts';
import type { Stage } from '../model/pipeline.ts';
import type { StagePlan } from '../model/pipeline-serving.ts';

/**
 * The jobs a pipeline runs as: profiling jobs (one per model and instance type without a profile),
 * replica jobs (one per stage replica) and one router job. Their ids are derived from what they are, so a
 * retried admit or reconcile names the same jobs and the job store's idempotent create never doubles one.
 * Labels say which pipeline, role, stage, model and type a job serves; ingest and reconcile read them.
 */

export const LABEL = Object.freeze({
  pipeline: 'tetrafleet/pipeline',
  role: 'tetrafleet/role',
  stage: 'tetrafleet/stage',
  model: 'tetrafleet/model',
  instanceType: 'tetrafleet/instance-type',
  /** Replica jobs: the stage configuration (type and batch) the replica was started for. */
  config: 'tetrafleet/config',
  /** Replica jobs: the replica slot (0, 1, ...) within its stage. */
  slot: 'tetrafleet/slot',
});

export type PipelineJobRole = 'profile' | 'replica' | 'router';

/** Replica and router jobs ask for an hour; the policy renews serving work while it runs. */
export const SERVING_DURATION_SECONDS = 3600;
/** A profiling run loads the model and times every batch size: generous, so a slow CPU is not cut off. */
export const PROFILE_DURATION_SECONDS = 900;
/** What the router reserves: it only queues and forwards. */
export const ROUTER_REQUIREMENT = Object.freeze({ vcpu: 1, memoryMiB: 1024, gpus: 0, spot: false });
/** Most instance types profiled for a stage that does not name its own. */
export const DEFAULT_PROFILE_TYPES = 4;

const MAX_JOB_ID = 128;

/**
 * A job id from parts joined by ':'. Ids stay under the job store's 128 characters: a long one keeps its
 * start and ends in a hash of the whole, so distinct parts still give distinct ids.
 */
export function pipelineJobId(parts: readonly (string | number)[]): string {
  const id = parts.join(':');
  // A hashed id keeps its first 119 characters, which hold `pl:<pipeline id>:` (isPipelineJob).
  if (id.length <= MAX_JOB_ID) return id;
  return `${id.slice(0, MAX_JOB_ID - 9)}:${hash32(id)}`;
}

/** FNV-1a, 32 bits, as 8 hex digits: a stable short name for a longer string. */
export function hash32(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/**
 * The model id a model URI is profiled under: its file name (lowercase, safe characters) and a hash of
 * the whole URI. Profiles belong to the model, so two pipelines serving one file share them.
 */
export function modelIdFor(uri: string): string {
  const file = uri.split('/').at(-1) ?? 'model';
  const stem = file
    .replace(/\.onnx$/i, '')
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return `${stem || 'model'}-${hash32(uri)}`;
}

/** The stack's allowed types as catalog entries; all usable catalog types when the stack names none. */
export function allowedTypes(allowed: readonly string[]): InstanceType[] {
  if (allowed.length === 0) return INSTANCE_CATALOG.filter((t) => t.inferentiaChips === 0);
  return allowed.flatMap((name) => {
    const t = findInstanceType(name);
    return t ? [t] : [];
  });
}

/**
 * The types a stage is profiled on. A stage that lists `instanceTypes` gets exactly those. Otherwise the
 * default set, at most DEFAULT_PROFILE_TYPES: the two cheapest CPU types and the cheapest single-GPU type
 * of each of the two cheapest GPU models among the allowed types (Inferentia needs its own runtime and is
 * left out). Cheap types first, since the planner's cost minimisation favours them; a GPU type gives the
 * planner a low-latency option for a tight SLO.
 */
export function profilingTypes(stage: Pick<Stage, 'instanceTypes'>, allowed: readonly string[]): string[] {
  if (stage.instanceTypes) return [...new Set(stage.instanceTypes)];
  const pool = allowedTypes(allowed).filter((t) => t.inferentiaChips === 0);
  const byPrice = [...pool].sort(
    (a, b) => a.onDemandPerHour - b.onDemandPerHour || a.name.localeCompare(b.name),
  );
  const cpu = byPrice.filter((t) => t.gpus === 0).slice(0, 2);
  const gpu: InstanceType[] = [];
  for (const t of byPrice) {
    if (t.gpus !== 1 || gpu.some((g) => g.gpuModel === t.gpuModel)) continue;
    if (gpu.length < 2) gpu.push(t);
  }
  return [...cpu, ...gpu].slice(0, DEFAULT_PROFILE_TYPES).map((t) => t.name);
}

/**
 * A GPU type whose profile may come back measured on CPU (no GPU at hand) is derived from a measured CPU
 * profile of the same model, so every model is also profiled on one CPU type: the stage's own CPU type
 * when it has one, else the cheapest allowed CPU type (a basis for derivation, not a planning choice).
 */
export function derivationBasisType(
  types: readonly string[],
  allowed: readonly string[],
): string | undefined {
  const own = types.find((t) => (findInstanceType(t)?.gpus ?? 0) === 0);
  if (own || !types.some((t) => (findInstanceType(t)?.gpus ?? 0) > 0)) return undefined;
  const cpu = allowedTypes(allowed)
    .filter((t) => t.gpus === 0 && t.inferentiaChips === 0)
    .sort((a, b) => a.onDemandPerHour - b.onDemandPerHour)[0];
  return cpu?.name;
}

export interface ProfilePair {
  readonly modelId: string;
  readonly uri: string;
  readonly instanceType: string;
}

/** Every (model, type) pair a pipeline needs a profile for, each once. */
export function profilePairs(stages: readonly Stage[], allowed: readonly string[]): ProfilePair[] {
  const pairs = new Map<string, ProfilePair>();
  for (const stage of stages) {
    const types = profilingTypes(stage, allowed);
    const basis = derivationBasisType(types, allowed);
    const modelId = modelIdFor(stage.model.uri);
    for (const instanceType of basis ? [...types, basis] : types)
      pairs.set(`${modelId}|${instanceType}`, { modelId, uri: stage.model.uri, instanceType });
  }
  return [...pairs.values()];
}

export function profileJobId(
  pipelineId: string,
  pair: Pick<ProfilePair, 'modelId' | 'instanceType'>,
): string {
  return pipelineJobId(['pl', pipelineId, 'profile', pair.modelId, pair.instanceType]);
}

/**
 * A profiling job: a FIFO command pinned to the type, reserving what one replica would and running with
 * a replica's intra-op threads (replicaThreadsOf). The agent exports TETRAFLEET_PROFILE_CLI and
 * TETRAFLEET_INSTANCE_TYPE to tasks; the URI and model id travel as positional arguments ($0, $1) so that
 * no part of them is ever parsed by the shell.
 */
export function profileJobSpec(pipelineId: string, owner: string, pair: ProfilePair): JobSpec {
  const type = requireType(pair.instanceType);
  return JobSpecSchema.parse({
    name: `${pipelineId}-profile`.slice(0, 120),
    owner,
    policy: 'fifo',
    task: {
      kind: 'command',
      command: '/bin/sh',
      args: [
        '-c',
        `$TETRAFLEET_PROFILE_CLI --model "$0" --model-id "$1" --threads ${replicaThreadsOf(type)} --instance-type "$TETRAFLEET_INSTANCE_TYPE"`,
        pair.uri,
        pair.modelId,
      ],
    },
    alternatives: [
      {
        name: pair.instanceType,
        requirement: { ...replicaRequirementOf(type), instanceTypes: [pair.instanceType] },
        durationSeconds: PROFILE_DURATION_SECONDS,
      },
    ],
    maxAttempts: 2,
    labels: {
      [LABEL.pipeline]: pipelineId,
      [LABEL.role]: 'profile',
      [LABEL.model]: pair.modelId,
      [LABEL.instanceType]: pair.instanceType,
    },
  });
}

/** The configuration tag of a stage plan: replicas started for another one are retired. */
export function configTag(plan: Pick<StagePlan, 'instanceType' | 'maxBatch'>): string {
  return `${plan.instanceType}-b${plan.maxBatch}`;
}

export function replicaJobId(
  pipelineId: string,
  stageId: string,
  plan: Pick<StagePlan, 'instanceType' | 'maxBatch'>,
  slot: number,
  incarnation: number,
): string {
  return pipelineJobId(['pl', pipelineId, stageId, configTag(plan), slot, incarnation]);
}

/**
 * One stage replica: SLO-service work serving the stage's model at the planned batch. The router batches,
 * so the server takes what it is sent at once (maxQueueDelayMs 0). It runs on as many intra-op threads
 * as it reserves vCPUs, as its profile was measured (replicaThreadsOf).
 */
export function replicaJobSpec(
  pipelineId: string,
  owner: string,
  stage: Stage,
  plan: StagePlan,
  slot: number,
  /** A warm-headroom slot of a pipeline with spotHeadroom: it may run on spot capacity. */
  spot = false,
): JobSpec {
  const type = requireType(plan.instanceType);
  return JobSpecSchema.parse({
    name: `${pipelineId}-${stage.id}`.slice(0, 120),
    owner,
    policy: 'slo-service',
    task: {
      kind: 'model',
      modelId: modelIdFor(stage.model.uri),
      model: stage.model,
      maxBatch: plan.maxBatch,
      maxQueueDelayMs: 0,
      intraOpThreads: replicaThreadsOf(type),
      pipelineId,
      stageId: stage.id,
    },
    alternatives: [
      {
        name: plan.instanceType,
        requirement: replicaRequirementOf(type, spot),
        durationSeconds: SERVING_DURATION_SECONDS,
      },
    ],
    labels: {
      [LABEL.pipeline]: pipelineId,
      [LABEL.role]: 'replica',
      [LABEL.stage]: stage.id,
      [LABEL.model]: modelIdFor(stage.model.uri),
      [LABEL.instanceType]: plan.instanceType,
      [LABEL.config]: configTag(plan),
      [LABEL.slot]: String(slot),
    },
  });
}

export function routerJobId(pipelineId: string, incarnation: number): string {
  return pipelineJobId(['pl', pipelineId, 'router', incarnation]);
}

export function routerJobSpec(pipelineId: string, owner: string): JobSpec {
  return JobSpecSchema.parse({
    name: `${pipelineId}-router`.slice(0, 120),
    owner,
    policy: 'slo-service',
    task: { kind: 'router', pipelineId },
    alternatives: [
      { name: 'router', requirement: { ...ROUTER_REQUIREMENT }, durationSeconds: SERVING_DURATION_SECONDS },
    ],
    labels: { [LABEL.pipeline]: pipelineId, [LABEL.role]: 'router' },
  });
}

/** The pipeline and role a job belongs to, from its labels; undefined for a job of no pipeline. */
export function pipelineRoleOf(
  job: Pick<Job, 'spec'>,
): { pipelineId: string; role: PipelineJobRole } | undefined {
  const pipelineId = job.spec.labels[LABEL.pipeline];
  const role = job.spec.labels[LABEL.role];
  if (!pipelineId || (role !== 'profile' && role !== 'replica' && role !== 'router')) return undefined;
  return { pipelineId, role };
}

/** The id prefix of every job a pipeline runs as; admission keeps it from user submissions. */
export const PIPELINE_JOB_ID_PREFIX = 'pl:';

/**
 * Whether the job is one the pipeline code created: a pipeline role in its labels and an id under the
 * pipeline's prefix. Admission refuses `tetrafleet/` labels and `pl:` ids from users, so a user's job
 * never passes, and cannot join a pipeline's replicas or be counted among them.
 */
export function isPipelineJob(job: Pick<Job, 'id' | 'spec'>): boolean {
  const role = pipelineRoleOf(job);
  return role !== undefined && job.id.startsWith(`${PIPELINE_JOB_ID_PREFIX}${role.pipelineId}:`);
}

function requireType(name: string): InstanceType {
  const type = findInstanceType(name);
  // Admission checked every type against the catalog, so a miss here is a stored record gone bad.
  if (!type) throw new RangeError(`unknown instance type ${name}`);
  return type;
}
