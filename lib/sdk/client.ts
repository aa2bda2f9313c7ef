import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { type AwsClientConfig, awsClientConfig } from '../aws/client-config.ts';
import { DynamoJobStore } from '../aws/dynamo-job-store.ts';
import { SqsWorkQueue } from '../aws/sqs-work-queue.ts';
import { discoverStack, type StackEndpoints } from '../aws/stack-outputs.ts';
import { NotFoundError } from '../core/errors.ts';
import type { Job, JobSpecInput } from '../core/model/job.ts';
import { isTerminal, type JobStatus } from '../core/model/job-state.ts';
import { parseOrThrow } from '../core/model/validate.ts';
import { SubmitJobSchema } from '../core/protocol/submission.ts';
import { SubmissionRejectedError, WaitTimeoutError } from './errors.ts';

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

/**
 * The typed client for submitting and following jobs. It validates a spec before sending it, so a bad
 * spec fails here with field-level errors (ValidationError) and never reaches the queue.
 */
export class TetrafleetClient {
  private readonly sqs: SQSClient;
  private readonly dynamo: DynamoDBClient;
  private readonly submissions: SqsWorkQueue;
  private readonly store: DynamoJobStore;

  constructor(options: TetrafleetClientOptions) {
    const aws = options.aws ?? awsClientConfig();
    this.sqs = new SQSClient(aws);
    this.dynamo = new DynamoDBClient(aws);
    this.submissions = new SqsWorkQueue(this.sqs, options.endpoints.submissionsQueueUrl);
    this.store = new DynamoJobStore(this.dynamo, options.endpoints.tables);
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
    const message = parseOrThrow(
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

  close(): void {
    this.sqs.destroy();
    this.dynamo.destroy();
  }
}
