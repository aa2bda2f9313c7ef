/** Constants and small helpers shared by the agent benchmark's measurements. */
import { performance } from 'node:perf_hooks';
import { Tensor } from 'onnxruntime-node';
import type { LoadedModel } from '../../agent/model-server/session.ts';

export const log = (msg: string) => process.stderr.write(`[bench:agent] ${msg}\n`);
export const sorted = (xs: readonly number[]) => [...xs].sort((a, b) => a - b);
export const INPUT = 1024;
export const OUTPUT = 256;
export const TARGET_MS: readonly [number, number] = [2, 5];

export async function timeRuns(model: LoadedModel, x: Float32Array, runs: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await model.session.run({ x: new Tensor('float32', x, [1, INPUT]) });
    out.push(performance.now() - t0);
  }
  return out;
}
