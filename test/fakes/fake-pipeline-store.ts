/**
 * In-memory PipelineStore and ModelCatalog, faithful to the DynamoDB adapter where it matters: create is
 * idempotent on the id and the idempotency key, update checks the version it is given and throws
 * ConflictError, endpoint puts and deletes are idempotent, reports come back newest first, a refusal is
 * not listed once its id has a record. Records its calls and can be told to fail next.
 */

import type { z } from 'zod';
import { ConflictError, NotFoundError } from '../../lib/core/errors.ts';
import { parseProfile, type StageProfile } from '../../lib/core/inference/profiles.ts';
import { type PipelineSpec, PipelineSpecSchema } from '../../lib/core/model/pipeline.ts';
import {
  type PipelineRecord,
  PipelineRecordSchema,
  type PipelineServing,
  type ServingEndpoint,
  ServingEndpointSchema,
  type ServingPlan,
} from '../../lib/core/model/pipeline-serving.ts';
import { parseOrThrow } from '../../lib/core/model/validate.ts';
import type {
  CreatePipelineResult,
  EndpointKey,
  ModelCatalog,
  PipelinePatch,
  PipelineRejection,
  PipelineStore,
} from '../../lib/core/ports.ts';
import type { PipelineReport } from '../../lib/core/protocol/pipeline.ts';
import { FakeJobStore, Recorder } from './fake-stores.ts';

type PipelineMethod =
  | 'create'
  | 'get'
  | 'list'
  | 'update'
  | 'recordRejection'
  | 'getRejection'
  | 'listRejections'
  | 'putProfile'
  | 'profilesOf'
  | 'putEndpoint'
  | 'deleteEndpoint'
  | 'putReport'
  | 'recentReports'
  | 'getServing';

const copy = <T>(value: T): T => structuredClone(value);

function endpointKey(k: Pick<EndpointKey, 'pipelineId' | 'stageId' | 'jobId' | 'taskIndex' | 'attempt'>) {
  return `${k.pipelineId}|${k.stageId}|${k.jobId}|${k.taskIndex}|${k.attempt}`;
}

export class FakePipelineStore extends Recorder<PipelineMethod> implements PipelineStore {
  readonly records = new Map<string, PipelineRecord>();
  readonly idempotency = new Map<string, string>();
  readonly rejections = new Map<string, PipelineRejection>();
  readonly profiles = new Map<string, StageProfile>();
  readonly endpointMap = new Map<string, ServingEndpoint>();
  readonly reports: PipelineReport[] = [];

  async create(record: PipelineRecord, idempotencyKey?: string): Promise<CreatePipelineResult> {
    this.record('create', record, idempotencyKey);
    const valid = parseOrThrow(PipelineRecordSchema, record, 'pipeline record');
    const owner = idempotencyKey ? this.idempotency.get(idempotencyKey) : undefined;
    const existing =
      this.records.get(valid.pipelineId) ?? (owner === undefined ? undefined : this.records.get(owner));
    if (existing) return { created: false, record: copy(existing) };
    this.records.set(valid.pipelineId, copy(valid));
    if (idempotencyKey) this.idempotency.set(idempotencyKey, valid.pipelineId);
    return { created: true, record: copy(valid) };
  }

  async get(pipelineId: string): Promise<PipelineRecord | undefined> {
    this.record('get', pipelineId);
    const r = this.records.get(pipelineId);
    return r ? copy(r) : undefined;
  }

  async list(): Promise<PipelineRecord[]> {
    this.record('list');
    return [...this.records.values()].sort((a, b) => a.createdAt - b.createdAt).map(copy);
  }

