import { describe, expect, it } from 'vitest';
import { applyIngestMessage, createIngestHandler } from '../../../lambdas/ingest.ts';
import { decodeIngestMessage, type IngestMessage } from '../../../lambdas/shared/ingest-message.ts';
import type { PoisonMessage } from '../../../lambdas/shared/sqs-batch.ts';
import { TransientError } from '../../../lib/core/errors.ts';
import { InstanceSchema } from '../../../lib/core/model/instance.ts';
import { pipelineWorld, twoStageSpec } from '../../fakes/fake-pipeline-store.ts';
import { fakeControl, heartbeatOf } from '../../fakes/fake-stores.ts';
import { instance } from '../model/builders.ts';
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

/** A heartbeat's body. */
const heartbeat = (instanceId: string, at: number) => JSON.stringify(heartbeatOf(instanceId, at));
const ID = 'i-0123456789abcdef0';

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

  it("applies only an instance's newest heartbeat of a batch, in place, and every other message", async () => {
    const { handler, applied } = setup();
    const a = 'i-0aaa0000000000001';
    const b = 'i-0bbb0000000000002';
    const res = await handler(
      sqsEvent(
        { id: 'a1', body: heartbeat(a, 1_000) },
        { id: 'b2', body: heartbeat(b, 2_500) },
        { id: 't', body: JSON.stringify(taskEvent) },
        { id: 'a3', body: heartbeat(a, 3_000) },
        { id: 'a2', body: heartbeat(a, 2_000) },
        { id: 'b1', body: heartbeat(b, 1_500) },
      ),
    );
    expect(res.batchItemFailures).toEqual([]);
    const seen = applied.map((m) =>
      m.source === 'agent' && m.report.kind === 'Heartbeat'
        ? `${m.report.instanceId}@${m.report.at}`
        : 'other',
    );
    expect(seen).toEqual([`${b}@2500`, 'other', `${a}@3000`]);
  });

  it('retries a newest heartbeat whose write failed, the superseded ones acknowledged', async () => {
    const { handler } = setup(async (m) => {
      if (m.source === 'agent' && m.report.kind === 'Heartbeat') throw new TransientError('throttled');
    });
    const res = await handler(
      sqsEvent({ id: 'old', body: heartbeat(ID, 1) }, { id: 'new', body: heartbeat(ID, 2) }),
    );
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: 'new' }] });
  });

  it("orders a run's heartbeats by seq, not by clock, and keeps each run's newest", async () => {
    const { handler, applied } = setup();
    const at = 5_000;
    const sent = (seq: number, bootId: string, state: 'RUNNING' | 'DRAINED' = 'RUNNING') =>
      JSON.stringify({ ...heartbeatOf(ID, at, state), seq, bootId });
    const res = await handler(
      sqsEvent(
        // The DRAINED heartbeat shares its millisecond with the one before it: seq says it is newer.
        { id: 'drained', body: sent(8, 'run-1', 'DRAINED') },
        { id: 'running', body: sent(7, 'run-1') },
        // Another run of the agent is not superseded by the first run's, whatever the sequence numbers.
        { id: 'restart', body: sent(0, 'run-2') },
      ),
    );
    expect(res.batchItemFailures).toEqual([]);
    const seen = applied.map((m) =>
      m.source === 'agent' && m.report.kind === 'Heartbeat' ? `${m.report.bootId}#${m.report.seq}` : 'other',
    );
    expect(seen).toEqual(['run-1#8', 'run-2#0']);
  });
});

/** A pipeline world with one SERVING pipeline, `vision`. */
async function servingWorld() {
  const w = pipelineWorld();
  await w.pipelines.create({
    pipelineId: 'vision',
    spec: twoStageSpec(),
    status: 'SERVING',
    createdAt: 0,
    updatedAt: 0,
    version: 0,
    targets: {},
    targetsAt: 0,
  });
  return w;
}

