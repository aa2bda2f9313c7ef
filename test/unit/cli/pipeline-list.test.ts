import { describe, expect, it } from 'vitest';
import { pipelineListCommand } from '../../../lib/cli/commands/pipeline-list.ts';
import type { CliSource } from '../../../lib/cli/source.ts';
import type { PipelineRecord } from '../../../lib/core/model/pipeline-serving.ts';
import type { PipelineRejection } from '../../../lib/core/ports.ts';
import { FakePipelineStore, servingPlan, twoStageSpec } from '../../fakes/fake-pipeline-store.ts';

const NOW = 1_764_000_600_000;

function record(pipelineId: string, o: Partial<PipelineRecord> = {}): PipelineRecord {
  return {
    pipelineId,
    spec: twoStageSpec(),
    status: 'SERVING',
    createdAt: NOW - 600_000,
    updatedAt: NOW - 60_000,
    version: 1,
    plan: servingPlan({ costPerHour: 0.3 }),
    targets: {},
    targetsAt: 0,
    ...o,
  };
}

function rejection(pipelineId: string, o: Partial<PipelineRejection> = {}): PipelineRejection {
  return {
    pipelineId,
    reason: 'stages.0.model.uri: model s3://m/a.onnx not found; sloP99Ms: slo 1 ms is too tight',
    issues: [
      { path: 'stages.0.model.uri', message: 'model s3://m/a.onnx not found' },
      { path: 'sloP99Ms', message: 'slo 1 ms is below the fastest batch-1 path (4 ms)' },
    ],
    at: NOW - 120_000,
    ...o,
  };
}

/** A CliSource whose client lists from a fake pipeline store, as the SDK lists from the DynamoDB one. */
function sourceOver(store: FakePipelineStore): CliSource {
  const client = {
    listPipelines: () => store.list(),
    listPipelineRejections: () => store.listRejections(),
  };
  return { client, close: () => {} } as unknown as CliSource;
}

async function storeWith(records: PipelineRecord[], rejections: PipelineRejection[]) {
  const store = new FakePipelineStore();
  for (const r of records) await store.create(r);
  for (const r of rejections) await store.recordRejection(r);
  return store;
}

/** The text line that lists `id`. */
function lineOf(text: string, id: string): string {
  return text.split('\n').find((l) => l.startsWith(`${id} `)) ?? '';
}

describe('tetrafleet pipeline list', () => {
  it('lists a refused pipeline with its first reason and a count of the others', async () => {
    const store = await storeWith([record('vision')], [rejection('bad-spec')]);
    const out = await pipelineListCommand(sourceOver(store), NOW);
    expect(out.text.split('\n')[0]).toMatch(
      /^ID\s+NAME\s+STATUS\s+SLO\s+STAGES\s+\$\/H\s+SUBMITTED\s+REASON$/,
    );
    expect(lineOf(out.text, 'bad-spec')).toMatch(
      /^bad-spec\s+-\s+REFUSED\s+-\s+-\s+-\s+2m ago\s+stages\.0\.model\.uri: model s3:\/\/m\/a\.onnx not found \(\+1 more\)$/,
    );
    expect(out.data.pipelines.find((p) => p.id === 'bad-spec')).toEqual({
      id: 'bad-spec',
      status: 'REFUSED',
      createdAt: NOW - 120_000,
      reasons: [
        'stages.0.model.uri: model s3://m/a.onnx not found',
        'sloP99Ms: slo 1 ms is below the fastest batch-1 path (4 ms)',
      ],
    });
  });

  it('lists a refusal that names no field by its reason, without the error heading', async () => {
    const plain = rejection('garbled', {
      reason: 'ValidationError: invalid pipeline submission: the body is not JSON',
      issues: [],
    });
    const out = await pipelineListCommand(sourceOver(await storeWith([], [plain])), NOW);
    expect(lineOf(out.text, 'garbled')).toMatch(/REFUSED\s+-\s+-\s+-\s+2m ago\s+the body is not JSON$/);
    expect(out.data.pipelines[0]?.reasons).toEqual(['the body is not JSON']);
  });

  it('lists records and refusals together, newest first', async () => {
    const store = await storeWith(
      [record('oldest', { createdAt: NOW - 3_600_000 }), record('newest', { createdAt: NOW - 1000 })],
      [rejection('middle', { at: NOW - 60_000 })],
    );
    const out = await pipelineListCommand(sourceOver(store), NOW);
    expect(out.data.pipelines.map((p) => [p.id, p.status])).toEqual([
      ['newest', 'SERVING'],
      ['middle', 'REFUSED'],
      ['oldest', 'SERVING'],
    ]);
  });

  it('lists a pipeline admitted under a refused id once, as its record', async () => {
    const store = await storeWith([], [rejection('retried', { at: NOW - 300_000 })]);
    await store.create(record('retried', { createdAt: NOW - 10_000 }));
    const out = await pipelineListCommand(sourceOver(store), NOW);
    expect(out.data.pipelines).toEqual([expect.objectContaining({ id: 'retried', status: 'SERVING' })]);
    expect(out.text).not.toContain('REFUSED');
  });

  it("shows the reason of a pipeline refused after admission, from its record's reason", async () => {
    const refused = record('too-tight', { status: 'REFUSED', reason: 'no plan meets the p99 slo of 5 ms' });
    const out = await pipelineListCommand(sourceOver(await storeWith([refused], [])), NOW);
    expect(lineOf(out.text, 'too-tight')).toMatch(
      /too-tight\s+vision\s+REFUSED\s+200 ms\s+2\s+0\.300\s+10m ago\s+no plan meets the p99 slo of 5 ms$/,
    );
  });

  it('cuts a long first reason to 60 columns; pipeline status shows it whole', async () => {
    const message = `model ${'s3://bucket/'.padEnd(120, 'x')}.onnx not found`;
    const long = rejection('long', { issues: [{ path: 'stages.0.model.uri', message }] });
    const out = await pipelineListCommand(sourceOver(await storeWith([], [long])), NOW);
    const cell = lineOf(out.text, 'long').replace(/^.*ago\s+/, '');
    expect(cell).toHaveLength(60);
    expect(cell.endsWith('…')).toBe(true);
    expect(out.data.pipelines[0]?.reasons).toEqual([`stages.0.model.uri: ${message}`]);
  });

  it('says so when there is no pipeline and no refusal', async () => {
    const out = await pipelineListCommand(sourceOver(new FakePipelineStore()), NOW);
    expect(out).toEqual({ data: { pipelines: [] }, text: 'no pipelines' });
  });

  it('fails when the store cannot list refusals, rather than hiding them', async () => {
    const store = await storeWith([record('vision')], [rejection('bad-spec')]);
    store.failNext('listRejections');
    await expect(pipelineListCommand(sourceOver(store), NOW)).rejects.toThrow('listRejections throttled');
  });
});

describe('FakePipelineStore.listRejections', () => {
  it('lists refusals oldest first, leaving out ids that have a record', async () => {
    const store = await storeWith(
      [record('admitted')],
      [
        rejection('late', { at: NOW }),
        rejection('admitted', { at: NOW - 5000 }),
        rejection('early', { at: NOW - 9000 }),
      ],
    );
    expect((await store.listRejections()).map((r) => r.pipelineId)).toEqual(['early', 'late']);
  });
});
