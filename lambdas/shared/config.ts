import { z } from 'zod';
import type { AwsAdapterConfig } from '../../lib/aws/adapters.ts';
import { awsClientConfig } from '../../lib/aws/client-config.ts';
import { toFieldIssues } from '../../lib/core/model/validate.ts';
import { describeIssues } from '../../lib/core/protocol/envelope.ts';

const csv = z
  .string()
  .default('')
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  );
const positive = z.coerce.number().positive();

/** The environment the stack gives every handler (see `TetrafleetStack`), read and checked once. */
const HandlerEnvSchema = z.object({
  TETRAFLEET_STACK_NAME: z.string().min(1),
  TETRAFLEET_JOBS_TABLE: z.string().min(1),
  TETRAFLEET_INSTANCES_TABLE: z.string().min(1),
  TETRAFLEET_PLACEMENTS_TABLE: z.string().min(1),
  TETRAFLEET_CONTROL_TABLE: z.string().min(1),
  TETRAFLEET_SUBMISSIONS_QUEUE_URL: z.string().min(1),
  TETRAFLEET_REPORTS_QUEUE_URL: z.string().min(1),
  TETRAFLEET_EVENTS_QUEUE_URL: z.string().min(1),
  TETRAFLEET_SUBMISSIONS_DLQ_URL: z.string().min(1),
  TETRAFLEET_REPORTS_DLQ_URL: z.string().min(1),
  TETRAFLEET_EVENTS_DLQ_URL: z.string().min(1),
  TETRAFLEET_INSTANCE_QUEUE_PREFIX: z.string().min(1),
  TETRAFLEET_CPU_LAUNCH_TEMPLATE_ID: z.string().min(1),
  TETRAFLEET_GPU_LAUNCH_TEMPLATE_ID: z.string().min(1),
  TETRAFLEET_INSTANCE_TYPES: csv,
  TETRAFLEET_MAX_FLEET_SIZE: positive.default(20),
  TETRAFLEET_BUDGET_PER_HOUR: positive.default(50),
});

export interface HandlerConfig {
  readonly adapters: AwsAdapterConfig;
  readonly dlqs: { readonly submissions: string; readonly reports: string; readonly events: string };
  readonly queues: { readonly submissions: string; readonly reports: string; readonly events: string };
  readonly instanceTypes: readonly string[];
  readonly maxFleetSize: number;
  readonly budgetPerHour: number;
}

export class HandlerConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HandlerConfigError';
  }
}

/** Reads the handler environment once; every missing or bad variable is reported in one error. */
export function readHandlerConfig(env: NodeJS.ProcessEnv): HandlerConfig {
  const parsed = HandlerEnvSchema.safeParse(env);
  if (!parsed.success)
    throw new HandlerConfigError(`bad handler environment: ${describeIssues(toFieldIssues(parsed.error))}`);
  const e = parsed.data;
  return Object.freeze({
    adapters: {
      aws: awsClientConfig(env),
      stackName: e.TETRAFLEET_STACK_NAME,
      tables: {
        jobs: e.TETRAFLEET_JOBS_TABLE,
        instances: e.TETRAFLEET_INSTANCES_TABLE,
        placements: e.TETRAFLEET_PLACEMENTS_TABLE,
        control: e.TETRAFLEET_CONTROL_TABLE,
      },
      instanceQueuePrefix: e.TETRAFLEET_INSTANCE_QUEUE_PREFIX,
      launchTemplates: { cpu: e.TETRAFLEET_CPU_LAUNCH_TEMPLATE_ID, gpu: e.TETRAFLEET_GPU_LAUNCH_TEMPLATE_ID },
    },
    dlqs: {
      submissions: e.TETRAFLEET_SUBMISSIONS_DLQ_URL,
      reports: e.TETRAFLEET_REPORTS_DLQ_URL,
      events: e.TETRAFLEET_EVENTS_DLQ_URL,
    },
    queues: {
      submissions: e.TETRAFLEET_SUBMISSIONS_QUEUE_URL,
      reports: e.TETRAFLEET_REPORTS_QUEUE_URL,
      events: e.TETRAFLEET_EVENTS_QUEUE_URL,
    },
    instanceTypes: e.TETRAFLEET_INSTANCE_TYPES,
    maxFleetSize: e.TETRAFLEET_MAX_FLEET_SIZE,
    budgetPerHour: e.TETRAFLEET_BUDGET_PER_HOUR,
  });
}

/** Builds a value on first use and keeps it for later invocations of the same Lambda instance. */
export function once<T>(build: () => T): () => T {
  let value: T | undefined;
  let built = false;
  return () => {
    if (!built) {
      value = build();
      built = true;
    }
    return value as T;
  };
}
