import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../lib/core/errors.ts';
import { derivationFactor, deriveForType } from '../../../lib/core/inference/derivation.ts';
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
    // A10G is 8x a 4-vCPU c7i, which is 1.8x a 2-vCPU one.
    expect(p.source.factor).toBeCloseTo(14.4, 6);
    expect(p.points[0]?.latencyMs).toBeCloseTo(12 / 14.4, 6);
  });

  it('scales other CPU sizes sublinearly and says so', () => {
    const p = deriveForType(measured, type('c7i.2xlarge'));
    expect(p.source.kind).toBe('derived');
    if (p.source.kind !== 'derived') return;
    expect(p.source.factor).toBeCloseTo(3.2, 6);
    expect(p.source.factor).toBeLessThan(4);
    expect(p.source.derivation).toContain('not measured');
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
