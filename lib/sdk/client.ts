import { createHash, randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { type AwsClientConfig, awsClientConfig } from '../aws/client-config.ts';
import { DynamoJobStore } from '../aws/dynamo-job-store.ts';
import { DynamoPipelineStore } from '../aws/dynamo-pipeline-store.ts';
import { InvalidRequestError } from '../aws/errors.ts';
import { SqsWorkQueue } from '../aws/sqs-work-queue.ts';
import { discoverStack, type StackEndpoints } from '../aws/stack-outputs.ts';
import { ConflictError, NotFoundError, ValidationError } from '../core/errors.ts';
import type { Job, JobSpecInput } from '../core/model/job.ts';
import { isTerminal, JOB_STATES, type JobStatus } from '../core/model/job-state.ts';
import {
  PIPELINE_STATUSES,
  type PipelineRecord,
  type PipelineStatus,
  type ServingEndpoint,
  unansweredBy,
} from '../core/model/pipeline-serving.ts';
import { parseInputOrThrow, parseOrThrow } from '../core/model/validate.ts';
import {
  PipelineIdSchema,
  type PipelineReport,
  type SubmitPipelineInput,
  SubmitPipelineSchema,
} from '../core/protocol/pipeline.ts';
import { JobIdSchema, SubmitJobSchema } from '../core/protocol/submission.ts';
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
  /**
   * Two submissions with the same key create one job. Without `jobId`, the job id is derived from the key
   * (see `jobIdForKey`), so a retried submit returns the id of the job the first one created.
   */
  readonly idempotencyKey?: string;
  /**
   * Choose the job id yourself (e.g. to resend after a lost reply); by default derived from
   * `idempotencyKey` when there is one, else random.
   */
  readonly jobId?: string;
}

export interface WaitOptions {
  /** A finite number of milliseconds, 0 or more. @default 600000 (10 minutes) */
  readonly timeoutMs?: number;
  /** Called whenever the job's status changes, with the job as last read. */
  readonly onProgress?: (job: Job) => void;
  /** First poll interval, from 10 ms to 60 s; it backs off to 2 s. @default 250 */
  readonly pollMs?: number;
}

export interface SubmitPipelineOptions {
  /**
   * Two submissions with the same key create one pipeline. Without `pipelineId`, the pipeline id is
   * derived from the key (see `pipelineIdForKey`), so a retried submit returns the same id.
   */
  readonly idempotencyKey?: string;
  /**
   * Choose the pipeline id yourself; by default derived from `idempotencyKey` when there is one, else
   * the spec's name and a random suffix.
   */
  readonly pipelineId?: string;
}

export interface ListJobsQuery {
  /** Only jobs in this state, oldest first. */
  readonly status?: JobStatus;
  /** Most jobs in this page, 1 to 1000. @default 100 */
  readonly limit?: number;
  /** Where to go on: the `cursor` a previous page returned. */
  readonly cursor?: string;
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
  /** A finite number of milliseconds, 0 or more. @default 600000 (10 minutes) */
  readonly timeoutMs?: number;
  /**
   * Called whenever the record changes, with the record as last read; with `answering`, also whenever what
   * the pipeline still lacks changes (`waitingFor`, e.g. `["a replica of classify", "the router"]`).
   */
  readonly onProgress?: (record: PipelineRecord, waitingFor?: readonly string[]) => void;
  /** First poll interval, from 10 ms to 60 s; it backs off to 2 s. @default 250 */
  readonly pollMs?: number;
  /**
   * With status SERVING: also wait until the router and a replica of every stage are listed, so that a
   * query sent next is answered. SERVING alone means planned: its replicas may still be starting.
   */
  readonly answering?: boolean;
}

/** Shortest first poll interval: faster polling only spends reads. */
export const MIN_POLL_MS = 10;
/** Longest first poll interval (later polls are every 2 s at most anyway). */
export const MAX_POLL_MS = 60_000;
/** Most jobs one `listJobs` page returns: what the store reads per page at most. */
export const MAX_LIST_LIMIT = 1000;

/**
 * The job id a submission with idempotency key `key` gets when it names none: `job-` and 32 hex digits
 * of the key's SHA-256, shaped like a UUID. Every retry with the key names the same job.
 */
