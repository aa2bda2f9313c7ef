import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../lib/core/errors.ts';
import {
  derivationFactor,
  deriveForType,
  deriveGpuFromParts,
  gpuBatchFactors,
} from '../../../lib/core/inference/derivation.ts';
import { findInstanceType } from '../../../lib/core/model/catalog.ts';
import type { InstanceType } from '../../../lib/core/model/instance-type.ts';
import { profile } from './builders.ts';

function type(name: string): InstanceType {
  const t = findInstanceType(name);
  if (!t) throw new Error(`missing ${name}`);
  return t;
}

const measured = profile('c7i.large', (b) => 10 + 2 * b, [1, 2, 4], 'resnet');

describe('deriveForType', () => {
  it('marks a GPU profile derived and states its basis', () => {
    const p = deriveForType(measured, type('g5.xlarge'));
    expect(p.instanceType).toBe('g5.xlarge');
    expect(p.source.kind).toBe('derived');
    if (p.source.kind !== 'derived') return;
    expect(p.source.fromInstanceType).toBe('c7i.large');
    expect(p.source.derivation).toContain('A10G');
    expect(p.source.derivation).toContain('assumed');
    // A10G is 8x a 4-vCPU c7i, which is 1.7x a 2-vCPU one.
    expect(p.source.factor).toBeCloseTo(13.6, 6);
    expect(p.points[0]?.latencyMs).toBeCloseTo(12 / 13.6, 6);
  });

  it('scales other CPU sizes sublinearly and says so', () => {
    const p = deriveForType(measured, type('c7i.2xlarge'));
    expect(p.source.kind).toBe('derived');
    if (p.source.kind !== 'derived') return;
    expect(p.source.factor).toBeCloseTo(2.9, 6);
    expect(p.source.factor).toBeLessThan(4);
    expect(p.source.derivation).toMatch(/measured on a 16-core Xeon/);
    const big = deriveForType(measured, type('c7i.8xlarge'));
    expect(big.source.kind === 'derived' && big.source.derivation).toMatch(
      /assumed past 16 vCPUs, not measured/,
    );
  });

  it('keeps the measured profile for the type it was measured on', () => {
    expect(deriveForType(measured, type('c7i.large'))).toBe(measured);
  });

  it('ranks GPU models from slowest to fastest', () => {
    const f = (n: string) => derivationFactor(type('c7i.large'), type(n)).factor;
    expect(f('g4dn.xlarge')).toBeLessThan(f('g6.xlarge'));
    expect(f('g6.xlarge')).toBeLessThan(f('g5.xlarge'));
    expect(f('g5.xlarge')).toBeLessThan(f('p4d.24xlarge'));
  });

  it('fails when the target is an Inferentia type', () => {
    expect(() => deriveForType(measured, type('inf2.xlarge'))).toThrow(/neuron/i);
  });

  it('fails when deriving from a derived profile', () => {
    const derived = deriveForType(measured, type('c7i.xlarge'));
    expect(() => deriveForType(derived, type('g5.xlarge'))).toThrow(ValidationError);
  });

  it('refuses a CPU type from a GPU measurement', () => {
    const onGpu = profile('g5.xlarge', (b) => b, [1]);
    expect(() => deriveForType(onGpu, type('c7i.xlarge'))).toThrow(/c7i.xlarge has no GPU/);
  });

  it('derives a GPU type from a measured GPU by the fp32 throughput ratio, keeping the batch curve', () => {
    const onH100 = profile('p5.48xlarge', (b) => 1 + 0.5 * b, [1, 8, 32], 'resnet');
    const l4 = deriveForType(onH100, type('g6.xlarge'));
    const ratio = 30.3 / 67;
    expect(l4.source).toMatchObject({ kind: 'derived', fromInstanceType: 'p5.48xlarge' });
    expect(l4.source.kind === 'derived' && l4.source.derivation).toMatch(/30.3 vs 67 TFLOPS/);
    for (const [i, p] of l4.points.entries()) {
      const m = onH100.points[i] as (typeof onH100.points)[number];
      expect(p.latencyMs).toBeCloseTo((m.latencyMs / Math.round(ratio * 1000)) * 1000, 6);
    }
    // The measured curve's batching gain survives: batch 32 serves more per second than batch 1.
    const qps = (b: number) => l4.points.find((p) => p.batchSize === b)?.throughputQps ?? 0;
    expect(qps(32) / qps(1)).toBeCloseTo((32 / 17) * 1.5, 6);
  });

  it('names the GPU model it has no throughput figure for', () => {
    const onH100 = profile('p5.48xlarge', (b) => b, [1]);
    expect(() => derivationFactor(type('p5.48xlarge'), type('inf2.xlarge'))).toThrow(/no GPU/);
    expect(() => deriveForType(onH100, type('inf2.xlarge'))).toThrow(ValidationError);
  });
});

