import { z } from 'zod';
import { type FieldIssue, ValidationError } from '../lib/core/errors.ts';
import { toFieldIssues } from '../lib/core/model/validate.ts';

/**
 * Agent configuration: read once from the environment and command-line flags (a flag wins over its
 * variable), validated as a whole, and frozen. Every bad or missing setting is reported in one
 * ValidationError whose paths are the variable names, so an operator fixes them all in one go.
 */

const show = (input: unknown) => JSON.stringify(input);

function numberSetting(min: number, max: number, options: { int?: boolean } = {}) {
  const what = options.int ? 'a whole number' : 'a number';
  return z
    .string()
    .trim()
    .regex(options.int ? /^-?\d+$/ : /^-?\d+(\.\d+)?$/, {
      error: (issue) => `must be ${what} between ${min} and ${max}, got ${show(issue.input)}`,
    })
    .transform(Number)
    .pipe(
      z
        .number()
        .min(min, { error: (issue) => `must be between ${min} and ${max}, got ${show(issue.input)}` })
        .max(max, { error: (issue) => `must be between ${min} and ${max}, got ${show(issue.input)}` }),
    );
}

const urlSetting = z.url({ error: (issue) => `must be a URL, got ${show(issue.input)}` });

/** One setting: its variable, its flag, its schema (over the raw string) and its default. */
const SETTINGS = {
  queueUrl: { env: 'TETRAFLEET_QUEUE_URL', flag: 'queue-url', schema: urlSetting, required: true },
  reportsQueueUrl: {
    env: 'TETRAFLEET_REPORTS_QUEUE_URL',
    flag: 'reports-queue-url',
    schema: urlSetting,
    required: true,
  },
  mode: {
    env: 'TETRAFLEET_MODE',
    flag: 'mode',
    schema: z.enum(['ec2', 'local'], {
      error: (issue) => `must be ec2 or local, got ${show(issue.input)}`,
    }),
    default: 'ec2',
  },
  instanceId: { env: 'TETRAFLEET_INSTANCE_ID', flag: 'instance-id', schema: z.string().trim().min(1) },
  instanceType: { env: 'TETRAFLEET_INSTANCE_TYPE', flag: 'instance-type', schema: z.string().trim().min(1) },
  vcpu: { env: 'TETRAFLEET_VCPU', flag: 'vcpu', schema: numberSetting(0.001, 448) },
  memoryMiB: {
    env: 'TETRAFLEET_MEMORY_MIB',
    flag: 'memory-mib',
    schema: numberSetting(1, 2_097_152, { int: true }),
  },
  gpus: { env: 'TETRAFLEET_GPUS', flag: 'gpus', schema: numberSetting(0, 16, { int: true }) },
  imdsUrl: {
    env: 'TETRAFLEET_IMDS_URL',
    flag: 'imds-url',
    schema: urlSetting,
    default: 'http://169.254.169.254',
  },
  imdsTimeoutMs: {
    env: 'TETRAFLEET_IMDS_TIMEOUT_MS',
    flag: 'imds-timeout-ms',
    schema: numberSetting(50, 60_000, { int: true }),
    default: '2000',
  },
  heartbeatSeconds: {
    env: 'TETRAFLEET_HEARTBEAT_SECONDS',
    flag: 'heartbeat-seconds',
    schema: numberSetting(0.05, 3600),
    default: '30',
  },
  pollWaitSeconds: {
    env: 'TETRAFLEET_POLL_WAIT_SECONDS',
    flag: 'poll-wait-seconds',
    schema: numberSetting(0, 20, { int: true }),
    default: '20',
  },
  visibilitySeconds: {
    env: 'TETRAFLEET_VISIBILITY_SECONDS',
    flag: 'visibility-seconds',
    schema: numberSetting(3, 43_200, { int: true }),
    default: '60',
  },
  killGraceSeconds: {
    env: 'TETRAFLEET_KILL_GRACE_SECONDS',
    flag: 'kill-grace-seconds',
    schema: numberSetting(0, 600),
    default: '10',
  },
  drainGraceSeconds: {
    env: 'TETRAFLEET_DRAIN_GRACE_SECONDS',
    flag: 'drain-grace-seconds',
    schema: numberSetting(0, 3600),
    default: '90',
  },
  spotPollSeconds: {
    env: 'TETRAFLEET_SPOT_POLL_SECONDS',
    flag: 'spot-poll-seconds',
    schema: numberSetting(0.05, 60),
    default: '5',
  },
  workDir: { env: 'TETRAFLEET_WORK_DIR', flag: 'work-dir', schema: z.string().trim().min(1) },
  outputTailBytes: {
    env: 'TETRAFLEET_OUTPUT_TAIL_BYTES',
    flag: 'output-tail-bytes',
    schema: numberSetting(256, 16_384, { int: true }),
    default: '4096',
  },
  rememberCompleted: {
    env: 'TETRAFLEET_REMEMBER_COMPLETED',
    flag: 'remember-completed',
    schema: numberSetting(1, 100_000, { int: true }),
    default: '1000',
  },
  profileCli: { env: 'TETRAFLEET_PROFILE_CLI', flag: 'profile-cli', schema: z.string().trim().min(1) },
  controlTable: { env: 'TETRAFLEET_CONTROL_TABLE', flag: 'control-table', schema: z.string().trim().min(1) },
  advertiseHost: {
    env: 'TETRAFLEET_ADVERTISE_HOST',
    flag: 'advertise-host',
    schema: z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9.:-]+$/, {
        error: (issue) => `must be a host name or IP address, got ${show(issue.input)}`,
      }),
  },
  nvidiaSmi: {
    env: 'TETRAFLEET_NVIDIA_SMI',
    flag: 'nvidia-smi',
    schema: z.string().min(1),
    default: 'nvidia-smi',
  },
} as const;

