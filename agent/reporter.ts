import type { Resources } from '../lib/core/model/resources.ts';
import { parseOrThrow } from '../lib/core/model/validate.ts';
import type { ReportSink } from '../lib/core/ports.ts';
import { PROTOCOL_VERSION } from '../lib/core/protocol/envelope.ts';
import {
  type AgentState,
  type GpuInfo,
  type Heartbeat,
  HeartbeatSchema,
  type RunningTaskRef,
} from '../lib/core/protocol/heartbeat.ts';
import {
  MAX_EVENT_MESSAGE_CHARS as MAX_MESSAGE_CHARS,
  type TaskEvent,
  type TaskEventInput,
  TaskEventSchema,
} from '../lib/core/protocol/tasks.ts';
import { errorText, type Logger } from './log.ts';

/**
 * Sends TaskEvents and Heartbeats to the reports queue. Every message is validated against its schema
 * before it leaves (a bug here must not become a poison message downstream), and retryable send
 * failures are retried with backoff. A failure that outlasts the retries is thrown to the caller, who
 * then keeps the task's message so the result is reported again on redelivery.
 */

export interface ReporterOptions {
  readonly attempts?: number;
  readonly baseDelayMs?: number;
}

/** What a heartbeat says about the agent at one moment. */
export interface AgentSnapshot {
  readonly state: AgentState;
  readonly capacity: Resources;
  readonly free: Resources;
  readonly freeGpuIndices: readonly number[];
  readonly gpus: readonly GpuInfo[];
  readonly running: readonly RunningTaskRef[];
  readonly waiting: readonly RunningTaskRef[];
}

export class Reporter {
  private seq = 0;
  private readonly attempts: number;
  private readonly baseDelayMs: number;

  constructor(
    private readonly sink: ReportSink,
    private readonly ids: {
      instanceId: string;
      instanceType: string;
      agentVersion: string;
      bootId: string;
      queueUrl?: string;
    },
    private readonly now: () => number,
    private readonly logger: Logger,
    options: ReporterOptions = {},
  ) {
    this.attempts = options.attempts ?? 5;
    this.baseDelayMs = options.baseDelayMs ?? 200;
  }

  /** Build (and validate) a TaskEvent for this instance; `at` and `instanceId` are filled in. */
  buildTaskEvent(event: Omit<TaskEventInput, 'version' | 'kind' | 'instanceId' | 'at'>): TaskEvent {
    // Messages quote commands and errors of any length; cut them rather than fail the report.
    const message = event.message === undefined ? {} : { message: event.message.slice(0, MAX_MESSAGE_CHARS) };
    return parseOrThrow(
      TaskEventSchema,
      {
        version: PROTOCOL_VERSION,
        kind: 'TaskEvent',
        instanceId: this.ids.instanceId,
        at: this.now(),
        ...event,
        ...message,
      },
      'task event',
    );
  }

  async sendTaskEvent(event: TaskEvent): Promise<void> {
    await this.send(event);
  }

  /** Send an event built earlier again (a redelivered RunTask of a finished task), marked as a repeat. */
  async repeat(event: TaskEvent): Promise<void> {
    const again: TaskEvent = { ...event, at: this.now(), repeat: true };
    await this.send(again);
  }

  /** Send the next heartbeat; sequence numbers start at 0 and never repeat within one agent process. */
  async heartbeat(snapshot: AgentSnapshot): Promise<Heartbeat> {
    const message = parseOrThrow(
      HeartbeatSchema,
      {
        version: PROTOCOL_VERSION,
        kind: 'Heartbeat',
        instanceId: this.ids.instanceId,
        instanceType: this.ids.instanceType,
        ...snapshot,
        agentVersion: this.ids.agentVersion,
        protocolVersion: PROTOCOL_VERSION,
        bootId: this.ids.bootId,
        seq: this.seq++,
        at: this.now(),
        ...(this.ids.queueUrl ? { queueUrl: this.ids.queueUrl } : {}),
      },
      'heartbeat',
    );
    await this.send(message);
    return message;
  }

  private async send(message: { readonly kind: string; readonly version: number }): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.sink.send(message);
        return;
      } catch (error) {
        const retryable = (error as { retryable?: unknown }).retryable === true;
        if (!retryable || attempt >= this.attempts) throw error;
        const delay = this.baseDelayMs * 2 ** (attempt - 1);
        this.logger.log('warn', 'report send failed, retrying', {
          kind: message.kind,
          attempt,
          error: errorText(error),
        });
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }
}