describe('gpuBatchFactors and deriveGpuFromParts', () => {
  // One batch of 32 on the measured GPU: 10 ms in all, of which 1 ms copying in, 8 ms of kernels, 0.5 ms
  // copying out and 0.5 ms on the host outside those parts.
  const points = [{ batchSize: 32, throughputQps: 3200 }];
  const parts = [{ batchSize: 32, h2dMs: 1, computeMs: 8, d2hMs: 0.5 }];
  const small = { inputBytesPerItem: 1000, outputBytesPerItem: 100 };

  it('scales the kernels by the fp32 ratio and keeps copies and host time where the link is fast enough', () => {
    const [f] = gpuBatchFactors({ from: 'H100', to: 'L4', points, parts, ...small });
    const target = 0.5 + 1 + (8 * 67) / 30.3 + 0.5;
    expect(f?.factor).toBeCloseTo(10 / target, 3);
    // Faster than the whole run scaled by the fp32 ratio, since a third of the run does not scale with it.
    expect(f?.factor).toBeGreaterThan(30.3 / 67);
  });

  it('slows a copy down to what the target host link carries', () => {
    // 32 x 1 MB = 32 MB over a PCIe Gen3 x16 link at 80%: 32e6 / 12.6e9 s = 2.54 ms, more than the measured 1 ms.
    const big = { inputBytesPerItem: 1e6, outputBytesPerItem: 100 };
    const [f] = gpuBatchFactors({ from: 'H100', to: 'T4', points, parts, ...big });
    const target = 0.5 + 32e6 / (15.75 * 0.8 * 1e6) + (8 * 67) / 8.1 + 0.5;
    expect(f?.factor).toBeCloseTo(10 / target, 3);
  });

  it('reduces to the fp32 ratio when the whole run is kernels', () => {
    const allKernels = [{ batchSize: 32, h2dMs: 0, computeMs: 10, d2hMs: 0 }];
    const [f] = gpuBatchFactors({ from: 'H100', to: 'A10G', points, parts: allKernels, ...small });
    expect(f?.factor).toBeCloseTo(31.2 / 67, 3);
  });

  it('names what it cannot derive from', () => {
    expect(() => gpuBatchFactors({ from: 'H100', to: 'B200', points, parts, ...small })).toThrow(
      /to: no fp32 throughput for GPU model B200/,
    );
    expect(() => gpuBatchFactors({ from: 'H100', to: 'L4', points, parts: [], ...small })).toThrow(
      /points.0: no measured parts for batch size 32/,
    );
    expect(() =>
      gpuBatchFactors({ from: 'H100', to: 'L4', points, parts, inputBytesPerItem: 0, outputBytesPerItem: 1 }),
    ).toThrow(ValidationError);
  });

  it('derives a GPU type with one factor per batch size, marked derived with its basis', () => {
    const onH100 = profile('p5.48xlarge', (b) => 1 + 0.3 * b, [1, 32], 'resnet');
    const split = [
      { batchSize: 1, h2dMs: 0.1, computeMs: 0.8, d2hMs: 0.05 },
      { batchSize: 32, h2dMs: 3, computeMs: 5, d2hMs: 0.1 },
    ];
    const l4 = deriveGpuFromParts(onH100, type('g6.xlarge'), { parts: split, ...small });
    expect(l4.source).toMatchObject({ kind: 'derived', fromInstanceType: 'p5.48xlarge' });
    const source = l4.source.kind === 'derived' ? l4.source : undefined;
    expect(source?.batchFactors?.map((f) => f.batchSize)).toEqual([1, 32]);
    expect(source?.derivation).toMatch(/kernels by peak fp32 throughput \(30.3 vs 67 TFLOPS\)/);
    // Batch 32 spends a larger share copying, which an L4 does not slow down: it keeps more of the H100's speed.
    const [b1, b32] = source?.batchFactors ?? [];
    expect(b32?.factor).toBeGreaterThan(b1?.factor ?? Number.POSITIVE_INFINITY);
    expect(source?.factor).toBe(b32?.factor);
    expect(() => deriveGpuFromParts(onH100, type('c7i.xlarge'), { parts: split, ...small })).toThrow(
      /c7i.xlarge has no GPU/,
    );
    const onCpu = profile('c7i.large', (b) => b, [1, 32]);
    expect(() => deriveGpuFromParts(onCpu, type('g6.xlarge'), { parts: split, ...small })).toThrow(
      /must come from a GPU type/,
    );
  });
});
