import { randomUUID } from 'node:crypto';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

/** The SQS event a Lambda event source mapping delivers (the fields handlers read). */
export interface SqsLambdaEvent {
  Records: {
    messageId: string;
    receiptHandle: string;
    body: string;
    attributes: Record<string, string>;
    messageAttributes: Record<string, never>;
    md5OfBody: string;
    eventSource: 'aws:sqs';
    eventSourceARN: string;
    awsRegion: string;
  }[];
}

export interface SqsRoute {
  readonly name: string;
  readonly queueUrl: string;
  /** The handler, as Lambda would call it; it answers with a partial batch response. */
  readonly handler: (
    event: SqsLambdaEvent,
  ) => Promise<{ batchItemFailures: { itemIdentifier: string }[] } | undefined>;
  /** @default 10 */
  readonly batchSize?: number;
  /** Seconds a failed item stays hidden before it is retried. @default 1 */
  readonly retryDelaySeconds?: number;
  /** A timer to run at once after a batch was handled (e.g. schedule after admit), like a nudge in AWS. */
  readonly nudges?: string;
}

export interface TimerRoute {
  readonly name: string;
  readonly everyMs: number;
  /** Called with an EventBridge "Scheduled Event"; runs of one timer never overlap. */
  readonly handler: (event: Record<string, unknown>) => Promise<unknown>;
}

export interface PumpStats {
  readonly delivered: Record<string, number>;
  readonly failed: Record<string, number>;
  readonly invocations: Record<string, number>;
  readonly errors: Record<string, number>;
}

/**
 * Delivers queue messages and schedules to the real handlers in-process, the way Lambda's event source
 * mappings and EventBridge rules do, because the emulator cannot run Lambda code. Like a mapping it
 * long-polls, hands a batch to the handler, deletes what succeeded and lets the items named in
 * `batchItemFailures` (or the whole batch, if the handler throws) come back after a delay, so they
 * reach the DLQ after the queue's maxReceiveCount.
 */
export class EventPump {
  private running = false;
  private readonly loops: Promise<void>[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly busy = new Set<string>();
  private readonly again = new Set<string>();
  private readonly stats: { [K in keyof PumpStats]: Record<string, number> } = {
    delivered: {},
    failed: {},
    invocations: {},
    errors: {},
  };
  private readonly abort = new AbortController();

  constructor(
    private readonly sqs: Pick<SQSClient, 'send'>,
    private readonly routes: { sqs: readonly SqsRoute[]; timers: readonly TimerRoute[] },
    private readonly onError: (route: string, error: unknown) => void = () => {},
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    for (const route of this.routes.sqs) this.loops.push(this.pollLoop(route));
    for (const timer of this.routes.timers) {
      this.timers.push(setInterval(() => void this.fire(timer), timer.everyMs));
    }
  }

  /** Runs a timer's handler now (a nudge), unless a run of it is in flight. */
  nudge(name: string): Promise<void> {
    const timer = this.routes.timers.find((t) => t.name === name);
    if (!timer)
      throw new RangeError(
        `no timer named ${name}; timers are ${this.routes.timers.map((t) => t.name).join(', ')}`,
      );
    return this.fire(timer);
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const t of this.timers) clearInterval(t);
    this.abort.abort();
    await Promise.allSettled(this.loops);
    // Let in-flight timer runs finish so nothing touches the emulator after stop resolves.
    while (this.busy.size > 0) await new Promise((r) => setTimeout(r, 20));
  }

  snapshot(): PumpStats {
    return structuredClone(this.stats);
  }

  private count(kind: keyof PumpStats, name: string, n = 1): void {
    this.stats[kind][name] = (this.stats[kind][name] ?? 0) + n;
  }

  private async fire(timer: TimerRoute): Promise<void> {
    if (!this.running) return;
    if (this.busy.has(timer.name)) {
      // A nudge during a run is not lost: the timer runs once more as soon as this run ends.
      this.again.add(timer.name);
      return;
    }
    this.busy.add(timer.name);
    try {
      do {
        this.again.delete(timer.name);
        this.count('invocations', timer.name);
        try {
          await timer.handler(scheduledEvent());
        } catch (error) {
          this.count('errors', timer.name);
          this.onError(timer.name, error);
        }
      } while (this.running && this.again.has(timer.name));
    } finally {
      this.busy.delete(timer.name);
    }
  }

  private async pollLoop(route: SqsRoute): Promise<void> {
    while (this.running) {
      let messages: Message[] = [];
      try {
        const out = await this.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: route.queueUrl,
            MaxNumberOfMessages: route.batchSize ?? 10,
            WaitTimeSeconds: 1,
            MessageSystemAttributeNames: ['All'],
          }),
          { abortSignal: this.abort.signal },
        );
        messages = out.Messages ?? [];
      } catch (error) {
        if (!this.running) return;
        this.count('errors', route.name);
        this.onError(route.name, error);
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      if (messages.length > 0) await this.deliver(route, messages);
    }
  }

  private async deliver(route: SqsRoute, messages: Message[]): Promise<void> {
    const event = sqsEvent(route.queueUrl, messages);
    let failedIds: Set<string>;
    try {
      this.count('invocations', route.name);
      const response = await route.handler(event);
      failedIds = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
    } catch (error) {
      this.count('errors', route.name);
      this.onError(route.name, error);
      failedIds = new Set(messages.map((m) => m.MessageId ?? ''));
    }
    const done = messages.filter((m) => !failedIds.has(m.MessageId ?? ''));
    const failed = messages.filter((m) => failedIds.has(m.MessageId ?? ''));
    this.count('delivered', route.name, done.length);
    if (route.nudges && done.length > 0) void this.nudge(route.nudges);
    this.count('failed', route.name, failed.length);
    if (done.length > 0) {
      await this.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: route.queueUrl,
          Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
        }),
      );
    }
    if (failed.length > 0) {
      await this.sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: route.queueUrl,
          Entries: failed.map((m, i) => ({
            Id: String(i),
            ReceiptHandle: m.ReceiptHandle ?? '',
            VisibilityTimeout: route.retryDelaySeconds ?? 1,
          })),
        }),
      );
    }
  }
}

function sqsEvent(queueUrl: string, messages: Message[]): SqsLambdaEvent {
  const name = queueUrl.split('/').at(-1) ?? 'queue';
  return {
    Records: messages.map((m) => ({
      messageId: m.MessageId ?? '',
      receiptHandle: m.ReceiptHandle ?? '',
      body: m.Body ?? '',
      attributes: { ...(m.Attributes ?? {}) } as Record<string, string>,
      messageAttributes: {},
      md5OfBody: m.MD5OfBody ?? '',
      eventSource: 'aws:sqs',
      eventSourceARN: `arn:aws:sqs:us-east-1:000000000000:${name}`,
      awsRegion: 'us-east-1',
    })),
  };
}

/** An EventBridge "Scheduled Event", as a rate rule delivers it. */
export function scheduledEvent(id: string = randomUUID()): Record<string, unknown> {
  return {
    version: '0',
    id,
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '000000000000',
    time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: 'us-east-1',
    resources: [],
    detail: {},
  };
}