  async update(pipelineId: string, expectedVersion: number, patch: PipelinePatch, now: number) {
    this.record('update', pipelineId, expectedVersion, patch, now);
    const current = this.records.get(pipelineId);
    if (!current) throw new NotFoundError('pipeline', pipelineId);
    if (current.version !== expectedVersion)
      throw new ConflictError(`pipeline ${pipelineId} is at version ${current.version}`, pipelineId);
    const next = parseOrThrow(
      PipelineRecordSchema,
      { ...current, ...patch, version: expectedVersion + 1, updatedAt: now },
      'pipeline record',
    );
    this.records.set(pipelineId, copy(next));
    return copy(next);
  }

  async recordRejection(rejection: PipelineRejection): Promise<void> {
    this.record('recordRejection', rejection);
    this.rejections.set(rejection.pipelineId, copy(rejection));
  }

  async getRejection(pipelineId: string): Promise<PipelineRejection | undefined> {
    this.record('getRejection', pipelineId);
    const r = this.rejections.get(pipelineId);
    return r ? copy(r) : undefined;
  }

  async listRejections(): Promise<PipelineRejection[]> {
    this.record('listRejections');
    return [...this.rejections.values()]
      .filter((r) => !this.records.has(r.pipelineId))
      .sort((a, b) => a.at - b.at || a.pipelineId.localeCompare(b.pipelineId))
      .map(copy);
  }

  async putProfile(profile: StageProfile, at: number): Promise<void> {
    this.record('putProfile', profile, at);
    const valid = parseProfile(profile);
    this.profiles.set(`${valid.modelId}|${valid.instanceType}`, copy(valid));
  }

  async profilesOf(modelId: string): Promise<StageProfile[]> {
    this.record('profilesOf', modelId);
    return [...this.profiles.values()].filter((p) => p.modelId === modelId).map(copy);
  }

  async putEndpoint(endpoint: ServingEndpoint): Promise<void> {
    this.record('putEndpoint', endpoint);
    const valid = parseOrThrow(ServingEndpointSchema, endpoint, 'serving endpoint');
    this.endpointMap.set(endpointKey(valid), copy(valid));
  }

  async deleteEndpoint(key: EndpointKey): Promise<void> {
    this.record('deleteEndpoint', key);
    this.endpointMap.delete(endpointKey(key));
  }

  async putReport(report: PipelineReport): Promise<void> {
    this.record('putReport', report);
    this.reports.push(copy(report));
  }

  async recentReports(pipelineId: string, limit: number): Promise<PipelineReport[]> {
    this.record('recentReports', pipelineId, limit);
    return this.reports
      .filter((r) => r.pipelineId === pipelineId)
      .sort((a, b) => b.intervalEndMs - a.intervalEndMs)
      .slice(0, limit)
      .map(copy);
  }

  async getServing(pipelineId: string): Promise<PipelineServing | undefined> {
    this.record('getServing', pipelineId);
    const record = this.records.get(pipelineId);
    if (!record) return undefined;
    const endpoints = [...this.endpointMap.values()].filter((e) => e.pipelineId === pipelineId).map(copy);
    return { record: copy(record), endpoints };
  }
}

/** A model catalog that knows exactly the URIs it is given. */
export class FakeModelCatalog implements ModelCatalog {
  readonly checked: string[] = [];
  constructor(readonly uris: Set<string> = new Set()) {}

  async exists(uri: string): Promise<boolean> {
    this.checked.push(uri);
    return this.uris.has(uri);
  }
}

/** Everything the pipeline steps need, over fakes, with a clock tests can move. */
export function pipelineWorld(opts: { allowedTypes?: string[]; models?: string[]; now?: number } = {}) {
  const clock = {
    t: opts.now ?? 1_764_000_000_000,
    now() {
      return this.t;
    },
  };
  const pipelines = new FakePipelineStore();
  const jobs = new FakeJobStore();
  const models = new FakeModelCatalog(
    new Set(opts.models ?? ['/models/detect.onnx', '/models/classify.onnx']),
  );
  const deps = {
    pipelines,
    jobs,
    models,
    clock,
    allowedTypes: opts.allowedTypes ?? ['c7i.large', 'c7i.xlarge', 'g5.xlarge'],
  };
  return { clock, pipelines, jobs, models, deps };
}

