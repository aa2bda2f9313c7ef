import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoJobStore } from '../../lib/aws/dynamo-job-store.ts';
import { DynamoPipelineStore } from '../../lib/aws/dynamo-pipeline-store.ts';
import type { TableNames } from '../../lib/aws/tables.ts';
import { ConflictError, NotFoundError } from '../../lib/core/errors.ts';
import {
  type PipelineRecord,
  ROUTER_STAGE,
  type ServingEndpoint,
} from '../../lib/core/model/pipeline-serving.ts';
import type { PipelineReport } from '../../lib/core/protocol/pipeline.ts';
import { measuredProfile, twoStageSpec } from '../fakes/fake-pipeline-store.ts';
import { resetEmulator, testAwsConfig } from '../support/emulator.ts';
import { createStateTables } from '../support/tables.ts';

const T0 = 1_764_000_000_000;

function record(pipelineId: string, o: Partial<PipelineRecord> = {}): PipelineRecord {
  return {
    pipelineId,
    spec: twoStageSpec({ name: 'vision' }),
    status: 'PROFILING',
    createdAt: T0,
    updatedAt: T0,
    version: 0,
    targets: {},
    targetsAt: 0,
    ...o,
  };
}

function endpoint(stageId: string, jobId: string, url: string): ServingEndpoint {
  return {
    pipelineId: 'served',
    stageId,
    jobId,
    taskIndex: 0,
    attempt: 0,
    instanceId: 'i-1',
    url,
    since: T0,
  };
}

function report(endMs: number, arrivals: number): PipelineReport {
  return {
    version: 1,
    kind: 'PipelineReport',
    pipelineId: 'served',
    instanceId: 'i-router',
    intervalStartMs: endMs - 5000,
    intervalEndMs: endMs,
    arrivals,
    completed: arrivals,
    shed: 0,
    late: 0,
    errors: 0,
    dropped: 0,
    latency: { p50Ms: 10, p90Ms: 20, p99Ms: 30.5, maxMs: 40 },
    stages: { detect: { replicas: 2, visits: arrivals, batches: 10, maxQueueDepth: 3 } },
  };
}

