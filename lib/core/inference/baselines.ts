import type { PolicyController } from './closed-loop.ts';
import type { CostOf } from './cost.ts';
import { maxArrivalsInWindow } from './envelope.ts';
import { maxProfiledBatch, replicaThroughputQps, type StageProfile, serviceTimeMs } from './profiles.ts';
import type { ControlView, PipelineConfig, ReplicaChange } from './simulator.ts';
import type { PipelineShape } from './topology.ts';
import type { TunerBasis } from './tuner.ts';

/**
 * The policies InferLine is compared with, and the sizing of its warm standby.
 *
 * - cg-peak (coarse-grained, provisioned for peak): the whole pipeline is one unit on one instance type,
 *   profiled as a black box, and replicated whole for the trace's peak rate, known in advance.
 * - target-tracking (SageMaker-style, per stage): InvocationsPerInstance averaged over one minute, kept
 *   near a target, scale-out when above it, scale-in no sooner than a cooldown after the last change, new
 *   replicas after their instance's boot latency.
 */

// ---------------------------------------------------------------------------------------------- cg-peak

/** The single stage a coarse-grained unit is simulated as. */
export const CG_STAGE = 'pipeline';

export const CG_PIPELINE: PipelineShape = { stages: [{ id: CG_STAGE }], edges: [] };

/**
 * P99 of Binomial(b, p): how many of a batch of b queries a stage visited with probability p must serve in
 * the 99th-percentile batch. A black-box profile of the whole pipeline sees exactly this variation.
 */
export function binomialP99(b: number, p: number): number {
  if (p >= 1) return b;
  if (p <= 0) return 0;
  let cdf = 0;
  let pmf = (1 - p) ** b;
  for (let m = 0; m <= b; m++) {
    cdf += pmf;
    if (cdf >= 0.99) return m;
    pmf *= ((b - m) / (m + 1)) * (p / (1 - p));
  }
  return b;
}

export interface CgInput {
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
  /** The unit's black-box profile: batch b runs every stage in turn on its P99 share of b. */
  readonly profile: StageProfile;
  readonly config: PipelineConfig;
  readonly costPerHour: number;
  /** units × one unit's throughput at maxBatch. */
  readonly capacityQps: number;
}

/** Batch sizes every stage has profiled on this type, ascending. */
function commonBatches(profiles: readonly StageProfile[]): number[] {
  const cap = Math.min(...profiles.map(maxProfiledBatch));
  const out: number[] = [];
  for (let b = 1; b <= cap; b *= 2) out.push(b);
  return out;
}

/** The unit's profile on one type: latency(b) = sum over stages of the stage's time for its P99 share. */
export function unitProfile(
  perStage: Readonly<Record<string, StageProfile>>,
  visitFractions: Readonly<Record<string, number>>,
  instanceType: string,
): StageProfile {
  const list = Object.values(perStage);
  const points = commonBatches(list).map((b) => {
    let latencyMs = 0;
    for (const [id, p] of Object.entries(perStage)) {
      const m = binomialP99(b, visitFractions[id] ?? 0);
      if (m > 0) latencyMs += serviceTimeMs(p, m);
    }
    return { batchSize: b, latencyMs, throughputQps: (b * 1000) / latencyMs };
  });
  const derived = list.find((p) => p.source.kind === 'derived');
  return {
    modelId: CG_STAGE,
    instanceType,
    source:
      derived?.source.kind === 'derived'
        ? {
            kind: 'derived',
            fromInstanceType: derived.source.fromInstanceType,
            factor: derived.source.factor,
            derivation: `sum of the stages' derived profiles: ${derived.source.derivation}`,
          }
        : { kind: 'measured' },
    points,
  };
}

/**
 * The cheapest (type, batch) whose unit can meet the SLO when provisioned for the peak: a batch that waits
 * at most one batch time and then runs one must fit the SLO (2·L(b) <= SLO), and the unit count covers
 * the peak rate at that batch's throughput.
 */
export function planCgPeak(input: CgInput): CgPlan | undefined {
  const stages = Object.keys(input.profiles);
  const types = new Set(stages.flatMap((s) => (input.profiles[s] ?? []).map((p) => p.instanceType)));
  let best: CgPlan | undefined;
  for (const type of types) {
    const perStage: Record<string, StageProfile> = {};
    for (const s of stages) {
      const p = input.profiles[s]?.find((x) => x.instanceType === type);
      if (p) perStage[s] = p;
    }
    if (Object.keys(perStage).length !== stages.length) continue;
    const profile = unitProfile(perStage, input.visitFractions, type);
    for (const pt of profile.points) {
      if (2 * pt.latencyMs > input.sloMs) continue;
      const units = Math.max(1, Math.ceil(input.peakRatePerSecond / pt.throughputQps - 1e-9));
      const config: PipelineConfig = {
        [CG_STAGE]: { instanceType: type, maxBatch: pt.batchSize, replicas: units, maxQueueDelayMs: 0 },
      };
      const costPerHour = input.costOf(config);
      if (!best || costPerHour < best.costPerHour - 1e-9)
        best = {
          instanceType: type,
          maxBatch: pt.batchSize,
          units,
          profile,
          config,
          costPerHour,
          capacityQps: units * pt.throughputQps,
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

// ------------------------------------------------------------------------------------- standby headroom

/**
 * Warm standby per instance type for the InferLine policy. New instances take a boot latency B to serve,
 * so the standby must carry any surge that arrives within B. The planning trace's envelope at the window
 * nearest B gives the rate the plan must expect over one boot (r_B, at least the planning mean rate); the
 * standby covers a surge to `surgeFactor`·r_B. At that rate the tuner asks stage m for
 * surgeFactor·r_B·s_m / (μ_m·ρ_m) replicas (the paper's formula before rounding: at least what tune()
 * asks, whose envelope rules are never more, so the standby is on the safe side). A spare slot of a type
 * serves any stage planned on that type, so the need is summed over the type's stages before rounding:
 * H_type = ⌈Σ_m surgeFactor·r_B·s_m / (μ_m·ρ_m)⌉ − Σ_m k_m, with B the slowest boot of the type's stages.
 */
export function standbyHeadroom(
  basis: TunerBasis,
  config: PipelineConfig,
  bootMs: (stage: string) => number,
  surgeFactor: number,
): Record<string, number> {
  const { windowsMs, ratesPerSecond } = basis.sample;
  const rateOverBoot = (boot: number) => {
    let i = 0;
    while (i + 1 < windowsMs.length && (windowsMs[i + 1] as number) <= boot) i++;
    return Math.max(ratesPerSecond[i] ?? 0, basis.planningRatePerSecond);
  };
  const byType = new Map<string, string[]>();
  for (const [s, c] of Object.entries(config))
    byType.set(c.instanceType, [...(byType.get(c.instanceType) ?? []), s]);
  const out: Record<string, number> = {};
  for (const [type, stages] of byType) {
    const rB = rateOverBoot(Math.max(...stages.map(bootMs)));
    let need = 0;
    let planned = 0;
    for (const s of stages) {
      const b = basis.stages[s];
      if (!b || b.visitFraction <= 0 || b.rho <= 0) continue;
      need += (surgeFactor * rB * b.visitFraction) / (b.replicaThroughputQps * b.rho);
      planned += b.plannedReplicas;
    }
    out[type] = Math.max(0, Math.ceil(need - 1e-9) - planned);
  }
  return out;
}
