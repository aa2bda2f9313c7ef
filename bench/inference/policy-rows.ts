import type { ClosedLoopResult } from '../../lib/core/inference/closed-loop.ts';
import type { PipelineConfig } from '../../lib/core/inference/simulator.ts';
import type { Context, PolicyName, PolicyRow } from './policy-types.ts';

/** `c7i.large b4 x3` per stage: what the row ran. */
function describe(config: PipelineConfig): Record<string, string> {
  return Object.fromEntries(
    Object.entries(config).map(([s, c]) => [s, `${c.instanceType} b${c.maxBatch} x${c.replicas}`]),
  );
}

export function row(
  ctx: Context,
  policy: PolicyName,
  r: ClosedLoopResult,
  config: PipelineConfig,
  extra = {},
): PolicyRow {
  return {
    pipeline: ctx.pipeline.name,
    trace: ctx.trace.name,
    sloMs: ctx.sloMs,
    policy,
    missRate: r.missRate,
    costPerHour: r.costPerHour,
    p99Ms: Number.isFinite(r.p99Ms) ? Math.round(r.p99Ms * 10) / 10 : r.p99Ms,
    queries: r.latenciesMs.length,
    config: describe(config),
    peakReplicas: { ...r.peakReplicas },
    ...extra,
  };
}

export function round4(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}

export function refused(ctx: Context, policy: PolicyName, note: string): PolicyRow {
  return {
    pipeline: ctx.pipeline.name,
    trace: ctx.trace.name,
    sloMs: ctx.sloMs,
    policy,
    missRate: null,
    costPerHour: null,
    note,
  };
}
