/**
 * Ports: the narrow interfaces through which core logic reaches the outside world. Adapters in
 * `lib/aws`, `lib/solver` and `lib/local` implement them; fakes in `test/fakes` stand in for unit tests.
 * Each later module adds the ports it needs here, documenting the contract and the errors it throws.
 */

/** Time, injected so that core never reads the wall clock. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

/** A message taken from a queue; hidden from other consumers until deleted or its visibility lapses. */
export interface QueueMessage {
  readonly id: string;
  readonly body: string;
  readonly receiptHandle: string;
  /** How many times this message has been received, this time included. */
  readonly receiveCount: number;
}

/**
 * A work queue with at-least-once delivery (SQS semantics). Implementations throw TransientError for
 * throttling and timeouts; a receipt handle that is no longer valid is a no-op on delete.
 */
export interface WorkQueue {
  send(body: string, options?: { delaySeconds?: number }): Promise<void>;
  receive(options: {
    maxMessages: number;
    waitSeconds: number;
    visibilityTimeoutSeconds?: number;
  }): Promise<QueueMessage[]>;
  delete(receiptHandle: string): Promise<void>;
  changeVisibility(receiptHandle: string, seconds: number): Promise<void>;
}

/** Where agents send reports (task events, heartbeats, latency). Each message is a versioned protocol object. */
export interface ReportSink {
  send(message: { readonly kind: string; readonly version: number }): Promise<void>;
}