export function jobIdForKey(key: string): string {
  const hex = createHash('sha256').update(`job\n${key}`).digest('hex');
  return `job-${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * The pipeline id a submission with idempotency key `key` gets when it names none: `pipeline-` and 24
 * hex digits of the key's SHA-256. It does not depend on the spec: admission dedupes on the key alone, so
 * the id must be the one the first submission with the key got.
 */
export function pipelineIdForKey(key: string): string {
  return `pipeline-${createHash('sha256').update(`pipeline\n${key}`).digest('hex').slice(0, 24)}`;
}

/** A non-negative, finite number of milliseconds (NaN would make a wait poll for ever). */
const TimeoutMsSchema = z
  .number({
    error: (issue) => `timeoutMs must be a finite number of milliseconds, got ${String(issue.input)}`,
  })
  .min(0, { error: 'timeoutMs must be at least 0' });

const PollMsSchema = z
  .number({ error: (issue) => `pollMs must be a finite number of milliseconds, got ${String(issue.input)}` })
  .min(MIN_POLL_MS, { error: `pollMs must be at least ${MIN_POLL_MS}` })
  .max(MAX_POLL_MS, { error: `pollMs must be at most ${MAX_POLL_MS}` });

const CallbackSchema = z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', {
  error: 'onProgress must be a function',
});

const WaitOptionsSchema = z.object({
  timeoutMs: TimeoutMsSchema.optional(),
  pollMs: PollMsSchema.optional(),
  onProgress: CallbackSchema.optional(),
});

const WaitForPipelineOptionsSchema = WaitOptionsSchema.extend({
  status: z
    .enum(PIPELINE_STATUSES, { error: `status must be one of ${PIPELINE_STATUSES.join(', ')}` })
    .optional(),
  answering: z.boolean({ error: 'answering must be true or false' }).optional(),
});

/**
 * A page cursor as the job store returns it: DynamoDB's LastEvaluatedKey (string and number attributes)
 * as base64url JSON. Checked here so that a mangled cursor is a clear error, not the store's.
 */
const CursorSchema = z
  .string({ error: 'cursor must be a string' })
  .regex(/^[A-Za-z0-9_-]{1,4096}$/, {
    error: 'cursor must be a cursor listJobs returned (base64url)',
    abort: true,
  })
  .refine(isStoreCursor, { error: 'cursor must be a cursor listJobs returned' });

function isStoreCursor(cursor: string): boolean {
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (typeof key !== 'object' || key === null || Array.isArray(key)) return false;
    const values = Object.values(key);
    return values.length > 0 && values.every((v) => typeof v === 'string' || typeof v === 'number');
  } catch {
    return false;
  }
}

const ListJobsQuerySchema = z.object({
  status: z.enum(JOB_STATES, { error: `status must be one of ${JOB_STATES.join(', ')}` }).optional(),
  limit: z
    .number({ error: 'limit must be a number' })
    .int({ error: 'limit must be a whole number' })
    .min(1, { error: 'limit must be at least 1' })
    .max(MAX_LIST_LIMIT, { error: `limit must be at most ${MAX_LIST_LIMIT}` })
    .optional(),
  cursor: CursorSchema.optional(),
});

const JobRefSchema = z.object({ jobId: JobIdSchema });
const PipelineRefSchema = z.object({ pipelineId: PipelineIdSchema });

/** A job id as admission accepts it; any other could only draw a raw error from the store. */
function checkJobId(jobId: string): void {
  parseOrThrow(JobRefSchema, { jobId }, 'job id');
}

function checkPipelineId(pipelineId: string): void {
  parseOrThrow(PipelineRefSchema, { pipelineId }, 'pipeline id');
}

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

  /**
   * Validates and sends a job; resolves with its id once the submissions queue has it. With an
   * `idempotencyKey` and no `jobId`, the id is derived from the key (`jobIdForKey`): a retry after a lost
   * reply, or a second run of the same CI step, returns the id of the one job the key created.
   */
  async submitJob(spec: JobSpecInput, options: SubmitOptions = {}): Promise<{ jobId: string }> {
    const key = options.idempotencyKey;
    const jobId = options.jobId ?? (typeof key === 'string' ? jobIdForKey(key) : `job-${randomUUID()}`);
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
    parseOrThrow(ListJobsQuerySchema, query, 'listJobs options');
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
    parseOrThrow(WaitOptionsSchema, options, 'waitForJob options');
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
    const name = typeof spec?.name === 'string' ? spec.name.slice(0, 54) : 'pipeline';
    const key = options.idempotencyKey;
    const pipelineId =
      options.pipelineId ??
      (typeof key === 'string' ? pipelineIdForKey(key) : `${name}-${randomUUID().slice(0, 8)}`);
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
    parseOrThrow(WaitForPipelineOptionsSchema, options, 'waitForPipeline options');
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
