/** In-process measurements against the dynamic batcher: serving overhead at batch 1 and saturation. */
import { performance } from 'node:perf_hooks';
import { Tensor } from 'onnxruntime-node';
import { ModelEngine } from '../../agent/model-server/engine.ts';
import { percentile } from '../../agent/model-server/profile.ts';
import type { LoadedModel } from '../../agent/model-server/session.ts';
import { seededRandom, uniformInput } from '../../lib/onnx/index.ts';
import { INPUT, sorted } from './shared.ts';

/**
 * Raw session.run against the batcher at batch 1 on the same session, alternating request by request
 * (raw, served, served, raw, ...) so that both sides see the same machine noise.
 */
export async function overhead(model: LoadedModel, pairs: number) {
  const engine = new ModelEngine(model, {
    maxBatch: 1,
    maxQueueDelayMs: 0,
    queueCapacity: 16,
    concurrentRunners: 1,
  });
  const x = uniformInput(seededRandom(2), INPUT);
  const raw: number[] = [];
  const served: number[] = [];
  const timeRaw = async () => {
    const t0 = performance.now();
    await model.session.run({ x: new Tensor('float32', x, [1, INPUT]) });
    return performance.now() - t0;
  };
  const timeServed = async () => {
    const t0 = performance.now();
    await engine.infer({ x: { dims: [1, INPUT], data: x } });
    return performance.now() - t0;
  };
  for (let i = 0; i < 50; i++) {
    await timeRaw();
    await timeServed();
  }
  for (let i = 0; i < pairs; i++) {
    if (i % 2 === 0) {
      raw.push(await timeRaw());
      served.push(await timeServed());
    } else {
      served.push(await timeServed());
      raw.push(await timeRaw());
    }
  }
  await engine.close();
  const rawS = sorted(raw);
  const servedS = sorted(served);
  const diffs = sorted(served.map((v, i) => v - (raw[i] as number)));
  return {
    samples: raw.length,
    rawP50Ms: percentile(rawS, 50),
    rawP99Ms: percentile(rawS, 99),
    servedP50Ms: percentile(servedS, 50),
    servedP99Ms: percentile(servedS, 99),
    pairedMedianAddedMs: percentile(diffs, 50),
  };
}

/** Completions per second with `outstanding` requests always in flight, for `durationMs`. */
export async function saturate(
  model: LoadedModel,
  maxBatch: number,
  outstanding: number,
  durationMs: number,
) {
  const engine = new ModelEngine(model, {
    maxBatch,
    maxQueueDelayMs: 2,
    queueCapacity: outstanding * 2,
    concurrentRunners: 1,
  });
  const inputs = Array.from({ length: outstanding }, (_, i) => uniformInput(seededRandom(100 + i), INPUT));
  let done = 0;
  // Each request of a batch of n adds 1/n, so this sums to the number of batches measured.
  let batches = 0;
  let measuring = false;
  const warmupEnd = performance.now() + Math.min(500, durationMs / 4);
  let start = 0;
  const end = warmupEnd + durationMs;
  const worker = async (i: number) => {
    while (performance.now() < end) {
      const { timing } = await engine.infer({ x: { dims: [1, INPUT], data: inputs[i] as Float32Array } });
      if (!measuring && performance.now() >= warmupEnd) {
        measuring = true;
        start = performance.now();
      }
      if (measuring) {
        done++;
        batches += 1 / timing.batchSize;
      }
    }
  };
  await Promise.all(inputs.map((_, i) => worker(i)));
  const elapsed = performance.now() - start;
  await engine.close();
  return { qps: (done * 1000) / elapsed, requests: done, meanBatch: batches > 0 ? done / batches : 0 };
}
