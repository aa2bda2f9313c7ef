export type { Job, JobSpec, JobSpecInput } from '../core/model/job.ts';
export type { JobStatus } from '../core/model/job-state.ts';
export {
  type SubmitOptions,
  TetrafleetClient,
  type TetrafleetClientOptions,
  type WaitOptions,
} from './client.ts';
export * from './errors.ts';
