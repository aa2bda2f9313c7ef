import type { ServingPlan } from '../../lib/core/model/pipeline-serving.ts';
import type { StageReport } from '../../lib/core/protocol/pipeline.ts';
import type { Stage } from './router-query.ts';
import { stageStatus } from './stage.ts';
import type { IntervalStats, RouterStats } from './stats.ts';

/**
 * Queue bound per stage: the override, or the queries its replicas serve within one SLO (the listed
 * ones, or the tuner's count while new replicas are still starting).
 */
export function sizeBounds(
  stages: readonly Stage[],
  plan: ServingPlan | undefined,
  activeCounts: Readonly<Record<string, number>>,
  sloMs: number,
  queueBound: number | undefined,
): void {
  for (const st of stages) {
    const mu = plan?.basis.stages[st.id]?.replicaThroughputQps ?? 0;
    const serving = Math.max(activeCounts[st.id] ?? 0, st.replicas.size);
    st.bound = queueBound ?? Math.max(st.maxBatch, Math.ceil((serving * mu * sloMs) / 1000));
  }
}

/** Per-stage report fields: dispatchable replicas and the interval's counts. */
export function takeIntervalReport(
  stats: RouterStats,
  stages: readonly Stage[],
  now: () => number,
): IntervalStats & { stageReports: Record<string, StageReport> } {
  const interval = stats.takeInterval();
  const at = now();
  const stageReports: Record<string, StageReport> = {};
  for (const st of stages) {
    const s = interval.stages[st.id] ?? { visits: 0, batches: 0, maxQueueDepth: 0 };
    const replicas = st.replicas.dispatchable(at).length;
    stageReports[st.id] = { replicas, ...s, maxQueueDepth: Math.max(s.maxQueueDepth, st.queue.size) };
  }
  return { ...interval, stageReports };
}

export interface RouterStatusInput {
  readonly pipelineId: string;
  readonly serving: boolean;
  readonly notServing: string;
  readonly sloMs: number;
  readonly stages: readonly Stage[];
  readonly activeCounts: Readonly<Record<string, number>>;
  readonly stats: RouterStats;
  readonly now: number;
}

/** The router's status document: serving state, per-stage status, totals and batch timings. */
export function routerStatus(r: RouterStatusInput): Record<string, unknown> {
  return {
    pipelineId: r.pipelineId,
    serving: r.serving,
    ...(r.serving ? {} : { reason: r.notServing }),
    sloMs: r.sloMs,
    stages: Object.fromEntries(
      r.stages.map((st) => [st.id, stageStatus(st, r.activeCounts[st.id] ?? 0, r.now)]),
    ),
    totals: r.stats.totals(),
    batchMs: r.stats.batchTimings(),
  };
}
