import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { type AwsAdapterConfig, type AwsAdapters, createAwsAdapters } from '../aws/adapters.ts';
import { type AwsClientConfig, awsClientConfig } from '../aws/client-config.ts';
import { discoverStack, type StackEndpoints } from '../aws/stack-outputs.ts';
import { NotFoundError } from '../core/errors.ts';
import type { LocalCloud } from '../local/local-cloud.ts';
import { TetrafleetClient } from '../sdk/client.ts';
import { CliEnvironmentError } from './errors.ts';

/** Where a CLI command reads and writes: an SDK client and the adapters over the same stack. */
export interface CliSource {
  readonly client: TetrafleetClient;
  readonly adapters: AwsAdapters;
  readonly stackName: string;
  /** The AWS endpoint in use (the emulator's URL locally), or undefined for real AWS. */
  readonly endpoint?: string;
  /** The stack's events queue (EC2 events), where a stack publishes it. */
  readonly eventsQueueUrl?: string;
  close(): void;
}

export interface OpenSourceOptions {
  /** A deployed stack's name; with `endpoint`, looked up there, else in the account of the environment. */
  readonly stack?: string;
  /** An AWS endpoint (an emulator) holding the stack. */
  readonly endpoint?: string;
  /** The file `tetrafleet up` writes. @default '.tetrafleet/local.json' */
  readonly stateFile?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export const DEFAULT_STATE_FILE = '.tetrafleet/local.json';
export const DEFAULT_STACK_NAME = 'tetrafleet-local';

/** What `tetrafleet up` leaves behind so that later commands find the local cloud. */
export const LocalStateSchema = z.object({
  version: z.literal(1),
  endpoint: z.url(),
  stackName: z.string().min(1),
  pid: z.number().int().positive(),
  startedAt: z.number().int(),
});
export type LocalState = z.infer<typeof LocalStateSchema>;

const NO_LOCAL_CLOUD =
  'no local cloud is running: start one with `tetrafleet up`, or pass --stack/--endpoint';

/**
 * Opens the stack a command talks to. With `--stack`/`--endpoint` the stack's outputs are discovered;
 * otherwise the local cloud recorded by `tetrafleet up` is used, and a missing or stale record is an
 * environment error that says how to start one.
 */
export async function openSource(opts: OpenSourceOptions = {}): Promise<CliSource> {
  const env = opts.env ?? process.env;
  if (opts.stack || opts.endpoint) {
    const stackName = opts.stack ?? DEFAULT_STACK_NAME;
    return openDeployed(stackName, awsClientConfig(env, opts.endpoint ?? env.AWS_ENDPOINT_URL));
  }
  const state = readLocalState(opts.stateFile ?? DEFAULT_STATE_FILE);
  if (!state || !(await answers(state.endpoint))) throw new CliEnvironmentError(NO_LOCAL_CLOUD);
  return openDeployed(state.stackName, awsClientConfig(env, state.endpoint));
}

/** The recorded local cloud, or undefined when there is no (readable) record. */
export function readLocalState(file: string): LocalState | undefined {
  const path = resolve(file);
  if (!existsSync(path)) return undefined;
  try {
    const parsed = LocalStateSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** A CliSource over a LocalCloud this process runs (the demo, tests). */
export function fromLocalCloud(cloud: LocalCloud): CliSource {
  const client = cloud.client();
  const adapters = createAwsAdapters(cloud.config.adapters);
  return {
    client,
    adapters,
    stackName: cloud.stackName,
    endpoint: cloud.endpoint,
    eventsQueueUrl: cloud.config.queues.events,
    close: () => {
      client.close();
      adapters.destroy();
    },
  };
}

/** Builds the same adapter settings a handler gets, from a deployed stack's outputs. */
export function adapterConfigFor(
  stackName: string,
  endpoints: StackEndpoints,
  aws: AwsClientConfig,
): AwsAdapterConfig {
  return {
    aws,
    stackName,
    tables: endpoints.tables,
    instanceQueuePrefix: endpoints.instanceQueuePrefix ?? `${stackName}-instance-`,
    launchTemplates: endpoints.launchTemplates ?? { cpu: '', gpu: '' },
  };
}

async function openDeployed(stackName: string, aws: AwsClientConfig): Promise<CliSource> {
  if (aws.endpoint && !(await answers(aws.endpoint)))
    throw new CliEnvironmentError(
      `nothing answers at ${aws.endpoint}: start the emulator (or \`tetrafleet up\`), or fix --endpoint`,
    );
  const endpoints = await discoverStack(stackName, { ...aws, maxAttempts: 2 }).catch((error: unknown) => {
    if (error instanceof NotFoundError)
      throw new CliEnvironmentError(
        `stack ${stackName} was not found${aws.endpoint ? ` at ${aws.endpoint}` : ''}: deploy it, or pass the right --stack`,
      );
    throw new CliEnvironmentError(`cannot read stack ${stackName}: ${firstLine(error)}`, { cause: error });
  });
  const client = new TetrafleetClient({ endpoints, aws });
  const adapters = createAwsAdapters(adapterConfigFor(stackName, endpoints, aws));
  return {
    client,
    adapters,
    stackName,
    endpoint: aws.endpoint,
    ...(endpoints.eventsQueueUrl ? { eventsQueueUrl: endpoints.eventsQueueUrl } : {}),
    close: () => {
      client.close();
      adapters.destroy();
    },
  };
}

/** True when something answers HTTP at `endpoint` within a short time (any status will do). */
export async function answers(endpoint: string, timeoutMs = 3000): Promise<boolean> {
  try {
    await fetch(endpoint, { signal: AbortSignal.timeout(timeoutMs) });
    return true;
  } catch {
    return false;
  }
}

function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error).split('\n')[0] ?? '';
}
