import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../lib/core/errors.ts';
import {
  deriveProfile,
  drawSpread,
  fromModelProfile,
  maxProfiledBatch,
  parseProfile,
  pointFor,
  replicaThroughputQps,
  serviceTable,
  serviceTimeMs,
  spreadTable,
} from '../../../lib/core/inference/profiles.ts';
import { PROTOCOL_VERSION } from '../../../lib/core/protocol/envelope.ts';
import { ModelProfileSchema } from '../../../lib/core/protocol/inference.ts';
import { profile } from './builders.ts';

const cpu = profile('c7i.large', (b) => 10 + 2 * b, [1, 4, 16]);

describe('profile lookup', () => {
  it('uses the next larger profiled batch size for a batch between points', () => {
    expect(pointFor(cpu, 3).batchSize).toBe(4);
    expect(serviceTimeMs(cpu, 3)).toBe(18);
    expect(serviceTimeMs(cpu, 4)).toBe(18);
    expect(serviceTimeMs(cpu, 5)).toBe(42);
    expect(serviceTimeMs(cpu, 1)).toBe(12);
  });

  it('builds a service table indexed by batch size', () => {
    expect([...serviceTable(cpu, 5)].slice(1)).toEqual([12, 18, 18, 18, 42]);
  });

  it('takes measured throughput at a profiled size and derives it between sizes', () => {
    expect(replicaThroughputQps(cpu, 4)).toBeCloseTo(4000 / 18, 9);
    expect(replicaThroughputQps(cpu, 8)).toBeCloseTo(8000 / 42, 9);
    expect(maxProfiledBatch(cpu)).toBe(16);
  });

  it('fails when the batch size exceeds the largest profiled batch', () => {
    expect(() => serviceTimeMs(cpu, 17)).toThrow(ValidationError);
    expect(() => serviceTimeMs(cpu, 17)).toThrow(/batch size 17 exceeds the largest profiled batch 16/);
  });

  it('fails when a profile repeats a batch size', () => {
    const bad = { ...cpu, points: [...cpu.points, { batchSize: 4, latencyMs: 1, throughputQps: 1 }] };
    expect(() => parseProfile(bad)).toThrow(/points\.3\.batchSize: duplicate batch size 4/);
  });
});

describe('batch-time spreads', () => {
  const spread = [0.5, 1, 1, 4];
  const varied = { ...cpu, points: cpu.points.map((p) => (p.batchSize === 4 ? { ...p, spread } : p)) };

  it('draws by the inverse CDF, linear between equally spaced quantiles', () => {
    const s = Float64Array.from(spread);
    expect(drawSpread(s, 0)).toBe(0.5);
    expect(drawSpread(s, 1 / 6)).toBeCloseTo(0.75, 12);
    expect(drawSpread(s, 0.5)).toBe(1);
    expect(drawSpread(s, 5 / 6)).toBeCloseTo(2.5, 12);
    expect(drawSpread(s, 0.999999)).toBeLessThanOrEqual(4);
  });

  it('gives each batch size the spread of the point that serves it', () => {
    const table = spreadTable(parseProfile(varied), 5);
    expect(table.map((t) => (t ? [...t] : t))).toEqual([
      undefined,
      undefined,
      spread,
      spread,
      spread,
      undefined,
    ]);
  });

  it('refuses a spread that descends, is too short or holds a non-positive value, naming the field', () => {
    const withSpread = (s: number[]) => ({
      ...cpu,
      points: cpu.points.map((p, i) => (i === 1 ? { ...p, spread: s } : p)),
    });
    expect(() => parseProfile(withSpread([1, 2, 1.5]))).toThrow(
      /points\.1\.spread\.2: spread must be ascending, got 1\.5 after 2/,
    );
    expect(() => parseProfile(withSpread([1]))).toThrow(/points\.1\.spread: spread must hold at least 2/);
    expect(() => parseProfile(withSpread([0, 1]))).toThrow(/points\.1\.spread\.0: spread values must be/);
  });
});

