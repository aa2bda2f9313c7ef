import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { type AwsClientConfig, awsClientConfig } from '../aws/client-config.ts';
import { DynamoJobStore } from '../aws/dynamo-job-store.ts';
import { DynamoPipelineStore } from '../aws/dynamo-pipeline-store.ts';
import { SqsWorkQueue } from '../aws/sqs-work-queue.ts';
import { discoverStack, type StackEndpoints } from '../aws/stack-outputs.ts';
import { ConflictError, NotFoundError } from '../core/errors.ts';
import type { Job, JobSpecInput } from '../core/model/job.ts';
import { isTerminal, type JobStatus } from '../core/model/job-state.ts';
import {
  type PipelineRecord,
  type PipelineStatus,
  type ServingEndpoint,
  unansweredBy,
} from '../core/model/pipeline-serving.ts';
import { parseInputOrThrow } from '../core/model/validate.ts';
import {
  type PipelineReport,
  type SubmitPipelineInput,
  SubmitPipelineSchema,
} from '../core/protocol/pipeline.ts';
import { SubmitJobSchema } from '../core/protocol/submission.ts';
import {
  PipelineEndedError,
  PipelineRejectedError,
  PipelineWaitTimeoutError,
  SubmissionRejectedError,
  WaitTimeoutError,
} from './errors.ts';

export interface TetrafleetClientOptions {
  readonly endpoints: Pick<StackEndpoints, 'submissionsQueueUrl' | 'tables'>;
  /** SDK client settings; by default from the environment (AWS_ENDPOINT_URL, AWS_REGION). */
  readonly aws?: AwsClientConfig;
}

export interface SubmitOptions {
  /** Two submissions with the same key create one job. */
  readonly idempotencyKey?: string;
  /** Choose the job id yourself (e.g. to resend after a lost reply); a random one by default. */
  readonly jobId?: string;
}

export interface WaitOptions {
  /** @default 600000 (10 minutes) */
  readonly timeoutMs?: number;
  /** Called whenever the job's status changes, with the job as last read. */
  readonly onProgress?: (job: Job) => void;
  /** First poll interval; it backs off to 2 s. @default 250 */
  readonly pollMs?: number;
}

export interface SubmitPipelineOptions {
  /** Two submissions with the same key create one pipeline. */
  readonly idempotencyKey?: string;
  /** Choose the pipeline id yourself; by default the spec's name and a random suffix. */
  readonly pipelineId?: string;
}

/** What `getPipeline` returns: the record, its latest router report and its live endpoints. */
export interface PipelineView {
  readonly record: PipelineRecord;
  readonly report?: PipelineReport;
  readonly endpoints: readonly ServingEndpoint[];
}

export interface WaitForPipelineOptions {
  /** The status to wait for. @default 'SERVING' */
  readonly status?: PipelineStatus;
  /** @default 600000 (10 minutes) */
  readonly timeoutMs?: number;
  /**
   * Called whenever the record changes, with the record as last read; with `answering`, also whenever what
   * the pipeline still lacks changes (`waitingFor`, e.g. `["a replica of classify", "the router"]`).
   */
  readonly onProgress?: (record: PipelineRecord, waitingFor?: readonly string[]) => void;
  /** First poll interval; it backs off to 2 s. @default 250 */
  readonly pollMs?: number;
  /**
   * With status SERVING: also wait until the router and a replica of every stage are listed, so that a
   * query sent next is answered. SERVING alone means planned: its replicas may still be starting.
   */
  readonly answering?: boolean;
}

/** Statuses a pipeline never leaves. */
const FINAL_PIPELINE_STATUSES: ReadonlySet<PipelineStatus> = new Set(['REFUSED', 'STOPPED']);

/**
 * The typed client for submitting and following jobs. It validates a spec before sending it, so a bad
 * spec fails here with field-level errors (ValidationError) and never reaches the queue.
 */
