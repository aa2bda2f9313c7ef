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

const file = JSON.parse(
  readFileSync(join(__dirname, '../../../bench/inference/cpu-scaling.json'), 'utf8'),
) as ScalingFile;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

describe('the measured CPU thread scaling', () => {
  it('covers every bench model at every vCPU count and batch size', () => {
    expect(file.results.map((r) => r.modelId).sort()).toEqual(MODELS.map((m) => m.id).sort());
    for (const r of file.results) expect(r.entries).toHaveLength(file.vcpus.length * file.batches.length);
  });

  it('is what the derivation table holds for 4, 8 and 16 vCPUs (median over models and batches)', () => {
    const qps = (r: ScalingFile['results'][number], vcpus: number, batch: number) =>
      r.entries.find((e) => e.vcpus === vcpus && e.batchSize === batch)?.throughputQps ?? Number.NaN;
    for (const n of [4, 8, 16]) {
      const ratios = file.results.flatMap((r) => file.batches.map((b) => qps(r, n, b) / qps(r, 2, b)));
      expect(Math.round(median(ratios) * 10) / 10).toBe(CPU_VCPU_SCALE[n]);
    }
  });
});
