import type { PolicyController } from './closed-loop.ts';
import type { CostOf } from './cost.ts';
import { maxArrivalsInWindow } from './envelope.ts';
import { maxProfiledBatch, replicaThroughputQps, type StageProfile, serviceTimeMs } from './profiles.ts';
import type { ControlView, PipelineConfig, ReplicaChange } from './simulator.ts';
import { compileTopology, longestPath, type PipelineShape } from './topology.ts';

/**
 * The policies InferLine is compared with.
 *
 * - cg-peak (coarse-grained, provisioned for peak): one replica of every stage is a unit on one instance
 *   type and batch, profiled as a black box, and replicated whole for the trace's peak rate, known in advance.
 * - target-tracking (SageMaker-style, per stage): InvocationsPerInstance averaged over one minute, kept
 *   near a target, scale-out when above it, scale-in no sooner than a cooldown after the last change, new
 *   replicas after their instance's boot latency.
 */

// ---------------------------------------------------------------------------------------------- cg-peak

export interface CgInput {
  /** The pipeline's stages and edges: a unit is one replica of every stage. */
  readonly shape: PipelineShape;
  /** Stage id -> candidate profiles (one per instance type). */
  readonly profiles: Readonly<Record<string, readonly StageProfile[]>>;
  /** Fraction of queries visiting each stage. */
  readonly visitFractions: Readonly<Record<string, number>>;
  readonly sloMs: number;
  /** The rate to provision for. */
  readonly peakRatePerSecond: number;
  readonly costOf: CostOf;
}

export interface CgPlan {
  readonly instanceType: string;
  readonly maxBatch: number;
  readonly units: number;
  /** The unit's black-box latency at maxBatch: the longest path of its stages' batch times. */
  readonly unitLatencyMs: number;
  /** Every stage on instanceType at maxBatch with `units` replicas. */
  readonly config: PipelineConfig;
  readonly costPerHour: number;
  /** units × one unit's throughput at maxBatch (its slowest stage's, per query entering the pipeline). */
  readonly capacityQps: number;
}

/** Batch sizes every stage has profiled on this type, ascending. */
function commonBatches(profiles: readonly StageProfile[]): number[] {
  const cap = Math.min(...profiles.map(maxProfiledBatch));
  const out: number[] = [];
  for (let b = 1; b <= cap; b *= 2) out.push(b);
  return out;
}

/**
 * The cheapest coarse-grained deployment that meets the SLO at the peak. As in InferLine's CG baselines
 * (after Clipper), the unit is the whole pipeline: one replica of every stage, all on one instance type
 * and one max batch, profiled as a black box and replicated whole. A unit's latency at batch b is the
 * longest path of its stages' batch times L(b); a batch that waits at most one batch time and then runs one
 * must fit the SLO (2·L(b) <= SLO). A unit serves min over stages of μ_m(b)/s_m queries per second, so the
 * slowest stage sets the unit count and every other stage is replicated with it: the stage imbalance the
 * planner's per-stage choices remove.
 */
export function planCgPeak(input: CgInput): CgPlan | undefined {
  const topo = compileTopology(input.shape);
  const stages = topo.ids;
  const types = new Set(stages.flatMap((s) => (input.profiles[s] ?? []).map((p) => p.instanceType)));
  let best: CgPlan | undefined;
  for (const type of types) {
    const perStage = stages.map((s) => input.profiles[s]?.find((x) => x.instanceType === type));
    if (perStage.some((p) => p === undefined)) continue;
    const profiles = perStage as StageProfile[];
    for (const b of commonBatches(profiles)) {
      const unitLatencyMs = longestPath(topo, (i) => serviceTimeMs(profiles[i] as StageProfile, b));
      if (2 * unitLatencyMs > input.sloMs) continue;
      let unitQps = Number.POSITIVE_INFINITY;
      profiles.forEach((p, i) => {
        const share = input.visitFractions[stages[i] as string] ?? 0;
        if (share > 0) unitQps = Math.min(unitQps, replicaThroughputQps(p, b) / share);
      });
      if (!Number.isFinite(unitQps)) continue;
      const units = Math.max(1, Math.ceil(input.peakRatePerSecond / unitQps - 1e-9));
      const config: PipelineConfig = Object.fromEntries(
        stages.map((s) => [s, { instanceType: type, maxBatch: b, replicas: units, maxQueueDelayMs: 0 }]),
      );
      const costPerHour = input.costOf(config);
      if (!best || costPerHour < best.costPerHour - 1e-9)
        best = {
          instanceType: type,
          maxBatch: b,
          units,
          unitLatencyMs,
          config,
          costPerHour,
          capacityQps: units * unitQps,
        };
    }
  }
  return best;
}

