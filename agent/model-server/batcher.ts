import { TetrafleetError, TransientError } from '../../lib/core/errors.ts';

/**
 * Dynamic batching (the Clipper / Triton scheme). Requests wait in a bounded FIFO queue; a batch leaves
 * when `maxBatch` rows are waiting or the oldest request has waited `maxQueueDelayMs`, whichever comes
 * first, and only while fewer than `concurrentRunners` batches are running. A full queue sheds the request
 * at once (QueueFullError) instead of letting latency grow without bound.
 *
 *   arrive ──> [queue ≤ capacity] ──(rows ≥ maxBatch | oldest waited ≥ delay) & runner free──> run(batch)
 *                  │ full                                                                          │
 *                  └──> QueueFullError (503 + Retry-After)              split outputs, resolve each ┘
 *
 * Items carry a `key`: only items with the head's key join its batch (their trailing dims must match to
 * concatenate); others keep their place for a later batch.
 */

export interface BatcherOptions {
  readonly maxBatch: number;
  readonly maxQueueDelayMs: number;
  readonly queueCapacity: number;
  readonly concurrentRunners: number;
  /** Monotonic milliseconds (performance.now in production). */
  readonly now: () => number;
}

/** Where one request's time went, in milliseconds. */
export interface RequestTiming {
  readonly queueMs: number;
  readonly computeMs: number;
  readonly totalMs: number;
  /** Rows in the batch this request ran in. */
  readonly batchSize: number;
}

export interface BatchObserver {
  onArrival?(): void;
  onShed?(): void;
  /** A batch of `rows` rows completed. */
  onBatch?(rows: number): void;
  onComplete?(timing: RequestTiming): void;
  onError?(requests: number): void;
}

/** Runs one batch; must return one output per input, in order. */
export type RunBatch<I, O> = (inputs: readonly I[]) => Promise<readonly O[]>;

export class QueueFullError extends TransientError {
  constructor(
    readonly depth: number,
    readonly capacity: number,
    readonly retryAfterSeconds: number,
  ) {
    super(`queue is full: ${depth} of ${capacity} requests waiting`);
  }
}

export class BatcherClosedError extends TetrafleetError {
  readonly retryable = true;
  constructor() {
    super('model server is stopping');
  }
}

interface Pending<I, O> {
  readonly input: I;
  readonly rows: number;
  readonly key: string;
  readonly arrivedAt: number;
  readonly resolve: (value: { output: O; timing: RequestTiming }) => void;
  readonly reject: (error: unknown) => void;
}

export class DynamicBatcher<I, O> {
  private queue: Pending<I, O>[] = [];
  private running = 0;
  private timer: NodeJS.Timeout | undefined;
  /** The queue head the armed timer is for: re-arming for the same head would only churn timers. */
  private timerHead: Pending<I, O> | undefined;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  /** Smoothed batch run time, for the Retry-After estimate. */
  private batchMsEstimate = 0;

  constructor(
    private readonly run: RunBatch<I, O>,
    private readonly options: BatcherOptions,
    private readonly observer: BatchObserver = {},
  ) {}

  get depth(): number {
    return this.queue.length;
  }

  get inFlight(): number {
    return this.running;
  }

