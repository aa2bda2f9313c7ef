/**
 * Ports: the narrow interfaces through which core logic reaches the outside world. Adapters in
 * `lib/aws`, `lib/solver` and `lib/local` implement them; fakes in `test/fakes` stand in for unit tests.
 * Each later module adds the ports it needs here, documenting the contract and the errors it throws.
 */

import type { PipelineServing } from './model/pipeline-serving.ts';

/** Time, injected so that core never reads the wall clock. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

/** A message taken from a queue; hidden from other consumers until deleted or its visibility lapses. */
export interface QueueMessage {
  readonly id: string;
  readonly body: string;
  readonly receiptHandle: string;
  /** How many times this message has been received, this time included. */
  readonly receiveCount: number;
}

/**
 * A work queue with at-least-once delivery (SQS semantics). Implementations throw TransientError for
 * throttling and timeouts; a receipt handle that is no longer valid is a no-op on delete.
 */
export interface WorkQueue {
  send(body: string, options?: { delaySeconds?: number }): Promise<void>;
  receive(options: {
    maxMessages: number;
    waitSeconds: number;
    visibilityTimeoutSeconds?: number;
    /** Ends a long poll early (shutdown); an aborted receive returns no messages instead of throwing. */
    abortSignal?: AbortSignal;
  }): Promise<QueueMessage[]>;
  delete(receiptHandle: string): Promise<void>;
  changeVisibility(receiptHandle: string, seconds: number): Promise<void>;
}

/** Where agents send reports (task events, heartbeats, latency). Each message is a versioned protocol object. */
export interface ReportSink {
  send(message: { readonly kind: string; readonly version: number }): Promise<void>;
}

/** Result of creating a job: the stored job, and whether this call created it (false: an earlier call did). */
export interface CreateJobResult {
  readonly created: boolean;
  readonly job: import('./model/job.ts').Job;
}

export interface TransitionRequest {
  readonly from: import('./model/job-state.ts').JobStatus;
  readonly to: import('./model/job-state.ts').JobStatus;
  /** The version the caller read; the write fails with ConflictError if it moved. */
  readonly expectedVersion: number;
  readonly now: number;
  /** Fields to set with the transition (error, startedAt, finishedAt, attempts). */
  readonly patch?: Partial<
    Pick<import('./model/job.ts').Job, 'error' | 'startedAt' | 'finishedAt' | 'attempts' | 'market'>
  >;
}

/**
 * Durable job state. Every change is conditional on the version the caller read, so two writers never
 * both win. `create` is idempotent on the job id and on the idempotency key. Throws ConflictError when a
 * condition fails, InvalidTransitionError for a transition the state machine forbids, and
 * TransientError for throttling or timeouts.
 */
export interface JobStore {
  create(job: import('./model/job.ts').Job, idempotencyKey?: string): Promise<CreateJobResult>;
  get(jobId: string): Promise<import('./model/job.ts').Job | undefined>;
  list(query: {
    readonly status?: import('./model/job-state.ts').JobStatus;
    readonly limit?: number;
    readonly cursor?: string;
  }): Promise<{ readonly jobs: import('./model/job.ts').Job[]; readonly cursor?: string }>;
  transition(jobId: string, request: TransitionRequest): Promise<import('./model/job.ts').Job>;
  /**
   * Cancel: a PENDING job becomes CANCELLED at once; a LAUNCHING, PLACED or RUNNING one gets
   * `cancelRequestedAt` and the scheduler stops its tasks (a LAUNCHING job's RunTask is already in its
   * instance's queue); a finished job is returned unchanged.
   */
  requestCancel(jobId: string, now: number): Promise<import('./model/job.ts').Job>;
  /** Remembers why a submission was refused, so that its submitter can look the reason up by job id. */
  recordRejection(rejection: Rejection): Promise<void>;
  getRejection(jobId: string): Promise<Rejection | undefined>;
}

/** A submission that was refused at admission, with every field problem. */
export interface Rejection {
  readonly jobId: string;
  readonly reason: string;
  readonly issues: readonly import('./errors.ts').FieldIssue[];
  readonly at: number;
}

/**
 * A named lease with an expiry, so that at most one holder acts at a time (e.g. one schedule cycle).
 * `acquire` succeeds when the lease is free, expired, or already held by `owner` (renewal).
 */
export interface LeaseStore {
  acquire(name: string, owner: string, ttlMs: number, now: number): Promise<boolean>;
  release(name: string, owner: string): Promise<void>;
}