/** Peak rate of a trace: the most arrivals in any sliding window of windowMs, per second. */
export function peakRatePerSecond(arrivalsMs: Float64Array, windowMs: number): number {
  return (maxArrivalsInWindow(arrivalsMs, windowMs) * 1000) / windowMs;
}

// -------------------------------------------------------------------------------------- target-tracking

export interface TargetTrackingConfigInput {
  /** The plan's configuration: its hardware per stage is kept. */
  readonly config: PipelineConfig;
  readonly profileOf: (stage: string, instanceType: string) => StageProfile;
  readonly visitFractions: Readonly<Record<string, number>>;
  /** The sample trace's mean rate. */
  readonly meanRatePerSecond: number;
  /** @default 0.7 */
  readonly targetUtilisation?: number;
}

/**
 * Where target tracking starts: a SageMaker real-time endpoint runs one request per invocation (it does
 * not batch across requests), so every stage serves at batch 1 on the plan's hardware, with
 * ⌈s_m·λ / (u·μ_m(1))⌉ replicas (at least one): the sample's mean rate at the target utilisation u.
 */
export function targetTrackingConfig(o: TargetTrackingConfigInput): PipelineConfig {
  const util = o.targetUtilisation ?? 0.7;
  const out: Record<string, PipelineConfig[string]> = {};
  for (const [s, c] of Object.entries(o.config)) {
    const mu = replicaThroughputQps(o.profileOf(s, c.instanceType), 1);
    const rate = (o.visitFractions[s] ?? 0) * o.meanRatePerSecond;
    out[s] = { ...c, maxBatch: 1, replicas: Math.max(1, Math.ceil(rate / (util * mu) - 1e-9)) };
  }
  return out;
}

export interface TargetTrackingOptions {
  readonly config: PipelineConfig;
  readonly profileOf: (stage: string, instanceType: string) => StageProfile;
  /** Target invocations per replica per minute, as a fraction of one replica's throughput. @default 0.7 */
  readonly targetUtilisation?: number;
  /** New replicas serve after this long. */
  readonly bootMs: (stage: string) => number;
  /** Metric period and evaluation interval. @default 60000 */
  readonly periodMs?: number;
  /** No scale-in until this long after the last scaling activity. @default 300000 */
  readonly scaleInCooldownMs?: number;
}

/** Events a target-tracking controller took, for tests and reports. */
export interface ScalingActivity {
  readonly atMs: number;
  readonly stage: string;
  readonly delta: number;
}

export interface TargetTrackingController extends PolicyController {
  readonly activities: readonly ScalingActivity[];
}

/**
 * Per stage: metric = queries entering the stage over the last period / serving replicas, scaled to a
 * minute. Desired = ⌈current · metric / target⌉ (target tracking's proportional rule). Scale-out at once
 * when desired exceeds what is serving and activating; scale-in only after the cooldown since the stage's
 * last scaling activity, and never below one replica.
 */
export function targetTrackingController(o: TargetTrackingOptions): TargetTrackingController {
  const period = o.periodMs ?? 60_000;
  const cooldown = o.scaleInCooldownMs ?? 300_000;
  const util = o.targetUtilisation ?? 0.7;
  const stages = Object.keys(o.config);
  const targetPerMinute = Object.fromEntries(
    stages.map((s) => {
      const c = o.config[s] as PipelineConfig[string];
      return [s, util * replicaThroughputQps(o.profileOf(s, c.instanceType), c.maxBatch) * 60];
    }),
  );
  const lastEntered: Record<string, number> = Object.fromEntries(stages.map((s) => [s, 0]));
  const lastActivity: Record<string, number> = Object.fromEntries(stages.map((s) => [s, 0]));
  const activities: ScalingActivity[] = [];
  return {
    tickMs: period,
    activities,
    tick(now: number, _arrivals: Float64Array, view: ControlView): ReplicaChange[] {
      const out: ReplicaChange[] = [];
      for (const s of stages) {
        const entered = view.entered[s] ?? 0;
        const serving = Math.max(1, view.active[s] ?? 1);
        const perReplicaPerMinute = (((entered - (lastEntered[s] ?? 0)) / serving) * 60_000) / period;
        lastEntered[s] = entered;
        const current = serving + (view.activating[s] ?? 0);
        const desired = Math.max(
          1,
          Math.ceil((serving * perReplicaPerMinute) / (targetPerMinute[s] as number) - 1e-9),
        );
        let delta = 0;
        if (desired > current) delta = desired - current;
        else if (desired < current && now - (lastActivity[s] ?? 0) >= cooldown) delta = desired - current;
        if (delta === 0) continue;
        lastActivity[s] = now;
        activities.push({ atMs: now, stage: s, delta });
        out.push(delta > 0 ? { stage: s, delta, activationDelayMs: o.bootMs(s) } : { stage: s, delta });
      }
      return out;
    },
  };
}
