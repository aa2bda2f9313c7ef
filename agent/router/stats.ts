import type * as hdr from 'hdr-histogram-js';
import type { LatencySummary } from '../../lib/core/protocol/inference.ts';
import type { StageReport } from '../../lib/core/protocol/pipeline.ts';
import { latencyHistogram, summarizeHistogram } from '../model-server/latency-stats.ts';

/**
 * What the router counts: per interval (emptied by each PipelineReport) and since start (for status and
 * tests). End-to-end latency goes into HDR histograms like the model server's.
 */

export interface RouterCounts {
  arrivals: number;
  completed: number;
  shed: number;
  late: number;
  errors: number;
  /** Queries dropped because their deadline had passed while queued (also counted in errors). */
  dropped: number;
}

interface StageCounts {
  visits: number;
  batches: number;
  maxQueueDepth: number;
}

/** Round trips of batches to a stage's replicas, by batch size: the service time the router sees. */
export interface BatchTiming {
  readonly count: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

class Window {
  readonly counts: RouterCounts = { arrivals: 0, completed: 0, shed: 0, late: 0, errors: 0, dropped: 0 };
  readonly latency: hdr.Histogram = latencyHistogram();
  readonly stages = new Map<string, StageCounts>();

  stage(id: string): StageCounts {
    let s = this.stages.get(id);
    if (!s) {
      s = { visits: 0, batches: 0, maxQueueDepth: 0 };
      this.stages.set(id, s);
    }
    return s;
  }
}

export interface IntervalStats {
  readonly counts: RouterCounts;
  readonly latency: LatencySummary;
  readonly stages: Record<string, Omit<StageReport, 'replicas'>>;
}

export class RouterStats {
  private interval = new Window();
  private readonly cumulative = new Window();
  private readonly batchTimes = new Map<string, Map<number, { sum: number; h: hdr.Histogram }>>();

  /** One batch of `size` queries answered by a replica of `stageId` after `ms`. */
  batchTime(stageId: string, size: number, ms: number): void {
    let stage = this.batchTimes.get(stageId);
    if (!stage) {
      stage = new Map();
      this.batchTimes.set(stageId, stage);
    }
    let t = stage.get(size);
    if (!t) {
      t = { sum: 0, h: latencyHistogram() };
      stage.set(size, t);
    }
    t.sum += ms;
    t.h.recordValue(Math.max(1, Math.round(ms * 1000)));
  }

  /** Batch round trips since start, per stage and batch size. */
  batchTimings(): Record<string, Record<number, BatchTiming>> {
    const out: Record<string, Record<number, BatchTiming>> = {};
    for (const [stageId, sizes] of this.batchTimes) {
      out[stageId] = {};
      for (const [size, t] of sizes) {
        const summary = summarizeHistogram(t.h);
        out[stageId][size] = {
          count: t.h.totalCount,
          meanMs: t.sum / t.h.totalCount,
          p50Ms: summary.p50Ms,
          p99Ms: summary.p99Ms,
        };
      }
    }
    return out;
  }

  /**
   * How a stage's batch round trips of one size spread: `points` quantiles in ms at equally spaced
   * probabilities from 0 to 1 (the fastest to the slowest batch); undefined before any such batch.
   */
  batchQuantiles(stageId: string, size: number, points = 201): number[] | undefined {
    const h = this.batchTimes.get(stageId)?.get(size)?.h;
    if (!h || h.totalCount === 0 || !(points >= 2)) return undefined;
    return Array.from({ length: points }, (_, i) => h.getValueAtPercentile((100 * i) / (points - 1)) / 1000);
  }

  count(what: keyof RouterCounts, n = 1): void {
    this.interval.counts[what] += n;
    this.cumulative.counts[what] += n;
  }

  completed(latencyMs: number, late: boolean): void {
    const micros = Math.max(1, Math.round(latencyMs * 1000));
    for (const w of [this.interval, this.cumulative]) {
      w.counts.completed++;
      if (late) w.counts.late++;
      w.latency.recordValue(micros);
    }
  }

  visit(stageId: string): void {
    for (const w of [this.interval, this.cumulative]) w.stage(stageId).visits++;
  }

  batch(stageId: string): void {
    for (const w of [this.interval, this.cumulative]) w.stage(stageId).batches++;
  }

  queueDepth(stageId: string, depth: number): void {
    for (const w of [this.interval, this.cumulative]) {
      const s = w.stage(stageId);
      if (depth > s.maxQueueDepth) s.maxQueueDepth = depth;
    }
  }

  totals(): IntervalStats {
    return snapshot(this.cumulative);
  }

  /** The current interval, then start a new one. */
  takeInterval(): IntervalStats {
    const out = snapshot(this.interval);
    this.interval = new Window();
    return out;
  }
}

function snapshot(w: Window): IntervalStats {
  return {
    counts: { ...w.counts },
    latency: summarizeHistogram(w.latency),
    stages: Object.fromEntries([...w.stages.entries()].map(([id, s]) => [id, { ...s }])),
  };
}
