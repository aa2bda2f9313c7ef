import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { QueueMessage, ReportSink, WorkQueue } from '../core/ports.ts';
import { isStaleReceiptError, toDomainError } from './errors.ts';

/** The one SQSClient method used; tests and wiring pass a real client. */
export type SqsApi = Pick<SQSClient, 'send'>;

const MAX_WAIT_SECONDS = 20;
const MAX_VISIBILITY_SECONDS = 43_200;

function checkRange(what: string, value: number, min: number, max: number): void {
  if (!Number.isFinite(value) || value < min || value > max)
    throw new RangeError(`${what} must be between ${min} and ${max.toLocaleString('en-US')}, got ${value}`);
}

/**
 * WorkQueue over one SQS standard queue. Throttling and timeouts surface as TransientError; deleting or
 * extending a message whose receipt handle went stale is a no-op, as the port promises.
 */
export class SqsWorkQueue implements WorkQueue {
  constructor(
    private readonly sqs: SqsApi,
    readonly queueUrl: string,
  ) {}

  async send(body: string, options: { delaySeconds?: number } = {}): Promise<void> {
    if (options.delaySeconds !== undefined) checkRange('delaySeconds', options.delaySeconds, 0, 900);
    await this.call('send message', () =>
      this.sqs.send(
        new SendMessageCommand({
          QueueUrl: this.queueUrl,
          MessageBody: body,
          DelaySeconds: options.delaySeconds,
        }),
      ),
    );
  }

  /**
   * Long-polls for up to `waitSeconds`. An aborted poll (shutdown) returns no messages rather than
   * throwing; messages SQS handed out in that instant reappear after their visibility timeout.
   */
  async receive(options: {
    maxMessages: number;
    waitSeconds: number;
    visibilityTimeoutSeconds?: number;
    abortSignal?: AbortSignal;
  }): Promise<QueueMessage[]> {
    checkRange('maxMessages', options.maxMessages, 1, 10);
    checkRange('waitSeconds', options.waitSeconds, 0, MAX_WAIT_SECONDS);
    if (options.visibilityTimeoutSeconds !== undefined)
      checkRange('visibilityTimeoutSeconds', options.visibilityTimeoutSeconds, 0, MAX_VISIBILITY_SECONDS);
    if (options.abortSignal?.aborted) return [];
    const command = new ReceiveMessageCommand({
      QueueUrl: this.queueUrl,
      MaxNumberOfMessages: options.maxMessages,
      WaitTimeSeconds: options.waitSeconds,
      VisibilityTimeout: options.visibilityTimeoutSeconds,
      MessageSystemAttributeNames: ['ApproximateReceiveCount'],
    });
    try {
      const out = await this.sqs.send(command, { abortSignal: options.abortSignal });
      return (out.Messages ?? []).flatMap((m) => {
        if (!m.MessageId || !m.ReceiptHandle) return [];
        return [
          {
            id: m.MessageId,
            body: m.Body ?? '',
            receiptHandle: m.ReceiptHandle,
            receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? '1'),
          },
        ];
      });
    } catch (error) {
      if (options.abortSignal?.aborted) return [];
      throw toDomainError(error, `receive from ${this.queueUrl}`);
    }
  }

  async delete(receiptHandle: string): Promise<void> {
    await this.call(
      'delete message',
      () =>
        this.sqs.send(new DeleteMessageCommand({ QueueUrl: this.queueUrl, ReceiptHandle: receiptHandle })),
      true,
    );
  }

  async changeVisibility(receiptHandle: string, seconds: number): Promise<void> {
    checkRange('visibility timeout', seconds, 0, MAX_VISIBILITY_SECONDS);
    await this.call(
      'change message visibility',
      () =>
        this.sqs.send(
          new ChangeMessageVisibilityCommand({
            QueueUrl: this.queueUrl,
            ReceiptHandle: receiptHandle,
            VisibilityTimeout: seconds,
          }),
        ),
      true,
    );
  }

  private async call(action: string, fn: () => Promise<unknown>, staleIsNoop = false): Promise<void> {
    try {
      await fn();
    } catch (error) {
      if (staleIsNoop && isStaleReceiptError(error)) return;
      throw toDomainError(error, `${action} on ${this.queueUrl}`);
    }
  }
}

/** ReportSink that sends each protocol message as one JSON SQS message to the reports queue. */
export class SqsReportSink implements ReportSink {
  private readonly queue: SqsWorkQueue;

  constructor(
    sqs: SqsApi,
    readonly queueUrl: string,
  ) {
    this.queue = new SqsWorkQueue(sqs, queueUrl);
  }

  async send(message: { readonly kind: string; readonly version: number }): Promise<void> {
    await this.queue.send(JSON.stringify(message));
  }
}
