export { DEMO_CLOUD, type DemoOptions, type DemoResult, everyJobDone, runDemo } from './run-demo.ts';
export { buildWorkload, type PlannedJob, seededRandom, type WorkloadOptions } from './workload.ts';