type SettingKey = keyof typeof SETTINGS;
const KEYS = Object.keys(SETTINGS) as SettingKey[];

const ConfigSchema = z.object(
  Object.fromEntries(
    KEYS.map((key): [string, z.ZodType] => {
      const s = SETTINGS[key];
      // Defaults are filled in before parsing so that they go through the same transforms.
      return [s.env, 'default' in s || 'required' in s ? s.schema : s.schema.optional()];
    }),
  ),
);

/** Required settings that are absent, and settings that one mode needs; checked on the raw strings. */
function presenceIssues(raw: Readonly<Record<string, string>>): FieldIssue[] {
  const issues: FieldIssue[] = KEYS.filter((k) => 'required' in SETTINGS[k] && !(SETTINGS[k].env in raw)).map(
    (k) => ({ path: SETTINGS[k].env, message: `is required (or pass --${SETTINGS[k].flag})` }),
  );
  if (raw.TETRAFLEET_MODE === 'local' && !raw.TETRAFLEET_INSTANCE_ID)
    issues.push({
      path: 'TETRAFLEET_INSTANCE_ID',
      message: 'is required in local mode (there is no instance metadata service to ask)',
    });
  return issues;
}

export type AgentMode = 'ec2' | 'local';

export interface AgentConfig {
  readonly queueUrl: string;
  readonly reportsQueueUrl: string;
  readonly mode: AgentMode;
  /** Given ids win; in ec2 mode missing ones are read from the instance metadata service. */
  readonly instanceId?: string;
  readonly instanceType?: string;
  /** Declared capacity; each given dimension overrides what the agent detects. */
  readonly vcpu?: number;
  readonly memoryMiB?: number;
  readonly gpus?: number;
  readonly imdsUrl: string;
  readonly imdsTimeoutMs: number;
  readonly heartbeatSeconds: number;
  readonly pollWaitSeconds: number;
  /** Visibility timeout of received messages; extended by this much while a task runs. */
  readonly visibilitySeconds: number;
  /** Time between SIGTERM and SIGKILL when a task is stopped. */
  readonly killGraceSeconds: number;
  /** How long running tasks may finish during a drain before they are handed back. */
  readonly drainGraceSeconds: number;
  readonly spotPollSeconds: number;
  /** Parent of the per-task working directories; a temp directory per instance when absent. */
  readonly workDir?: string;
  readonly outputTailBytes: number;
  /** How many finished tasks are remembered so a redelivered RunTask is re-reported, not re-run. */
  readonly rememberCompleted: number;
  readonly nvidiaSmi: string;
  /** Shell command line that runs the profile CLI, exported to tasks; computed for this checkout when absent. */
  readonly profileCli?: string;
  /** DynamoDB control table the routers read pipelines and replica endpoints from. */
  readonly controlTable?: string;
  /** Address serving endpoints advertise; 127.0.0.1 locally, the private IP from IMDS on EC2 when absent. */
  readonly advertiseHost?: string;
}

