import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  GPU_BATCHES,
  gpuModelOfDevice,
  importRuns,
  loadGpuProfiles,
  specsFile,
} from '../../../bench/inference/measure-gpu.ts';
import { MODELS, PIPELINES } from '../../../bench/inference/pipelines.ts';
import { loadProfilesFile, stageProfiles } from '../../../bench/inference/setup.ts';

const dir = mkdtempSync(join(tmpdir(), 'tetrafleet-gpu-profiles-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PARTS = [
  { batchSize: 1, h2dMs: 0.1, computeMs: 0.9, d2hMs: 0.05, runs: 100 },
  { batchSize: 8, h2dMs: 0.5, computeMs: 3.2, d2hMs: 0.05, runs: 100 },
];

function run(
  o: { device?: string; tf32?: boolean; models?: string[]; entries?: unknown[]; components?: unknown[] } = {},
) {
  const entries = o.entries ?? [
    { batchSize: 1, p50Ms: 1, p99Ms: 1.2, throughputQps: 900, samples: 40 },
    { batchSize: 8, p50Ms: 4, p99Ms: 4.5, throughputQps: 1900, samples: 40 },
  ];
  return {
    device: o.device ?? 'NVIDIA H100 80GB HBM3',
    gpuMemoryMiB: 81079,
    multiprocessors: 132,
    torch: '2.11.0',
    cuda: '13.0',
    cudnn: 91900,
    tf32: o.tf32 ?? false,
    passes: 3,
    warmup: 10,
    minSamples: 30,
    maxSamples: 2000,
    minDurationMs: 500,
    reports: (o.models ?? ['classifier']).map((modelId) => ({
      modelId,
      entries,
      ...(o.components ? { components: o.components } : {}),
    })),
  };
}

function file(name: string, body: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(body));
  return path;
}

describe('GPU profile import', () => {
  it('writes one spec per bench model, with every default filled in and the GPU batch sizes', () => {
    const specs = specsFile();
    expect(specs.models.map((m) => m.id)).toEqual(MODELS.map((m) => m.id));
    const classifier = specs.models.find((m) => m.id === 'classifier');
    expect(classifier?.spec).toMatchObject({
      kind: 'conv',
      kernelSize: 3,
      convChannels: [64, 256, 512, 1024, 1024, 256],
    });
    expect(classifier?.batches).toEqual([...GPU_BATCHES]);
  });

  it('turns a run into measured cuda profiles and checks the CPU-based derivation against it', () => {
    const out = importRuns(file('ok.json', run()), 'p5.48xlarge');
    expect(out.reports).toHaveLength(1);
    expect(out.reports[0]).toMatchObject({
      modelId: 'classifier',
      instanceType: 'p5.48xlarge',
      provider: 'cuda',
      measured: true,
    });
    const check = out.derivationCheck.find((c) => c.batch === 1);
    const cpu =
      loadProfilesFile().reports.find((r) => r.modelId === 'classifier')?.entries[0]?.throughputQps ?? 0;
    expect(check?.gpuQps).toBe(900);
    expect(check?.measuredSpeedup).toBeCloseTo(900 / cpu, 1);
    expect(check && check.cpuDerivedGpuQps / check.cpuQps).toBeGreaterThan(1);
  });

  it('refuses a run that does not fit the instance type, the mode or the schema, naming the field', () => {
    expect(() => importRuns(file('l4.json', run({ device: 'NVIDIA L4' })), 'p5.48xlarge')).toThrow(
      /ran on NVIDIA L4, but p5.48xlarge has H100/,
    );
    expect(() => importRuns(file('cpu-type.json', run()), 'c7i.large')).toThrow(/c7i.large has no GPU/);
    expect(() => importRuns(file('unknown.json', run()), 'p9.huge')).toThrow(/unknown instance type p9.huge/);
    expect(() => importRuns(file('tf32.json', run({ tf32: true })), 'p5.48xlarge')).toThrow(/must be fp32/);
    expect(() => importRuns(file('model.json', run({ models: ['resnet'] })), 'p5.48xlarge')).toThrow(
      /unknown models: resnet/,
    );
    expect(() =>
      importRuns(file('entries.json', run({ entries: [{ batchSize: 0 }] })), 'p5.48xlarge'),
    ).toThrow(/reports.0.entries.0/);
  });
});

