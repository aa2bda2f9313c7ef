import type { Logger } from '../../../lambdas/shared/log.ts';

/** A logger that keeps what was logged, so tests can check that a rejection says why. */
export function recordingLogger(): Logger & {
  lines: { level: string; message: string; fields: Record<string, unknown> }[];
} {
  const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  const at =
    (level: string) =>
    (message: string, fields: Record<string, unknown> = {}) => {
      lines.push({ level, message, fields });
    };
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

/** An SQS batch as Lambda's event source mapping delivers it. */
export function sqsEvent(...bodies: { id: string; body: string }[]): unknown {
  return {
    Records: bodies.map(({ id, body }) => ({
      messageId: id,
      receiptHandle: `rh-${id}`,
      body,
      attributes: { ApproximateReceiveCount: '1' },
      messageAttributes: {},
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:Tetrafleet-Submissions',
      awsRegion: 'us-east-1',
    })),
  };
}

export function scheduledEvent(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: '0',
    id: '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa',
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '123456789012',
    time: '2026-11-25T15:00:00Z',
    region: 'us-east-1',
    resources: ['arn:aws:events:us-east-1:123456789012:rule/Tetrafleet-ScheduleTick'],
    detail: {},
    ...overrides,
  };
}

export function submitJob(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: 1,
    kind: 'SubmitJob',
    jobId: 'job-1',
    spec: {
      name: 'train',
      policy: 'fifo',
      task: { kind: 'command', command: 'echo', args: ['hi'] },
      alternatives: [{ requirement: { vcpu: 1, memoryMiB: 512 }, durationSeconds: 60 }],
    },
    ...overrides,
  };
}