/** The variable for each flag, for help text and the local fleet that starts agents. */
export const AGENT_ENV_VARS: Readonly<Record<SettingKey, string>> = Object.freeze(
  Object.fromEntries(KEYS.map((k) => [k, SETTINGS[k].env])) as Record<SettingKey, string>,
);

/** Collect `--flag value` and `--flag=value` into variable names; unknown or valueless flags are issues. */
function flagsToEnv(argv: readonly string[]): { values: Record<string, string>; issues: FieldIssue[] } {
  const byFlag = new Map(KEYS.map((k) => [SETTINGS[k].flag as string, SETTINGS[k].env as string]));
  const values: Record<string, string> = {};
  const issues: FieldIssue[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const match = /^--([a-z0-9-]+)(?:=(.*))?$/s.exec(arg);
    const env = match?.[1] ? byFlag.get(match[1]) : undefined;
    if (!match || !env) {
      const known = [...byFlag.keys()].map((f) => `--${f}`).join(', ');
      issues.push({ path: arg, message: `unknown argument; flags are ${known}` });
      continue;
    }
    const value = match[2] ?? argv[i + 1];
    if (match[2] === undefined) i++;
    if (value === undefined) issues.push({ path: arg, message: 'needs a value' });
    else values[env] = value;
  }
  return { values, issues };
}

/**
 * Read the agent's configuration from `env` and `argv` (flags after the script name). Throws one
 * ValidationError listing every problem; returns a frozen config otherwise.
 */
export function readAgentConfig(env: NodeJS.ProcessEnv, argv: readonly string[] = []): AgentConfig {
  const flags = flagsToEnv(argv);
  const raw: Record<string, string> = {};
  for (const key of KEYS) {
    const name = SETTINGS[key].env;
    const value = flags.values[name] ?? env[name];
    // An empty variable means "not set", as shells and user data templates often leave them.
    if (value !== undefined && value !== '') raw[name] = value;
    else if ('default' in SETTINGS[key]) raw[name] = (SETTINGS[key] as { default: string }).default;
  }
  const parsed = ConfigSchema.safeParse(raw);
  const missing = presenceIssues(raw);
  const absent = new Set(missing.map((m) => m.path));
  // zod also flags an absent required setting, in the schema's words; keep only ours, which name the flag.
  const invalid = parsed.success ? [] : toFieldIssues(parsed.error).filter((i) => !absent.has(i.path));
  const issues = [...flags.issues, ...invalid, ...missing];
  if (!parsed.success || issues.length > 0) throw new ValidationError('agent config', issues);
  const out: Record<string, unknown> = {};
  for (const key of KEYS) {
    const value = (parsed.data as Record<string, unknown>)[SETTINGS[key].env];
    if (value !== undefined) out[key] = value;
  }
  return Object.freeze(out) as unknown as AgentConfig;
}
