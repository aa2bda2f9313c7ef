import { type RouterHandle, type RouterOptions, startRouter } from '../../../../agent/router/index.ts';
import type { BatchSender, Tensor } from '../../../../agent/router/replica-client.ts';
import type { StageProfile } from '../../../../lib/core/inference/profiles.ts';
import { type TunerBasis, tunerBasis } from '../../../../lib/core/inference/tuner.ts';
import type { PipelineSpec } from '../../../../lib/core/model/pipeline.ts';
import {
  type PipelineRecord,
  type PipelineServing,
  ROUTER_STAGE,
  type ServingEndpoint,
} from '../../../../lib/core/model/pipeline-serving.ts';
import type { ServingDirectory } from '../../../../lib/core/ports.ts';

/** A stage as tests describe it: how it is served, and how long a batch takes in the fake profile. */
export interface TestStage {
  readonly id: string;
  readonly maxBatch?: number;
  readonly replicas?: number;
  readonly maxQueueDelayMs?: number;
  /** Throughput of one replica in the tuner basis. @default 100 */
  readonly replicaQps?: number;
}

export interface RecordOptions {
  readonly pipelineId?: string;
  readonly stages: readonly TestStage[];
  readonly edges?: readonly { from: string; to: string; probability?: number }[];
  readonly sloMs?: number;
  readonly status?: PipelineRecord['status'];
  readonly plannedAt?: number;
  /** The planning trace's envelope and rate; default: 10 qps evenly over 10 s. */
  readonly basis?: TunerBasis;
  readonly targets?: Record<string, number>;
}

function flatProfile(id: string, qps: number): StageProfile {
  const latencyMs = 1000 / qps;
  return {
    modelId: id,
    instanceType: 'c7i.large',
    source: { kind: 'measured' },
    points: [{ batchSize: 1, latencyMs, throughputQps: qps }],
  };
}

/** A SERVING record whose plan serves each stage as described. */
export function servingRecord(o: RecordOptions): PipelineRecord {
  const config = Object.fromEntries(
    o.stages.map((s) => [
      s.id,
      {
        instanceType: 'c7i.large',
        maxBatch: s.maxBatch ?? 1,
        replicas: s.replicas ?? 1,
        maxQueueDelayMs: s.maxQueueDelayMs ?? 0,
      },
    ]),
  );
  const spec: PipelineSpec = {
    name: o.pipelineId ?? 'pipe',
    owner: 'default',
    sloP99Ms: o.sloMs ?? 1000,
    stages: o.stages.map((s) => ({ id: s.id, model: { uri: `/models/${s.id}.onnx` } })),
    edges: (o.edges ?? []).map((e) => ({ ...e, probability: e.probability ?? 1 })),
  };
  const visitFractions = Object.fromEntries(o.stages.map((s) => [s.id, 1]));
  const basis =
    o.basis ??
    tunerBasis({
      config: Object.fromEntries(o.stages.map((s) => [s.id, { ...config[s.id]!, maxBatch: 1 }])),
      profileOf: (id) => flatProfile(id, o.stages.find((s) => s.id === id)?.replicaQps ?? 100),
      visitFractions,
      arrivalsMs: Float64Array.from({ length: 100 }, (_, i) => i * 100),
    });
  return {
    pipelineId: o.pipelineId ?? 'pipe',
    spec,
    status: o.status ?? 'SERVING',
    createdAt: 0,
    updatedAt: 0,
    version: 1,
    plan: {
      config,
      costPerHour: 1,
      p99Ms: 10,
      visitFractions,
      derivedStages: [],
      basis: {
        sample: {
          windowsMs: [...basis.sample.windowsMs],
          counts: [...basis.sample.counts],
          ratesPerSecond: [...basis.sample.ratesPerSecond],
        },
        planningRatePerSecond: basis.planningRatePerSecond,
        stages: { ...basis.stages },
        rhoP: basis.rhoP,
      },
      plannedAt: o.plannedAt ?? 1,
    },
    targets: o.targets ?? Object.fromEntries(o.stages.map((s) => [s.id, s.replicas ?? 1])),
    targetsAt: 0,
  };
}

