export type { Job, JobSpec, JobSpecInput } from '../core/model/job.ts';
export type { JobStatus } from '../core/model/job-state.ts';
export type { PipelineSpec } from '../core/model/pipeline.ts';
export type { PipelineRecord, PipelineStatus } from '../core/model/pipeline-serving.ts';
export type { PipelineRejection } from '../core/ports.ts';
export {
  jobIdForKey,
  type ListJobsQuery,
  MAX_LIST_LIMIT,
  MAX_POLL_MS,
  MIN_POLL_MS,
  type PipelineView,
  pipelineIdForKey,
  type SubmitOptions,
  type SubmitPipelineOptions,
  TetrafleetClient,
  type TetrafleetClientOptions,
  type WaitForPipelineOptions,
  type WaitOptions,
} from './client.ts';
export * from './errors.ts';
