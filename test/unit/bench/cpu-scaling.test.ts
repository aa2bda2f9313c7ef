import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MODELS } from '../../../bench/inference/pipelines.ts';
import { CPU_VCPU_SCALE } from '../../../lib/core/inference/derivation.ts';

interface ScalingFile {
  readonly vcpus: readonly number[];
  readonly batches: readonly number[];
  readonly results: readonly {
    readonly modelId: string;
    readonly entries: readonly { vcpus: number; batchSize: number; throughputQps: number }[];
  }[];
}

const load = (name: string) =>
  JSON.parse(readFileSync(join(__dirname, '../../../bench/inference', name), 'utf8')) as ScalingFile;
const file = load('cpu-scaling.json');
/** The same run on a second machine of the same kind. */
const repeat = load('cpu-scaling-repeat.json');

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Median over models and batch sizes of N vCPUs' throughput over 2 vCPUs'. */
function medianRatio(f: ScalingFile, vcpus: number): number {
  const qps = (r: ScalingFile['results'][number], n: number, batch: number) =>
    r.entries.find((e) => e.vcpus === n && e.batchSize === batch)?.throughputQps ?? Number.NaN;
  return median(f.results.flatMap((r) => f.batches.map((b) => qps(r, vcpus, b) / qps(r, 2, b))));
}

describe('the measured CPU thread scaling', () => {
  it('covers every bench model at every vCPU count and batch size', () => {
    for (const f of [file, repeat]) {
      expect(f.results.map((r) => r.modelId).sort()).toEqual(MODELS.map((m) => m.id).sort());
      for (const r of f.results) expect(r.entries).toHaveLength(f.vcpus.length * f.batches.length);
    }
  });

  it('is what the derivation table holds for 4, 8 and 16 vCPUs (median over models and batches)', () => {
    for (const n of [4, 8, 16]) expect(Math.round(medianRatio(file, n) * 10) / 10).toBe(CPU_VCPU_SCALE[n]);
  });

  it('was repeated on a second machine within 10% of the table', () => {
    for (const n of [4, 8, 16]) {
      const ratio = medianRatio(repeat, n) / (CPU_VCPU_SCALE[n] ?? Number.NaN);
      expect(ratio).toBeGreaterThan(0.9);
      expect(ratio).toBeLessThan(1.1);
    }
  });
});