/** Ask for `count` instances of the first type in `instanceTypes` that has capacity. */
export interface LaunchRequest {
  /** Idempotency token: a repeated request with the same token returns the instances of the first. */
  readonly token: string;
  /** Acceptable types, most preferred first. */
  readonly instanceTypes: readonly string[];
  readonly market: import('./model/instance-type.ts').Market;
  /** For a spot request: also try on-demand when no spot capacity is left. */
  readonly onDemandFallback: boolean;
  readonly count: number;
  /** Which launch template: the GPU one carries the GPU image. */
  readonly template: 'cpu' | 'gpu';
  readonly tags?: Readonly<Record<string, string>>;
}

export interface LaunchedInstance {
  readonly id: string;
  readonly type: string;
  readonly market: import('./model/instance-type.ts').Market;
  readonly launchedAt: number;
}

/** An instance as the cloud reports it, for reconciliation. */
export interface CloudInstance extends LaunchedInstance {
  readonly state: 'pending' | 'running' | 'stopping' | 'stopped' | 'shutting-down' | 'terminated';
  readonly tags: Readonly<Record<string, string>>;
}

/**
 * Launches and retires instances. `launch` falls back across instance types and, where allowed, from
 * spot to on-demand; it returns fewer than `count` instances when only some capacity was found, and
 * throws InsufficientCapacityError when none was. It throws TransientError for throttling.
 */
export interface FleetProvider {
  launch(request: LaunchRequest): Promise<LaunchedInstance[]>;
  /** Instances of this fleet in any state but terminated. */
  list(): Promise<CloudInstance[]>;
  terminate(instanceIds: readonly string[]): Promise<void>;
}

/**
 * Task records and the fleet's instances, as the control loop reads and writes them. Every update is
 * conditional: on the task's current state, or on the instance's version. ConflictError when the
 * condition fails; TransientError for throttling.
 */
export interface TaskStore {
  /** Tasks of one job, all attempts. */
  tasksOfJob(jobId: string): Promise<import('./control/task-record.ts').TaskRecord[]>;
  /** Tasks that hold resources (PLACED, DISPATCHED, RUNNING) on any instance. */
  activeTasks(): Promise<import('./control/task-record.ts').TaskRecord[]>;
  /**
   * In one transaction: move the job from `job.status` at `job.version` to `to`, and write its task
   * records. Either all of it happens or none (ConflictError when the job moved).
   */
  commitPlacement(
    job: import('./model/job.ts').Job,
    to: 'PLACED' | 'LAUNCHING',
    tasks: readonly import('./control/task-record.ts').TaskRecord[],
    now: number,
    /** Recorded on the job with the move: the market it was placed in (`tetrafleet jobs` shows it). */
    placed?: { readonly market?: import('./model/instance-type.ts').Market },
  ): Promise<import('./model/job.ts').Job>;
  /** Moves a task record if it is in one of `from`; returns false (and writes nothing) otherwise. */
  moveTask(
    key: { jobId: string; taskIndex: number; attempt: number },
    from: readonly import('./control/task-record.ts').TaskState[],
    to: import('./control/task-record.ts').TaskState,
    now: number,
    patch?: { exitCode?: number },
  ): Promise<boolean>;
}

/** The fields of an instance record that change after it is created. */
export type InstancePatch = Partial<
  Pick<
    import('./model/instance.ts').Instance,
    | 'state'
    | 'lastHeartbeatAt'
    | 'heartbeatAppliedAt'
    | 'heartbeatBootId'
    | 'heartbeatSeq'
    | 'lastBusyAt'
    | 'queueUrl'
    | 'readyAt'
    | 'interruptionWarnedAt'
    | 'rebalanceRecommendedAt'
  >
>;

export interface InstanceStore {
  /** Instances in the given states (all but TERMINATED by default). */
  listInstances(
    states?: readonly import('./model/instance.ts').InstanceState[],
  ): Promise<import('./model/instance.ts').Instance[]>;
  getInstance(id: string): Promise<import('./model/instance.ts').Instance | undefined>;
  /** Creates the record unless it exists (a relaunch after a crash is a no-op). */
  putInstance(instance: import('./model/instance.ts').Instance): Promise<void>;
  /** Conditional on `expectedVersion`; bumps the version. */
  updateInstance(
    id: string,
    expectedVersion: number,
    patch: InstancePatch,
  ): Promise<import('./model/instance.ts').Instance>;
}

/**
 * The scheduler's line to one instance: its own queue, which its agent long-polls. `open` is idempotent
 * (the same instance id gives the same queue); `send` throws TransientError for throttling.
 */
export interface InstanceChannel {
  open(instanceId: string): Promise<string>;
  send(
    queueUrl: string,
    message:
      | import('./protocol/tasks.ts').RunTaskInput
      | import('./protocol/tasks.ts').CancelTaskInput
      | import('./protocol/tasks.ts').DrainInput,
  ): Promise<void>;
  close(queueUrl: string): Promise<void>;
}