/** A two-stage pipeline over the models pipelineWorld knows. */
export function twoStageSpec(o: Partial<z.input<typeof PipelineSpecSchema>> = {}): PipelineSpec {
  return PipelineSpecSchema.parse({
    name: 'vision',
    sloP99Ms: 200,
    stages: [
      { id: 'detect', model: { uri: '/models/detect.onnx' } },
      { id: 'classify', model: { uri: '/models/classify.onnx' } },
    ],
    edges: [{ from: 'detect', to: 'classify', probability: 1 }],
    sampleTrace: { kind: 'gamma', ratePerSecond: 20, cv: 1, durationSeconds: 30, seed: 3 },
    ...o,
  });
}

/**
 * A measured profile whose batch of b takes baseMs * (1 + 0.25 (b - 1)): batching pays, as on real
 * hardware, and throughput is b / latency.
 */
export function measuredProfile(modelId: string, instanceType: string, baseMs: number): StageProfile {
  return parseProfile({
    modelId,
    instanceType,
    source: { kind: 'measured' },
    points: [1, 2, 4, 8].map((b) => {
      const latencyMs = baseMs * (1 + 0.25 * (b - 1));
      return { batchSize: b, latencyMs, throughputQps: (b * 1000) / latencyMs };
    }),
  });
}

/** One stage's tuner basis in a stored plan. */
export type StageBasisFixture = ServingPlan['basis']['stages'][string];

/**
 * A stored plan for twoStageSpec: detect on c7i.xlarge at batch 4 and classify on c7i.large at batch 2,
 * one replica each, planned on a sample that stays at 20 q/s at every window, both stages at `stage`
 * (ρ = 0.4 by default: that rate fits the planned replica). Any field can be overridden.
 */
export function servingPlan(
  o: Partial<ServingPlan> & { readonly stage?: StageBasisFixture } = {},
): ServingPlan {
  const { stage = { visitFraction: 1, replicaThroughputQps: 100, plannedReplicas: 1, rho: 0.4 }, ...rest } =
    o;
  return {
    config: {
      detect: { instanceType: 'c7i.xlarge', maxBatch: 4, replicas: 1, maxQueueDelayMs: 0 },
      classify: { instanceType: 'c7i.large', maxBatch: 2, replicas: 1, maxQueueDelayMs: 0 },
    },
    costPerHour: 0.3,
    p99Ms: 50,
    visitFractions: { detect: 1, classify: 1 },
    derivedStages: [],
    basis: {
      sample: { windowsMs: [60_000], counts: [1200], ratesPerSecond: [20] },
      planningRatePerSecond: 20,
      stages: { detect: stage, classify: stage },
      rhoP: stage.rho,
    },
    plannedAt: 0,
    ...rest,
  };
}

/**
 * A SERVING two-stage record whose first stage is named `constructor`, a key every plain object inherits:
 * `base`'s detect stage renamed, with `targets` set for classify alone.
 */
export function constructorStageRecord(base: ServingPlan, targetsAt: number): PipelineRecord {
  return {
    pipelineId: 'proto',
    spec: twoStageSpec({
      stages: [
        { id: 'constructor', model: { uri: '/models/detect.onnx' } },
        { id: 'classify', model: { uri: '/models/classify.onnx' } },
      ],
      edges: [{ from: 'constructor', to: 'classify', probability: 1 }],
    }),
    status: 'SERVING',
    createdAt: 0,
    updatedAt: 0,
    version: 1,
    plan: {
      ...base,
      config: { constructor: base.config.detect, classify: base.config.classify } as ServingPlan['config'],
      visitFractions: { constructor: 1, classify: 1 },
      basis: {
        ...base.basis,
        stages: {
          constructor: base.basis.stages.detect,
          classify: base.basis.stages.classify,
        } as ServingPlan['basis']['stages'],
      },
    },
    targets: { classify: 1 },
    targetsAt,
  };
}