describe('applyIngestMessage for pipelines', () => {
  const core = () => ({ ...fakeControl({ now: () => 1 }), log: recordingLogger() });

  it('keeps a router report of a known pipeline', async () => {
    const w = await servingWorld();
    const decoded = decodeIngestMessage(
      JSON.stringify({
        version: 1,
        kind: 'PipelineReport',
        pipelineId: 'vision',
        instanceId: 'i-router',
        intervalStartMs: 0,
        intervalEndMs: 5000,
        arrivals: 10,
        completed: 10,
        shed: 0,
        late: 0,
        errors: 0,
        latency: { p50Ms: 1, p90Ms: 2, p99Ms: 3, maxMs: 4 },
        stages: {},
      }),
    );
    if (!decoded.ok) throw new Error('fixture must decode');
    expect(await applyIngestMessage(decoded.value, core(), w.deps)).toBe('applied');
    expect(w.pipelines.reports).toHaveLength(1);
    expect(await applyIngestMessage(decoded.value, core())).toBe('ignored');
  });

  it('drops the serving endpoints of a terminated instance, on a redelivery too', async () => {
    const w = await servingWorld();
    const on = (instanceId: string, jobId: string) => ({
      pipelineId: 'vision',
      stageId: 'detect',
      jobId,
      taskIndex: 0,
      attempt: 0,
      instanceId,
      url: `http://${jobId}:8081`,
      since: 1,
    });
    await w.pipelines.putEndpoint(on('i-0123456789abcdef0', 'gone'));
    await w.pipelines.putEndpoint(on('i-0fedcba9876543210', 'up'));
    const decoded = decodeIngestMessage(JSON.stringify(stateChange));
    if (!decoded.ok) throw new Error('fixture must decode');
    const left = async () => ((await w.pipelines.getServing('vision'))?.endpoints ?? []).map((e) => e.jobId);
    // An instance the fleet does not know (the rule forwards the whole account's events): no scan.
    const control = core();
    expect(await applyIngestMessage(decoded.value, control, w.deps)).toBe('unknown');
    expect(await left()).toEqual(['gone', 'up']);
    await control.instances.putInstance(InstanceSchema.parse(instance({ version: 0 })));
    expect(await applyIngestMessage(decoded.value, control, w.deps)).toBe('applied');
    expect(await left()).toEqual(['up']);
    // A start reported late, then the event again: the instance is already gone, its endpoint still goes.
    await w.pipelines.putEndpoint(on('i-0123456789abcdef0', 'late'));
    expect(await applyIngestMessage(decoded.value, control, w.deps)).toBe('duplicate');
    expect(await left()).toEqual(['up']);
  });

  it('drains a fleet instance on a rebalance recommendation, once', async () => {
    const rebalance = {
      ...spotWarning,
      'detail-type': 'EC2 Instance Rebalance Recommendation',
      detail: { 'instance-id': 'i-0123456789abcdef0' },
    };
    const decoded = decodeIngestMessage(JSON.stringify(rebalance));
    if (!decoded.ok) throw new Error('fixture must decode');
    const control = core();
    expect(await applyIngestMessage(decoded.value, control)).toBe('unknown');
    await control.instances.putInstance(InstanceSchema.parse(instance({ version: 0 })));
    expect(await applyIngestMessage(decoded.value, control)).toBe('applied');
    expect((await control.instances.getInstance('i-0123456789abcdef0'))?.state).toBe('DRAINING');
    expect(await applyIngestMessage(decoded.value, control)).toBe('duplicate');
  });

  it('stores a model profile sent on its own, but not a GPU type measured on CPU', async () => {
    const w = pipelineWorld();
    const profile = (instanceType: string, provider: string) =>
      decodeIngestMessage(
        JSON.stringify({
          version: 1,
          kind: 'ModelProfile',
          modelId: 'detect-1',
          instanceType,
          provider,
          measured: true,
          entries: [{ batchSize: 1, p50Ms: 4, p99Ms: 5, throughputQps: 200, samples: 30 }],
        }),
      );
    for (const [type, provider] of [
      ['c7i.large', 'cpu'],
      ['g5.xlarge', 'cpu'],
    ] as const) {
      const decoded = profile(type, provider);
      if (!decoded.ok) throw new Error('fixture must decode');
      await applyIngestMessage(decoded.value, core(), w.deps);
    }
    expect([...w.pipelines.profiles.values()].map((p) => [p.instanceType, p.source.kind])).toEqual([
      ['c7i.large', 'measured'],
    ]);
  });
});