describe('profiles from agent reports', () => {
  const report = ModelProfileSchema.parse({
    version: PROTOCOL_VERSION,
    kind: 'ModelProfile',
    modelId: 'resnet',
    instanceType: 'g5.xlarge',
    provider: 'cuda' as const,
    measured: true as const,
    entries: [
      { batchSize: 8, p50Ms: 6, p99Ms: 9, throughputQps: 1300, samples: 50 },
      { batchSize: 1, p50Ms: 2, p99Ms: 3, throughputQps: 480, samples: 50 },
    ],
  });

  it('uses the p99 latency as service time by default and sorts points by batch size', () => {
    const p = fromModelProfile(report);
    expect(p.source).toEqual({ kind: 'measured' });
    expect(p.points.map((x) => [x.batchSize, x.latencyMs])).toEqual([
      [1, 3],
      [8, 9],
    ]);
  });

  it('can use the p50 latency instead', () => {
    expect(fromModelProfile(report, 'p50').points.map((x) => x.latencyMs)).toEqual([2, 6]);
  });
});

describe('deriveProfile', () => {
  it('scales a measured profile by the factor and marks it derived with its basis', () => {
    const d = deriveProfile(cpu, { instanceType: 'c7i.xlarge', factor: 2, derivation: 'twice the vcpus' });
    expect(d.instanceType).toBe('c7i.xlarge');
    expect(d.source).toEqual({
      kind: 'derived',
      fromInstanceType: 'c7i.large',
      factor: 2,
      derivation: 'twice the vcpus',
    });
    expect(d.points.map((p) => p.latencyMs)).toEqual([6, 9, 21]);
    expect(d.points[0]?.throughputQps).toBeCloseTo((2 * 1000) / 12, 9);
  });

  it('fails when the source profile is itself derived', () => {
    const d = deriveProfile(cpu, { instanceType: 'c7i.xlarge', factor: 2, derivation: 'x' });
    expect(() => deriveProfile(d, { instanceType: 'c7i.2xlarge', factor: 2, derivation: 'x' })).toThrow(
      /only a measured profile can be derived from/,
    );
  });

  it('applies a factor per batch size where one is given, and records the list', () => {
    const batchFactors = [
      { batchSize: 1, factor: 0.5 },
      { batchSize: 4, factor: 1 },
      { batchSize: 16, factor: 2 },
    ];
    const d = deriveProfile(cpu, { instanceType: 'g6.xlarge', factor: 2, derivation: 'parts', batchFactors });
    expect(d.points.map((p) => p.latencyMs)).toEqual([24, 18, 21]);
    expect(d.points[2]?.throughputQps).toBeCloseTo(((16 * 1000) / 42) * 2, 9);
    expect(d.source).toMatchObject({ kind: 'derived', factor: 2, batchFactors });
  });

  it('refuses per-batch factors that miss a measured size, add another or repeat one', () => {
    const derive = (batchFactors: { batchSize: number; factor: number }[]) =>
      deriveProfile(cpu, { instanceType: 'g6.xlarge', factor: 1, derivation: 'x', batchFactors });
    expect(() => derive([{ batchSize: 1, factor: 1 }])).toThrow(/batchFactors: .*missing 4, 16/);
    expect(() => derive([1, 4, 16, 32].map((batchSize) => ({ batchSize, factor: 1 })))).toThrow(
      /not measured: 32/,
    );
    expect(() => derive([1, 4, 16, 16].map((batchSize) => ({ batchSize, factor: 1 })))).toThrow(
      /listed twice/,
    );
    expect(() =>
      derive([1, 4, 16].map((batchSize) => ({ batchSize, factor: batchSize === 4 ? 0 : 1 }))),
    ).toThrow(/batchFactors.1.factor: factor must be greater than 0/);
  });

  it('fails when the factor is not positive', () => {
    expect(() => deriveProfile(cpu, { instanceType: 'c7i.xlarge', factor: 0, derivation: 'x' })).toThrow(
      /factor: factor must be greater than 0/,
    );
  });
});
