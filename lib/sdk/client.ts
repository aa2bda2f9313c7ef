import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { type AwsClientConfig, awsClientConfig } from '../aws/client-config.ts';
import { DynamoJobStore } from '../aws/dynamo-job-store.ts';
import { DynamoPipelineStore } from '../aws/dynamo-pipeline-store.ts';
import { InvalidRequestError } from '../aws/errors.ts';
import { SqsWorkQueue } from '../aws/sqs-work-queue.ts';
import { discoverStack } from '../aws/stack-outputs.ts';
import { ConflictError, NotFoundError, ValidationError } from '../core/errors.ts';
import type { Job, JobSpecInput } from '../core/model/job.ts';
import { isTerminal } from '../core/model/job-state.ts';
import { type PipelineRecord, type PipelineStatus, unansweredBy } from '../core/model/pipeline-serving.ts';
import { parseInputOrThrow } from '../core/model/validate.ts';
import type { PipelineRejection } from '../core/ports.ts';
import type { SubmitPipelineInput } from '../core/protocol/pipeline.ts';
import type {
  ListJobsQuery,
  PipelineView,
  SubmitOptions,
  SubmitPipelineOptions,
  TetrafleetClientOptions,
  WaitForPipelineOptions,
  WaitOptions,
} from './client-options.ts';
import {
  checkJobId,
  checkPipelineId,
  ListJobsQuerySchema,
  WaitForPipelineOptionsSchema,
  WaitOptionsSchema,
} from './client-validation.ts';
import {
  PipelineEndedError,
  PipelineRejectedError,
  PipelineWaitTimeoutError,
  SubmissionRejectedError,
  WaitTimeoutError,
} from './errors.ts';
import { jobSubmission, pipelineSubmission } from './submission.ts';

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

  /** Builds a client from a deployed stack's outputs; a malformed stack name is a ValidationError. */
  static async fromStack(
    stackName: string,
    aws: AwsClientConfig = awsClientConfig(),
  ): Promise<TetrafleetClient> {
    return new TetrafleetClient({ endpoints: await discoverStack(stackName, aws), aws });
  }

  /**
   * Validates and sends a job; resolves with its id once the submissions queue has it. With an
   * `idempotencyKey` and no `jobId`, the id is derived from the key (`jobIdForKey`): a retry after a lost
   * reply, or a second run of the same CI step, returns the id of the one job the key created. A spec or
   * option that is bad, unknown or too large to store (over 384 KiB of JSON) is a ValidationError, and nothing is sent.
   */
  async submitJob(spec: JobSpecInput, options: SubmitOptions = {}): Promise<{ jobId: string }> {
    const { jobId, body } = jobSubmission(spec, options);
    await this.submissions.send(body);
    return { jobId };
  }

  /**
   * The job as stored, or undefined while it is still in the queue (or was never sent). Throws
   * SubmissionRejectedError, with the field issues, when admission refused it.
   */
  async getJob(jobId: string): Promise<Job | undefined> {
    checkJobId(jobId);
    const job = await this.store.get(jobId);
    if (job) return job;
    const rejection = await this.store.getRejection(jobId);
    if (rejection) throw new SubmissionRejectedError(jobId, rejection.reason, rejection.issues);
    return undefined;
  }

  /**
   * One page of jobs, with the `cursor` of the next page when there is one. A limit outside 1-1000, an
   * unknown status or a cursor that listJobs did not return is a ValidationError naming the option.
   */
  async listJobs(query: ListJobsQuery = {}): Promise<{ jobs: Job[]; cursor?: string }> {
    parseInputOrThrow(ListJobsQuerySchema, query, 'listJobs options');
    try {
      return await this.store.list(query);
    } catch (error) {
      // A cursor of the right shape whose key DynamoDB refuses: still the caller's cursor at fault.
      if (query.cursor !== undefined && error instanceof InvalidRequestError)
        throw new ValidationError('listJobs options', [
          { path: 'cursor', message: `cursor must be a cursor listJobs returned: ${error.message}` },
        ]);
      throw error;
    }
  }

  /** Cancels a job: at once while it is PENDING, else (`cancelRequestedAt`) the scheduler stops its tasks. */
  async cancelJob(jobId: string): Promise<Job> {
    checkJobId(jobId);
    return this.store.requestCancel(jobId, Date.now());
  }

  /**
   * Polls until the job is in a terminal state; throws WaitTimeoutError after `timeoutMs`. Options out of
   * range (a NaN or negative timeout, a poll under 10 ms) are a ValidationError naming the option.
   */
  async waitForJob(jobId: string, options: WaitOptions = {}): Promise<Job> {
    checkJobId(jobId);
    parseInputOrThrow(WaitOptionsSchema, options, 'waitForJob options');
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
   * errors; unknown models and impossible SLOs are refused at admission (see `getPipeline`). With an
   * `idempotencyKey` and no `pipelineId`, the id is derived from the key (`pipelineIdForKey`), so a retry
   * returns the same id.
   */
  async submitPipeline(
    spec: SubmitPipelineInput['spec'],
    options: SubmitPipelineOptions = {},
  ): Promise<{ pipelineId: string }> {
    const { pipelineId, body } = pipelineSubmission(spec, options);
    await this.submissions.send(body);
    return { pipelineId };
  }

  /**
   * The pipeline with its latest router report and live endpoints, or undefined while it is still in the
   * queue. Throws PipelineRejectedError, with the field issues, when admission refused it.
   */
  async getPipeline(pipelineId: string): Promise<PipelineView | undefined> {
    checkPipelineId(pipelineId);
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
   * The pipelines that admission refused and that have no record, oldest first, each with its reason and
   * field issues: what `getPipeline` throws as PipelineRejectedError. A refusal is kept for a week (the
   * table's TTL deletes it some time after).
   */
  listPipelineRejections(): Promise<PipelineRejection[]> {
    return this.pipelines.listRejections();
  }

  /**
   * Stops serving: the pipeline becomes STOPPED and the scale step cancels its replica and router jobs.
   * A refused or stopped pipeline is returned unchanged.
   */
  async stopPipeline(pipelineId: string): Promise<PipelineRecord> {
    checkPipelineId(pipelineId);
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
    checkPipelineId(pipelineId);
    parseInputOrThrow(WaitForPipelineOptionsSchema, options, 'waitForPipeline options');
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
