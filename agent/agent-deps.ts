import type { WorkQueue } from '../lib/core/ports.ts';
import type { RunTask } from '../lib/core/protocol/tasks.ts';
import type { DetectedCapacity } from './capacity.ts';
import type { Logger } from './log.ts';
import type { ModelHost } from './model-host.ts';
import type { Reporter } from './reporter.ts';
import type { ServingHost } from './serving-host.ts';
import type { RunningTask, StopReason, startTask } from './task-runner.ts';

export interface AgentSettings {
  readonly visibilitySeconds: number;
  readonly pollWaitSeconds: number;
  readonly heartbeatMs: number;
  readonly killGraceMs: number;
  readonly drainGraceMs: number;
  readonly tailBytes: number;
  readonly rememberCompleted: number;
  /** Parent of the per-task working directories. */
  readonly workDir: string;
  /** Environment every task starts from. */
  readonly baseEnv: Readonly<Record<string, string | undefined>>;
}

export interface AgentDeps {
  readonly queue: WorkQueue;
  readonly reporter: Reporter;
  readonly logger: Logger;
  readonly capacity: DetectedCapacity;
  readonly settings: AgentSettings;
  readonly now?: () => number;
  readonly modelHost?: ModelHost;
  /** Runs `model` and `router` tasks; without one they fail with the reason. */
  readonly servingHost?: ServingHost;
  readonly startTask?: typeof startTask;
}

export interface Entry {
  readonly key: string;
  readonly task: RunTask;
  /** Every delivery of this RunTask; all are extended while it runs and deleted once it is reported. */
  readonly receipts: Set<string>;
  phase: 'waiting' | 'running';
  run?: RunningTask & { readonly endpoint?: string };
  /** A stop asked for while the process was still being spawned. */
  pendingStop?: StopReason;
  cancelNote?: string;
}
