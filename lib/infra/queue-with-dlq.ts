import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface QueueWithDlqProps {
  /**
   * How long a received message stays hidden. Keep it at least six times the consumer's timeout, as
   * Lambda recommends, so a slow batch is not redelivered while it still runs.
   * @default Duration.seconds(180)
   */
  readonly visibilityTimeout?: Duration;
  /**
   * Receives after which a message moves to the DLQ. A poison message is not retried by the handler,
   * so this bounds only retryable failures.
   * @default 5
   */
  readonly maxReceiveCount?: number;
  /**
   * How long the DLQ keeps messages for inspection and redrive.
   * @default Duration.days(14)
   */
  readonly dlqRetention?: Duration;
}

/**
 * A work queue and its dead-letter queue, both with SQS-managed server-side encryption and TLS-only
 * access. SQS-managed keys (rather than a KMS key) let EventBridge deliver into the queue without a
 * key policy.
 */
export class QueueWithDlq extends Construct {
  readonly queue: sqs.Queue;
  readonly dlq: sqs.Queue;
  readonly maxReceiveCount: number;

  constructor(scope: Construct, id: string, props: QueueWithDlqProps = {}) {
    super(scope, id);
    this.maxReceiveCount = props.maxReceiveCount ?? 5;
    this.dlq = new sqs.Queue(this, 'Dlq', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: props.dlqRetention ?? Duration.days(14),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.queue = new sqs.Queue(this, 'Resource', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: props.visibilityTimeout ?? Duration.seconds(180),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.dlq, maxReceiveCount: this.maxReceiveCount },
      removalPolicy: RemovalPolicy.DESTROY,
    });
  }
}