export class TetrafleetClient {
  private readonly sqs: SQSClient;
  private readonly dynamo: DynamoDBClient;
  private readonly submissions: SqsWorkQueue;
  private readonly store: DynamoJobStore;
  private readonly pipelines: DynamoPipelineStore;

  constructor(options: TetrafleetClientOptions) {
    const aws = options.aws ?? awsClientConfig();
    this.sqs = new SQSClient(aws);
    this.dynamo = new DynamoDBClient(aws);
    this.submissions = new SqsWorkQueue(this.sqs, options.endpoints.submissionsQueueUrl);
    this.store = new DynamoJobStore(this.dynamo, options.endpoints.tables);
    this.pipelines = new DynamoPipelineStore(this.dynamo, options.endpoints.tables);
  }

  /** Builds a client from a deployed stack's outputs. */
  static async fromStack(
    stackName: string,
    aws: AwsClientConfig = awsClientConfig(),
  ): Promise<TetrafleetClient> {
    return new TetrafleetClient({ endpoints: await discoverStack(stackName, aws), aws });
  }

  /** Validates and sends a job; resolves with its id once the submissions queue has it. */
  async submitJob(spec: JobSpecInput, options: SubmitOptions = {}): Promise<{ jobId: string }> {
    const jobId = options.jobId ?? `job-${randomUUID()}`;
    const message = parseInputOrThrow(
      SubmitJobSchema,
      { version: 1, kind: 'SubmitJob', jobId, idempotencyKey: options.idempotencyKey, spec },
      'job submission',
    );
    await this.submissions.send(JSON.stringify(message));
    return { jobId };
  }

  /**
   * The job as stored, or undefined while it is still in the queue (or was never sent). Throws
   * SubmissionRejectedError, with the field issues, when admission refused it.
   */
  async getJob(jobId: string): Promise<Job | undefined> {
    const job = await this.store.get(jobId);
    if (job) return job;
    const rejection = await this.store.getRejection(jobId);
    if (rejection) throw new SubmissionRejectedError(jobId, rejection.reason, rejection.issues);
    return undefined;
  }

  listJobs(query: { status?: JobStatus; limit?: number; cursor?: string } = {}) {
    return this.store.list(query);
  }

  /** Cancels a job: at once when it has not started, else its tasks are stopped by the scheduler. */
  cancelJob(jobId: string): Promise<Job> {
    return this.store.requestCancel(jobId, Date.now());
  }

  /** Polls until the job is in a terminal state; throws WaitTimeoutError after `timeoutMs`. */
  async waitForJob(jobId: string, options: WaitOptions = {}): Promise<Job> {
    const timeoutMs = options.timeoutMs ?? 600_000;
    const deadline = Date.now() + timeoutMs;
    let interval = options.pollMs ?? 250;
    let last: Job | undefined;
    for (;;) {
      const job = await this.getJob(jobId);
      if (job && (job.status !== last?.status || job.version !== last.version)) options.onProgress?.(job);
      last = job ?? last;
      if (job && isTerminal(job.status)) return job;
      if (Date.now() >= deadline) throw new WaitTimeoutError(jobId, last?.status, timeoutMs);
      await new Promise((r) => setTimeout(r, Math.min(interval, Math.max(0, deadline - Date.now()))));
      interval = Math.min(interval * 1.5, 2000);
    }
  }

  /** Like getJob, but a missing job is an error. */
  async requireJob(jobId: string): Promise<Job> {
    const job = await this.getJob(jobId);
    if (!job) throw new NotFoundError('job', jobId);
    return job;
  }

