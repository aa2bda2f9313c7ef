import { describe, expect, it } from 'vitest';
import { LatencyRecorder } from '../../../../agent/model-server/latency-stats.ts';

const timing = (queueMs: number, computeMs: number, batchSize = 1) => ({
  queueMs,
  computeMs,
  totalMs: queueMs + computeMs,
  batchSize,
});

describe('LatencyRecorder', () => {
  it('summarizes total, queueing and compute within HDR precision', () => {
    const recorder = new LatencyRecorder(() => 1000);
    for (let i = 1; i <= 100; i++) {
      recorder.onArrival();
      recorder.onComplete(timing(i / 10, 2));
    }
    const s = recorder.totals();
    expect(s.count).toBe(100);
    expect(s.arrivals).toBe(100);
    expect(s.queueing.p50Ms).toBeCloseTo(5, 2);
    expect(s.queueing.p99Ms).toBeCloseTo(9.9, 2);
    expect(s.queueing.maxMs).toBeCloseTo(10, 2);
    expect(s.compute.p50Ms).toBeCloseTo(2, 2);
    // 3 significant digits: within 0.1%.
    expect(Math.abs(s.total.p90Ms - 11)).toBeLessThanOrEqual(11 * 0.001);
    expect(s.total.p50Ms).toBeLessThanOrEqual(s.total.p90Ms);
    expect(s.total.p99Ms).toBeLessThanOrEqual(s.total.maxMs);
  });

  it('empties the interval on each report but keeps the totals', () => {
    let now = 1000;
    const recorder = new LatencyRecorder(() => now);
    recorder.onArrival();
    recorder.onArrival();
    recorder.onShed();
    recorder.onBatch(1);
    recorder.onComplete(timing(1, 1));
    now = 2000;
    const first = recorder.takeInterval();
    expect(first).toMatchObject({
      count: 1,
      arrivals: 2,
      shed: 1,
      intervalStartMs: 1000,
      intervalEndMs: 2000,
    });
    expect(first.batchSizes).toEqual([{ size: 1, count: 1 }]);
    recorder.onError(3);
    now = 3000;
    const second = recorder.takeInterval();
    expect(second).toMatchObject({
      count: 0,
      arrivals: 0,
      shed: 0,
      errors: 3,
      intervalStartMs: 2000,
      intervalEndMs: 3000,
    });
    expect(second.total).toEqual({ p50Ms: 0, p90Ms: 0, p99Ms: 0, maxMs: 0 });
    expect(recorder.totals()).toMatchObject({ count: 1, arrivals: 2, shed: 1, errors: 3 });
  });

  it('keeps the batch-size distribution sorted by size', () => {
    const recorder = new LatencyRecorder(() => 0);
    for (const rows of [8, 1, 8, 3, 8]) recorder.onBatch(rows);
    expect(recorder.totals().batchSizes).toEqual([
      { size: 1, count: 1 },
      { size: 3, count: 1 },
      { size: 8, count: 3 },
    ]);
  });

  it('records sub-microsecond times as 1 us rather than dropping them', () => {
    const recorder = new LatencyRecorder(() => 0);
    recorder.onComplete(timing(0, 0.0001));
    expect(recorder.totals().count).toBe(1);
    expect(recorder.totals().queueing.maxMs).toBe(0.001);
  });
});
