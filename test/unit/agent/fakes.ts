import type { QueueMessage, ReportSink, WorkQueue } from '../../../lib/core/ports.ts';

interface Stored {
  id: string;
  body: string;
  receives: number;
  invisibleUntil: number;
  receipt?: string;
  deleted: boolean;
}

/**
 * An in-memory queue with SQS-like visibility: a received message is hidden until deleted or its
 * visibility lapses. Records every call so tests can assert deletes and hand-backs.
 */
export class FakeWorkQueue implements WorkQueue {
  readonly messages: Stored[] = [];
  readonly calls: { op: string; receipt?: string; seconds?: number }[] = [];
  private seq = 0;
  private wake = new Set<() => void>();

  async send(body: string): Promise<void> {
    this.messages.push({ id: `m${++this.seq}`, body, receives: 0, invisibleUntil: 0, deleted: false });
    for (const w of [...this.wake]) w();
  }

  async receive(options: {
    maxMessages: number;
    waitSeconds: number;
    visibilityTimeoutSeconds?: number;
    abortSignal?: AbortSignal;
  }): Promise<QueueMessage[]> {
    const deadline = Date.now() + options.waitSeconds * 1000;
    for (;;) {
      if (options.abortSignal?.aborted) return [];
      const now = Date.now();
      const ready = this.messages
        .filter((m) => !m.deleted && m.invisibleUntil <= now)
        .slice(0, options.maxMessages);
      if (ready.length > 0 || now >= deadline) {
        return ready.map((m) => {
          m.receives++;
          m.receipt = `${m.id}-r${m.receives}`;
          m.invisibleUntil = now + (options.visibilityTimeoutSeconds ?? 30) * 1000;
          return { id: m.id, body: m.body, receiptHandle: m.receipt, receiveCount: m.receives };
        });
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.wake.delete(done);
          options.abortSignal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(50, Math.max(1, deadline - now)));
        this.wake.add(done);
        options.abortSignal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  async delete(receiptHandle: string): Promise<void> {
    this.calls.push({ op: 'delete', receipt: receiptHandle });
    const m = this.byReceipt(receiptHandle);
    if (m) m.deleted = true;
  }

  async changeVisibility(receiptHandle: string, seconds: number): Promise<void> {
    this.calls.push({ op: 'changeVisibility', receipt: receiptHandle, seconds });
    const m = this.byReceipt(receiptHandle);
    if (m && !m.deleted) m.invisibleUntil = Date.now() + seconds * 1000;
    if (seconds === 0) for (const w of [...this.wake]) w();
  }

  /** Messages not deleted. */
  remaining(): Stored[] {
    return this.messages.filter((m) => !m.deleted);
  }

  private byReceipt(receipt: string): Stored | undefined {
    return this.messages.find((m) => receipt.startsWith(`${m.id}-r`));
  }
}

type Report = { readonly kind: string; readonly version: number } & Record<string, unknown>;

/** Records reports; `failNext(n)` makes the next n sends throw a retryable error. */
export class FakeReportSink implements ReportSink {
  readonly sent: Report[] = [];
  private failures = 0;

  private retryable = false;

  failNext(n: number, retryable = false): void {
    this.failures = n;
    this.retryable = retryable;
  }

  get pendingFailures(): number {
    return this.failures;
  }

  async send(message: { readonly kind: string; readonly version: number }): Promise<void> {
    if (this.failures > 0) {
      this.failures--;
      throw Object.assign(new Error('report sink failure'), { retryable: this.retryable });
    }
    this.sent.push(structuredClone(message) as Report);
  }

  events(jobId?: string): Report[] {
    return this.sent.filter((m) => m.kind === 'TaskEvent' && (jobId === undefined || m.jobId === jobId));
  }

  heartbeats(): Report[] {
    return this.sent.filter((m) => m.kind === 'Heartbeat');
  }
}

/** Poll `check` until it returns a truthy value or the deadline passes (generous: the machine is shared). */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  what: string,
  timeoutMs = 30_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