  /**
   * Validates and sends an inference pipeline (a DAG of ONNX stages with a P99 SLO); resolves with its
   * id once the submissions queue has it. A bad spec (a cycle, an unknown stage) fails here with field
   * errors; unknown models and impossible SLOs are refused at admission (see `getPipeline`).
   */
  async submitPipeline(
    spec: SubmitPipelineInput['spec'],
    options: SubmitPipelineOptions = {},
  ): Promise<{ pipelineId: string }> {
    const name = typeof spec?.name === 'string' ? spec.name.slice(0, 54) : 'pipeline';
    const pipelineId = options.pipelineId ?? `${name}-${randomUUID().slice(0, 8)}`;
    const message = parseInputOrThrow(
      SubmitPipelineSchema,
      { version: 1, kind: 'SubmitPipeline', pipelineId, idempotencyKey: options.idempotencyKey, spec },
      'pipeline submission',
    );
    await this.submissions.send(JSON.stringify(message));
    return { pipelineId };
  }

  /**
   * The pipeline with its latest router report and live endpoints, or undefined while it is still in the
   * queue. Throws PipelineRejectedError, with the field issues, when admission refused it.
   */
  async getPipeline(pipelineId: string): Promise<PipelineView | undefined> {
    const serving = await this.pipelines.getServing(pipelineId);
    if (!serving) {
      const rejection = await this.pipelines.getRejection(pipelineId);
      if (rejection) throw new PipelineRejectedError(pipelineId, rejection.reason, rejection.issues);
      return undefined;
    }
    const [report] = await this.pipelines.recentReports(pipelineId, 1);
    return { record: serving.record, endpoints: serving.endpoints, ...(report ? { report } : {}) };
  }

  listPipelines(): Promise<PipelineRecord[]> {
    return this.pipelines.list();
  }

  /**
   * Stops serving: the pipeline becomes STOPPED and the scale step cancels its replica and router jobs.
   * A refused or stopped pipeline is returned unchanged.
   */
  async stopPipeline(pipelineId: string): Promise<PipelineRecord> {
    for (let attempt = 0; ; attempt++) {
      const record = await this.pipelines.get(pipelineId);
      if (!record) throw new NotFoundError('pipeline', pipelineId);
      if (FINAL_PIPELINE_STATUSES.has(record.status)) return record;
      try {
        return await this.pipelines.update(
          pipelineId,
          record.version,
          { status: 'STOPPED', reason: 'stopped by the user' },
          Date.now(),
        );
      } catch (error) {
        if (!(error instanceof ConflictError) || attempt >= 4) throw error;
      }
    }
  }

  /**
   * Polls until the pipeline reaches `status` (SERVING by default). Throws PipelineEndedError when it
   * ends in another final status (REFUSED, STOPPED), PipelineWaitTimeoutError after `timeoutMs`.
   */
  async waitForPipeline(pipelineId: string, options: WaitForPipelineOptions = {}): Promise<PipelineRecord> {
    const wanted = options.status ?? 'SERVING';
    const timeoutMs = options.timeoutMs ?? 600_000;
    const deadline = Date.now() + timeoutMs;
    let interval = options.pollMs ?? 250;
    let last: PipelineRecord | undefined;
    let lacking = '';
    for (;;) {
      const view = await this.getPipeline(pipelineId);
      const record = view?.record;
      const missing =
        view && options.answering && record?.status === wanted
          ? unansweredBy(record.spec, view.endpoints)
          : [];
      if (record && (record.version !== last?.version || missing.join() !== lacking))
        options.onProgress?.(record, missing.length > 0 ? missing : undefined);
      last = record ?? last;
      lacking = missing.join();
      if (record?.status === wanted && missing.length === 0) return record;
      if (record && FINAL_PIPELINE_STATUSES.has(record.status))
        throw new PipelineEndedError(pipelineId, record.status, record.reason, wanted);
      if (Date.now() >= deadline)
        throw new PipelineWaitTimeoutError(pipelineId, wanted, last?.status, timeoutMs, missing);
      await new Promise((r) => setTimeout(r, Math.min(interval, Math.max(0, deadline - Date.now()))));
      interval = Math.min(interval * 1.5, 2000);
    }
  }

  close(): void {
    this.sqs.destroy();
    this.dynamo.destroy();
  }
}