/** Structured logging, so core can say what it decided without choosing a sink. */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** What one schedule cycle did, kept for a while for the CLI (`explain`, `watch`, `report`). */
export interface CycleRecord {
  readonly cycleId: string;
  /** Epoch ms when the cycle finished. */
  readonly at: number;
  readonly engine?: string;
  readonly solveMs?: number;
  readonly gap?: number;
  readonly objective?: number;
  readonly counts?: Readonly<Record<string, number>>;
  readonly unplaced?: number;
  /** Job id -> why it waits or sits where it is (at most a few hundred jobs per record). */
  readonly explanations: Readonly<Record<string, string>>;
}

/** A short history of schedule cycles, newest first. */
export interface CycleLog {
  record(cycle: CycleRecord): Promise<void>;
  recent(limit: number): Promise<CycleRecord[]>;
}

/**
 * Where a pipeline's router finds what to serve: the pipeline's record (spec, plan, targets) and the
 * endpoints of its running replicas. The router polls it, so replicas come and go without a restart.
 */
export interface ServingDirectory {
  getServing(pipelineId: string): Promise<PipelineServing | undefined>;
}

/** Result of creating a pipeline: the stored record, and whether this call created it. */
export interface CreatePipelineResult {
  readonly created: boolean;
  readonly record: import('./model/pipeline-serving.ts').PipelineRecord;
}

/** Fields of a pipeline record that the control plane changes after creation. */
export type PipelinePatch = Partial<
  Pick<
    import('./model/pipeline-serving.ts').PipelineRecord,
    'status' | 'reason' | 'plan' | 'targets' | 'targetsAt'
  >
>;

/** A pipeline submission refused at admission, with every field problem (like a job's Rejection). */
export interface PipelineRejection {
  readonly pipelineId: string;
  readonly reason: string;
  readonly issues: readonly import('./errors.ts').FieldIssue[];
  readonly at: number;
}

/** Names one serving task's endpoint. */
export interface EndpointKey {
  readonly pipelineId: string;
  readonly stageId: string;
  readonly jobId: string;
  readonly taskIndex: number;
  readonly attempt: number;
}

/**
 * Durable pipeline state: records, per-hardware model profiles, serving endpoints and the routers'
 * latest reports. `create` is idempotent on the pipeline id and on the idempotency key; `update` is
 * conditional on the version the caller read (ConflictError when it moved, NotFoundError when the
 * record is gone). Endpoint puts and deletes are idempotent. TransientError for throttling.
 */
export interface PipelineStore extends ServingDirectory {
  create(
    record: import('./model/pipeline-serving.ts').PipelineRecord,
    idempotencyKey?: string,
  ): Promise<CreatePipelineResult>;
  get(pipelineId: string): Promise<import('./model/pipeline-serving.ts').PipelineRecord | undefined>;
  /** Every pipeline record, oldest first. */
  list(): Promise<import('./model/pipeline-serving.ts').PipelineRecord[]>;
  update(
    pipelineId: string,
    expectedVersion: number,
    patch: PipelinePatch,
    now: number,
  ): Promise<import('./model/pipeline-serving.ts').PipelineRecord>;
  recordRejection(rejection: PipelineRejection): Promise<void>;
  getRejection(pipelineId: string): Promise<PipelineRejection | undefined>;
  /**
   * Every kept refusal of a pipeline that has no record, oldest first. A record admitted later under a
   * refused id supersedes the refusal: that pipeline is listed by `list` alone.
   */
  listRejections(): Promise<PipelineRejection[]>;
  /** Stores (or replaces) the profile of one (model, instance type) pair. */
  putProfile(profile: import('./inference/profiles.ts').StageProfile, at: number): Promise<void>;
  /** Every stored profile of one model, one per instance type. */
  profilesOf(modelId: string): Promise<import('./inference/profiles.ts').StageProfile[]>;
  putEndpoint(endpoint: import('./model/pipeline-serving.ts').ServingEndpoint): Promise<void>;
  deleteEndpoint(key: EndpointKey): Promise<void>;
  /** Keeps the report among the pipeline's latest ones (older ones expire). */
  putReport(report: import('./protocol/pipeline.ts').PipelineReport): Promise<void>;
  /** The pipeline's latest reports, newest first. */
  recentReports(
    pipelineId: string,
    limit: number,
  ): Promise<import('./protocol/pipeline.ts').PipelineReport[]>;
}

/**
 * Whether a model file exists where a stage's `model.uri` points: S3 HeadObject for `s3://`, the file
 * for an absolute path. False for a missing object; TransientError for throttling.
 */
export interface ModelCatalog {
  exists(uri: string): Promise<boolean>;
}