describe('DynamoPipelineStore against the emulator', () => {
  const client = new DynamoDBClient(testAwsConfig());
  let store: DynamoPipelineStore;
  let tables: TableNames;

  beforeAll(async () => {
    await resetEmulator();
    tables = await createStateTables(client, `pipelines-${process.pid}`);
    store = new DynamoPipelineStore(client, tables);
  });
  afterAll(() => client.destroy());

  it('creates a pipeline once, idempotent on its id and on the idempotency key', async () => {
    const first = await store.create(record('vision-a'), 'key-a');
    const sameId = await store.create(record('vision-a', { createdAt: T0 + 5 }));
    const sameKey = await store.create(record('vision-b'), 'key-a');
    expect(first.created).toBe(true);
    expect(sameId).toMatchObject({ created: false, record: { createdAt: T0 } });
    expect(sameKey).toMatchObject({ created: false, record: { pipelineId: 'vision-a' } });
    expect(await store.get('vision-b')).toBeUndefined();
    expect((await store.get('vision-a'))?.spec.stages.map((s) => s.id)).toEqual(['detect', 'classify']);
  });

  it('updates on the version read and refuses a stale version with ConflictError', async () => {
    await store.create(record('vision-c'));
    const next = await store.update('vision-c', 0, { status: 'PLANNING', reason: 'profiles in' }, T0 + 10);
    expect(next).toMatchObject({ status: 'PLANNING', version: 1, updatedAt: T0 + 10 });
    await expect(store.update('vision-c', 0, { status: 'REFUSED' }, T0 + 20)).rejects.toBeInstanceOf(
      ConflictError,
    );
    await expect(store.update('nope', 0, { status: 'REFUSED' }, T0)).rejects.toBeInstanceOf(NotFoundError);
    expect((await store.get('vision-c'))?.status).toBe('PLANNING');
  });

  it('lists every pipeline record, oldest first, and nothing else of the control table', async () => {
    await store.create(record('vision-d', { createdAt: T0 - 1000 }));
    await store.putProfile(measuredProfile('m-1', 'c7i.large', 5), T0);
    const ids = (await store.list()).map((r) => r.pipelineId);
    expect(ids[0]).toBe('vision-d');
    expect(ids).toEqual(expect.arrayContaining(['vision-a', 'vision-c', 'vision-d']));
  });

  it('stores profiles per model and type, replacing one on a second put', async () => {
    await store.putProfile(measuredProfile('m-2', 'c7i.large', 5), T0);
    await store.putProfile(measuredProfile('m-2', 'g5.xlarge', 1), T0);
    await store.putProfile(measuredProfile('m-2', 'c7i.large', 4), T0 + 1);
    const profiles = await store.profilesOf('m-2');
    expect(profiles.map((p) => p.instanceType).sort()).toEqual(['c7i.large', 'g5.xlarge']);
    expect(profiles.find((p) => p.instanceType === 'c7i.large')?.points[0]?.latencyMs).toBe(4);
  });

  it('serves the record and its endpoints in one read, idempotent on put and delete', async () => {
    await store.create(record('served', { status: 'SERVING' }));
    await store.putEndpoint(endpoint('detect', 'pl:served:detect:0', 'http://10.0.0.5:8081'));
    await store.putEndpoint(endpoint('detect', 'pl:served:detect:0', 'http://10.0.0.5:8081'));
    await store.putEndpoint(endpoint(ROUTER_STAGE, 'pl:served:router:0', 'http://10.0.0.6:8080'));
    await store.putReport(report(T0 + 5000, 100));
    const serving = await store.getServing('served');
    expect(serving?.record.status).toBe('SERVING');
    expect(serving?.endpoints.map((e) => e.stageId).sort()).toEqual([ROUTER_STAGE, 'detect'].sort());
    const key = {
      pipelineId: 'served',
      stageId: 'detect',
      jobId: 'pl:served:detect:0',
      taskIndex: 0,
      attempt: 0,
    };
    await store.deleteEndpoint(key);
    await store.deleteEndpoint(key);
    expect((await store.getServing('served'))?.endpoints.map((e) => e.stageId)).toEqual([ROUTER_STAGE]);
    expect(await store.getServing('nope')).toBeUndefined();
  });

  it('returns the latest reports newest first', async () => {
    for (const [i, end] of [T0 + 10_000, T0 + 30_000, T0 + 20_000].entries())
      await store.putReport(report(end, i));
    const latest = await store.recentReports('served', 2);
    expect(latest.map((r) => r.intervalEndMs)).toEqual([T0 + 30_000, T0 + 20_000]);
    expect(latest[0]?.latency.p99Ms).toBe(30.5);
  });

  it('keeps a refusal with its field issues', async () => {
    await store.recordRejection({
      pipelineId: 'refused',
      reason: 'spec.stages.0.model.uri: missing',
      issues: [{ path: 'spec.stages.0.model.uri', message: 'missing' }],
      at: T0,
    });
    expect(await store.getRejection('refused')).toEqual({
      pipelineId: 'refused',
      reason: 'spec.stages.0.model.uri: missing',
      issues: [{ path: 'spec.stages.0.model.uri', message: 'missing' }],
      at: T0,
    });
    expect(await store.getRejection('vision-a')).toBeUndefined();
  });

  it('lists refusals oldest first, leaving out a job refusal and an id admitted since', async () => {
    const issues = [{ path: 'sloP99Ms', message: 'slo 1 ms is below the fastest batch-1 path (4 ms)' }];
    await store.recordRejection({
      pipelineId: 'refused-late',
      reason: 'sloP99Ms: too tight',
      issues,
      at: T0 + 5,
    });
    await store.recordRejection({ pipelineId: 'refused-early', reason: 'not JSON', issues: [], at: T0 - 5 });
    await store.recordRejection({ pipelineId: 'retried', reason: 'stages: missing', issues: [], at: T0 });
    await store.create(record('retried', { createdAt: T0 + 10 }));
    await new DynamoJobStore(client, tables).recordRejection({
      jobId: 'job-refused',
      reason: 'spec.name: missing',
      issues: [{ path: 'spec.name', message: 'missing' }],
      at: T0,
    });
    const listed = await store.listRejections();
    // 'refused' is the refusal the test above kept.
    expect(listed.map((r) => r.pipelineId)).toEqual(['refused-early', 'refused', 'refused-late']);
    expect(listed[2]).toEqual({
      pipelineId: 'refused-late',
      reason: 'sloP99Ms: too tight',
      issues,
      at: T0 + 5,
    });
    expect((await store.list()).map((r) => r.pipelineId)).toContain('retried');
  });
});