  /** Queue one request of `rows` rows; resolves with its output and timing once its batch has run. */
  submit(input: I, rows = 1, key = ''): Promise<{ output: O; timing: RequestTiming }> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    this.observer.onArrival?.();
    return new Promise((resolve, reject) => {
      this.queue.push({ input, rows, key, arrivedAt: this.options.now(), resolve, reject });
      this.pump();
    });
  }

  /**
   * Why a request arriving now would be refused (closed, or the queue full), counted as that request's
   * arrival and shed; undefined when it would be queued. Lets a server refuse before reading a body.
   */
  refusal(): BatcherClosedError | QueueFullError | undefined {
    if (this.closed) {
      this.observer.onArrival?.();
      return new BatcherClosedError();
    }
    if (this.queue.length < this.options.queueCapacity) return undefined;
    this.observer.onArrival?.();
    this.observer.onShed?.();
    return new QueueFullError(this.queue.length, this.options.queueCapacity, this.retryAfter());
  }

  /** Stop taking requests. With `drain`, queued requests still run; otherwise they fail now. */
  async close(drain = true): Promise<void> {
    this.closed = true;
    if (!drain) {
      const dropped = this.queue.splice(0);
      for (const item of dropped) item.reject(new BatcherClosedError());
    }
    this.pump(true);
    if (this.queue.length === 0 && this.running === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Start every batch that is due; arm the delay timer for the next one otherwise. */
  private pump(flush = false): void {
    while (this.running < this.options.concurrentRunners && this.queue.length > 0) {
      if (!flush && !this.closed && !this.due()) break;
      this.start(this.take());
    }
    this.armTimer();
    if (this.queue.length === 0 && this.running === 0) {
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  private due(): boolean {
    const head = this.queue[0];
    if (!head) return false;
    if (this.queuedRows(head.key) >= this.options.maxBatch) return true;
    return this.options.now() - head.arrivedAt >= this.options.maxQueueDelayMs;
  }

  private queuedRows(key: string): number {
    let rows = 0;
    for (const item of this.queue) {
      if (item.key === key) rows += item.rows;
      if (rows >= this.options.maxBatch) break;
    }
    return rows;
  }

  /** Take the head and every later item with its key, in order, while the rows fit in maxBatch. */
  private take(): Pending<I, O>[] {
    const head = this.queue[0] as Pending<I, O>;
    const batch: Pending<I, O>[] = [];
    const skipped: Pending<I, O>[] = [];
    let rows = 0;
    let i = 0;
    // Stop scanning once the batch is full, so a long queue under overload costs one copy, not a rebuild.
    for (; i < this.queue.length && rows < this.options.maxBatch; i++) {
      const item = this.queue[i] as Pending<I, O>;
      const fits = batch.length === 0 || rows + item.rows <= this.options.maxBatch;
      if (item.key === head.key && fits) {
        batch.push(item);
        rows += item.rows;
      } else {
        skipped.push(item);
      }
    }
    this.queue = skipped.length === 0 ? this.queue.slice(i) : skipped.concat(this.queue.slice(i));
    return batch;
  }

  private start(batch: Pending<I, O>[]): void {
    this.running++;
    const startedAt = this.options.now();
    const rows = batch.reduce((sum, item) => sum + item.rows, 0);
    let outcome: Promise<readonly O[]>;
    try {
      outcome = this.run(batch.map((item) => item.input));
    } catch (error) {
      outcome = Promise.reject(error);
    }
    outcome.then(
      (outputs) => this.finish(batch, rows, startedAt, outputs),
      (error: unknown) => this.fail(batch, error),
    );
  }

  private finish(batch: Pending<I, O>[], rows: number, startedAt: number, outputs: readonly O[]): void {
    const finishedAt = this.options.now();
    const computeMs = finishedAt - startedAt;
    this.batchMsEstimate =
      this.batchMsEstimate === 0 ? computeMs : 0.8 * this.batchMsEstimate + 0.2 * computeMs;
    if (outputs.length !== batch.length) {
      this.fail(
        batch,
        new Error(`batch runner returned ${outputs.length} outputs for ${batch.length} requests`),
      );
      return;
    }
    this.running--;
    // Counted on completion, with the requests, so that an interval's batch sizes add up to its count.
    this.observer.onBatch?.(rows);
    batch.forEach((item, i) => {
      const timing: RequestTiming = {
        queueMs: startedAt - item.arrivedAt,
        computeMs,
        totalMs: finishedAt - item.arrivedAt,
        batchSize: rows,
      };
      this.observer.onComplete?.(timing);
      item.resolve({ output: outputs[i] as O, timing });
    });
    this.pump();
  }

  private fail(batch: Pending<I, O>[], error: unknown): void {
    this.running--;
    this.observer.onError?.(batch.length);
    for (const item of batch) item.reject(error);
    this.pump();
  }

  private armTimer(): void {
    const head = this.queue[0];
    const wanted = head && this.running < this.options.concurrentRunners ? head : undefined;
    if (this.timer && this.timerHead === wanted) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.timerHead = undefined;
    }
    if (!head || !wanted) return;
    this.timerHead = head;
    const wait = Math.max(0, head.arrivedAt + this.options.maxQueueDelayMs - this.options.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerHead = undefined;
      // The delay has passed for the head, whatever the clock's rounding says.
      if (this.running < this.options.concurrentRunners && this.queue.length > 0) this.start(this.take());
      this.pump();
    }, wait);
  }

  /** Seconds until the queue has likely drained: what a shed client should wait before retrying. */
  private retryAfter(): number {
    const batches = Math.ceil(this.queue.length / this.options.maxBatch) / this.options.concurrentRunners;
    return Math.max(1, Math.ceil((batches * this.batchMsEstimate) / 1000));
  }
}
