import { CreateQueueCommand, DeleteQueueCommand } from '@aws-sdk/client-sqs';
import { parseOrThrow } from '../core/model/validate.ts';
import type { InstanceChannel } from '../core/ports.ts';
import { CancelTaskSchema, DrainSchema, RunTaskSchema } from '../core/protocol/tasks.ts';
import { awsErrorCode, toDomainError } from './errors.ts';
import { type SqsApi, SqsWorkQueue } from './sqs-work-queue.ts';

export interface SqsInstanceChannelConfig {
  /** Queue names are `<prefix><instance id>`; the stack outputs the prefix and grants access to it. */
  readonly queuePrefix: string;
  /** Must exceed the agent's visibility extension period. @default 120 */
  readonly visibilityTimeoutSeconds?: number;
}

const SCHEMAS = { RunTask: RunTaskSchema, CancelTask: CancelTaskSchema, Drain: DrainSchema } as const;

/**
 * One SQS queue per instance, created when the instance is launched and deleted when it is gone.
 * CreateQueue with the same name and attributes returns the existing queue, which makes `open`
 * idempotent. Every message is validated before it is sent, so a malformed command never reaches an agent.
 */
export class SqsInstanceChannel implements InstanceChannel {
  constructor(
    private readonly sqs: SqsApi,
    private readonly config: SqsInstanceChannelConfig,
  ) {}

  async open(instanceId: string): Promise<string> {
    const QueueName = `${this.config.queuePrefix}${instanceId}`.slice(0, 80);
    try {
      const out = await this.sqs.send(
        new CreateQueueCommand({
          QueueName,
          Attributes: {
            VisibilityTimeout: String(this.config.visibilityTimeoutSeconds ?? 120),
            MessageRetentionPeriod: String(4 * 24 * 3600),
            SqsManagedSseEnabled: 'true',
          },
        }),
      );
      if (!out.QueueUrl) throw new Error(`sqs returned no url for queue ${QueueName}`);
      return out.QueueUrl;
    } catch (error) {
      throw toDomainError(error, `create instance queue ${QueueName}`);
    }
  }

  async send(queueUrl: string, message: Parameters<InstanceChannel['send']>[1]): Promise<void> {
    const valid = parseOrThrow(SCHEMAS[message.kind], message, `${message.kind} message`);
    await new SqsWorkQueue(this.sqs, queueUrl).send(JSON.stringify(valid));
  }

  async close(queueUrl: string): Promise<void> {
    try {
      await this.sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl }));
    } catch (error) {
      const code = awsErrorCode(error);
      if (code === 'AWS.SimpleQueueService.NonExistentQueue' || code === 'QueueDoesNotExist') return;
      throw toDomainError(error, `delete instance queue ${queueUrl}`);
    }
  }
}
