import { describe, expect, it } from 'vitest';
import { createIngestHandler } from '../../../lambdas/ingest.ts';
import type { IngestMessage } from '../../../lambdas/shared/ingest-message.ts';
import type { PoisonMessage } from '../../../lambdas/shared/sqs-batch.ts';
import { TransientError } from '../../../lib/core/errors.ts';
import { recordingLogger, sqsEvent } from './support.ts';

function setup(apply: (m: IngestMessage) => Promise<void> = async () => {}) {
  const applied: IngestMessage[] = [];
  const poison: PoisonMessage[] = [];
  const handler = createIngestHandler({
    apply: async (m) => {
      await apply(m);
      applied.push(m);
    },
    onPoison: async (p) => {
      poison.push(p);
    },
    log: recordingLogger(),
  });
  return { handler, applied, poison };
}

const taskEvent = {
  version: 1,
  kind: 'TaskEvent',
  event: 'succeeded',
  jobId: 'job-1',
  taskIndex: 0,
  attempt: 0,
  instanceId: 'i-0123456789abcdef0',
  at: 1_764_000_000_000,
  exitCode: 0,
  durationMs: 1200,
  reason: 'exit',
};

const spotWarning = {
  version: '0',
  id: '1e5527d7-bb36-4607-3370-4164db56a40e',
  'detail-type': 'EC2 Spot Instance Interruption Warning',
  source: 'aws.ec2',
  account: '123456789012',
  time: '2026-11-25T15:00:00Z',
  region: 'us-east-1',
  resources: ['arn:aws:ec2:us-east-1b:instance/i-0123456789abcdef0'],
  detail: { 'instance-id': 'i-0123456789abcdef0', 'instance-action': 'terminate' },
};

const stateChange = {
  ...spotWarning,
  'detail-type': 'EC2 Instance State-change Notification',
  detail: { 'instance-id': 'i-0123456789abcdef0', state: 'terminated' },
};

describe('ingest handler', () => {
  it('applies agent reports and EC2 events, telling them apart by shape', async () => {
    const { handler, applied } = setup();
    const res = await handler(
      sqsEvent(
        { id: 'r1', body: JSON.stringify(taskEvent) },
        { id: 'e1', body: JSON.stringify(spotWarning) },
        { id: 'e2', body: JSON.stringify(stateChange) },
      ),
    );
    expect(res.batchItemFailures).toEqual([]);
    expect(applied.map((m) => m.source)).toEqual(['agent', 'ec2', 'ec2']);
    const [report, spot, change] = applied;
    expect(report?.source === 'agent' && report.report.kind).toBe('TaskEvent');
    expect(spot?.source === 'ec2' && spot.event['detail-type']).toBe(
      'EC2 Spot Instance Interruption Warning',
    );
    expect(change?.source === 'ec2' && change.event.detail['instance-id']).toBe('i-0123456789abcdef0');
  });

  it('rejects an EC2 event with a bad instance id as poison, naming the field', async () => {
    const { handler, poison, applied } = setup();
    const bad = { ...stateChange, detail: { 'instance-id': 'web-1', state: 'terminated' } };
    const res = await handler(sqsEvent({ id: 'e1', body: JSON.stringify(bad) }));
    expect(res.batchItemFailures).toEqual([]);
    expect(applied).toEqual([]);
    expect(poison[0]?.issues).toEqual([
      { path: 'detail.instance-id', message: 'instance-id must look like i-0123456789abcdef0' },
    ]);
  });

  it('rejects an event of a kind ingest does not know as poison', async () => {
    const { handler, poison } = setup();
    const res = await handler(
      sqsEvent(
        { id: 'r1', body: JSON.stringify({ ...taskEvent, kind: 'RunTask' }) },
        { id: 'e1', body: JSON.stringify({ ...spotWarning, 'detail-type': 'AWS API Call via CloudTrail' }) },
      ),
    );
    expect(res.batchItemFailures).toEqual([]);
    expect(poison.map((p) => p.issues[0]?.path)).toEqual(['kind', 'detail-type']);
  });

  it('rejects a TaskEvent with a missing field as poison with the field path', async () => {
    const { handler, poison } = setup();
    const { jobId: _omitted, ...withoutJob } = taskEvent;
    await handler(sqsEvent({ id: 'r1', body: JSON.stringify(withoutJob) }));
    expect(poison[0]?.issues.map((i) => i.path)).toEqual(['jobId']);
  });

  it('returns a message whose transition failed transiently in batchItemFailures', async () => {
    const { handler } = setup(async (m) => {
      if (m.source === 'ec2') throw new TransientError('throttled');
    });
    const res = await handler(
      sqsEvent(
        { id: 'r1', body: JSON.stringify(taskEvent) },
        { id: 'e1', body: JSON.stringify(spotWarning) },
      ),
    );
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: 'e1' }] });
  });
});
