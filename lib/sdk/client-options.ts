/** What the client's methods take and return, apart from the domain types they pass through. */

import type { AwsClientConfig } from '../aws/client-config.ts';
import type { StackEndpoints } from '../aws/stack-outputs.ts';
import type { Job } from '../core/model/job.ts';
import type { JobStatus } from '../core/model/job-state.ts';
import type { PipelineRecord, PipelineStatus, ServingEndpoint } from '../core/model/pipeline-serving.ts';
import type { PipelineReport } from '../core/protocol/pipeline.ts';

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