describe('parts of a run and a second GPU', () => {
  it('keeps the copy and kernel medians of each batch size, and refuses parts for other sizes', () => {
    const out = importRuns(file('parts.json', run({ components: PARTS })), 'p5.48xlarge');
    expect(out.components).toEqual([
      { modelId: 'classifier', entries: PARTS.map(({ runs: _runs, ...p }) => p) },
    ]);
    expect(() =>
      importRuns(file('parts-bad.json', run({ components: PARTS.slice(0, 1) })), 'p5.48xlarge'),
    ).toThrow(/reports.0.components: must cover the same batch sizes as entries \(1,8\), got 1/);
  });

  it('checks a second GPU against both derivations from the file', () => {
    const h200Entries = [
      { batchSize: 1, p50Ms: 1, p99Ms: 1.2, throughputQps: 990, samples: 40 },
      { batchSize: 8, p50Ms: 4, p99Ms: 4.5, throughputQps: 1710, samples: 40 },
    ];
    const h200Parts = PARTS.map((p) => ({ ...p, computeMs: p.computeMs * 0.9 }));
    const h200 = file(
      'h200.json',
      run({ device: 'NVIDIA H200', entries: h200Entries, components: h200Parts }),
    );
    // The import takes the check in the same step.
    const check = importRuns(
      file('basis.json', run({ components: PARTS })),
      'p5.48xlarge',
      undefined,
      h200,
    ).crossGpuCheck;
    expect(check).toMatchObject({ gpuModel: 'H200', basisGpuModel: 'H100' });
    expect(check?.rows).toEqual([
      {
        modelId: 'classifier',
        batch: 1,
        measuredQps: 990,
        wholeCurveQps: 900,
        byPartsQps: 900,
        kernelRatio: 0.9,
      },
      {
        modelId: 'classifier',
        batch: 8,
        measuredQps: 1710,
        wholeCurveQps: 1900,
        byPartsQps: 1900,
        kernelRatio: 0.9,
      },
    ]);
    expect(check?.summary.wholeCurve).toEqual({ min: 0.9, median: 0.9, max: 1.1, rows: 2 });
  });

  it('names the GPU a device string names, and refuses one it cannot tell', () => {
    expect(gpuModelOfDevice('NVIDIA H200')).toBe('H200');
    expect(gpuModelOfDevice('NVIDIA H100 80GB HBM3')).toBe('H100');
    expect(() => gpuModelOfDevice('NVIDIA B200')).toThrow(/names no known GPU model/);
  });
});

describe('the committed GPU profiles', () => {
  const gpu = loadGpuProfiles();

  it('hold a measured H100 profile of every bench model at every GPU batch size', () => {
    expect(gpu?.run.device).toMatch(/H100/);
    expect(gpu?.reports.map((r) => r.modelId).sort()).toEqual(MODELS.map((m) => m.id).sort());
    for (const r of gpu?.reports ?? []) expect(r.entries.map((e) => e.batchSize)).toEqual([...GPU_BATCHES]);
  });

  it('split every measured run into parts, and check the derivation against an H200 on every row', () => {
    for (const r of gpu?.reports ?? [])
      expect(gpu?.components?.find((c) => c.modelId === r.modelId)?.entries.map((e) => e.batchSize)).toEqual(
        r.entries.map((e) => e.batchSize),
      );
    expect(gpu?.crossGpuCheck?.gpuModel).toBe('H200');
    expect(gpu?.crossGpuCheck?.rows).toHaveLength(MODELS.length * GPU_BATCHES.length);
    expect(gpu?.crossGpuCheck?.summary.byParts?.rows).toBe(MODELS.length * GPU_BATCHES.length);
  });

  it('are the basis of every GPU candidate in the bench, and the CPU measurement of every CPU one', () => {
    const profiles = stageProfiles(loadProfilesFile(), PIPELINES[0] as (typeof PIPELINES)[number], gpu);
    const classify = profiles.classify ?? [];
    const l4 = classify.find((p) => p.instanceType === 'g6.xlarge');
    const c7i = classify.find((p) => p.instanceType === 'c7i.xlarge');
    expect(l4?.source).toMatchObject({ kind: 'derived', fromInstanceType: 'p5.48xlarge' });
    expect(l4?.source.kind === 'derived' && l4.source.batchFactors?.length).toBe(GPU_BATCHES.length);
    expect(c7i?.source).toMatchObject({ kind: 'derived', fromInstanceType: 'c7i.large' });
    expect(
      JSON.parse(readFileSync(join(__dirname, '../../../bench/inference/gpu-profiles.json'), 'utf8'))
        .measuredAs,
    ).toBe('p5.48xlarge');
  });
});