let jobSeq = 0;

export function endpoint(stageId: string, url: string, since: number, pipelineId = 'pipe'): ServingEndpoint {
  return {
    pipelineId,
    stageId,
    jobId: `job-${stageId}-${++jobSeq}`,
    taskIndex: 0,
    attempt: 1,
    instanceId: 'i-test',
    url,
    since,
  };
}

/** A directory the test edits; counts reads. */
export class FakeServingDirectory implements ServingDirectory {
  reads = 0;
  constructor(
    public record: PipelineRecord | undefined,
    public endpoints: ServingEndpoint[] = [],
  ) {}

  async getServing(pipelineId: string): Promise<PipelineServing | undefined> {
    this.reads++;
    if (!this.record || this.record.pipelineId !== pipelineId) return undefined;
    return { record: this.record, endpoints: this.endpoints.filter((e) => e.stageId !== ROUTER_STAGE) };
  }
}

export interface SentBatch {
  settled: boolean;
  readonly url: string;
  readonly input: Tensor;
  /** First value of each row: tests tag queries by it. */
  readonly tags: number[];
  release(): void;
  /** Fail the batch with an Error of this message, or with this error. */
  fail(error?: string | Error): void;
}

/**
 * A BatchSender that holds every batch until the test releases it: the answer is the input plus `add`
 * (so each stage's effect shows in the output). Lets tests look at what was dispatched, and when.
 */
export class HeldSender {
  readonly sent: SentBatch[] = [];
  readonly inFlight = new Map<string, number>();
  maxInFlightPerUrl = 0;
  autoRelease = false;

  constructor(private readonly add: (url: string) => number = () => 1) {}

  readonly send: BatchSender = (url, input) =>
    new Promise((resolve, reject) => {
      const rows = input.dims[0] ?? 1;
      const width = input.data.length / rows;
      const tags = Array.from({ length: rows }, (_, r) => input.data[r * width] as number);
      const n = (this.inFlight.get(url) ?? 0) + 1;
      this.inFlight.set(url, n);
      this.maxInFlightPerUrl = Math.max(this.maxInFlightPerUrl, n);
      const done = () => this.inFlight.set(url, (this.inFlight.get(url) ?? 1) - 1);
      const batch: SentBatch = {
        settled: false,
        url,
        input,
        tags,
        release: () => {
          if (batch.settled) return;
          batch.settled = true;
          done();
          resolve({ dims: input.dims, data: input.data.map((v) => v + this.add(url)) });
        },
        fail: (error = 'replica down') => {
          if (batch.settled) return;
          batch.settled = true;
          done();
          reject(typeof error === 'string' ? new Error(error) : error);
        },
      };
      this.sent.push(batch);
      if (this.autoRelease) setImmediate(() => batch.release());
    });

  pending(): SentBatch[] {
    return this.sent.filter((b) => !b.settled);
  }
}

/** A one-row query tagged with `tag` in its first value. */
export function query(tag: number, width = 4): Tensor {
  const data = new Float32Array(width);
  data[0] = tag;
  return { dims: [1, width], data };
}

/**
 * Routers for one test file: `start` runs one on loopback with its timers off (tests drive polls, reports
 * and the tuner themselves), and `stopAll` stops every one still running.
 */
export function routerPool() {
  const running: RouterHandle[] = [];
  return {
    async start(options: Partial<RouterOptions> & Pick<RouterOptions, 'directory'>): Promise<RouterHandle> {
      const handle = await startRouter({
        pipelineId: 'pipe',
        host: '127.0.0.1',
        pollIntervalMs: 0,
        reportIntervalMs: 0,
        tunerIntervalMs: 0,
        log: () => {},
        ...options,
      });
      running.push(handle);
      return handle;
    },
    async stopAll(): Promise<void> {
      await Promise.all(running.splice(0).map((r) => r.stop()));
    },
  };
}
