import { describe, expect, it } from 'vitest';
import { createAdmitHandler } from '../../../lambdas/admit.ts';
import type { PoisonMessage } from '../../../lambdas/shared/sqs-batch.ts';
import { recordingLogger, sqsEvent, submitJob } from './support.ts';

/**
 * A refusal is stored as one DynamoDB item (at most 400 KB) and set aside as one SQS message, so what a
 * poison message carries must stay small however many fields its body gets wrong.
 */
describe('a submission with very many bad fields', () => {
  it('is refused with a bounded list of issues that says how many more there were', async () => {
    const poison: PoisonMessage[] = [];
    const log = recordingLogger();
    const handler = createAdmitHandler({
      admit: async () => {},
      onPoison: async (p) => {
        poison.push(p);
      },
      log,
    });
    const job = submitJob();
    // 4,000 labels of the wrong type: 4,000 issues from the schema itself.
    const labels = Object.fromEntries(Array.from({ length: 4000 }, (_, i) => [`k${i}`, 0]));
    const body = JSON.stringify({ ...job, spec: { ...(job.spec as Record<string, unknown>), labels } });
    expect(body.length).toBeLessThan(256 * 1024);

    const res = await handler(sqsEvent({ id: 'wide', body }));

    expect(res.batchItemFailures).toEqual([]);
    expect(poison).toHaveLength(1);
    const p = poison[0] as PoisonMessage;
    expect(p.issues.length).toBeLessThanOrEqual(51);
    expect(p.issues[0]).toEqual({
      path: 'spec.labels.k0',
      message: expect.stringMatching(/expected string/),
    });
    expect(p.issues.at(-1)).toEqual({ path: '', message: 'and 3,950 more issues' });
    expect(JSON.stringify(p.issues).length).toBeLessThan(16 * 1024);
    expect(p.reason.length).toBeLessThan(16 * 1024);
    const line = log.lines.find((l) => l.message === 'rejected a poison message');
    expect(line?.fields.messageId).toBe('wide');
    expect(JSON.stringify(line?.fields).length).toBeLessThan(32 * 1024);
  });
});
