/**
 * Inference SLO benchmark: three pipelines shaped like the InferLine paper's, four traces, two SLOs and
 * four policies, each replayed in the closed-loop estimator (lib/core/inference/closed-loop.ts) and priced
 * by packing replicas onto whole EC2 instances (packed-cost.ts), plus the oracle planner's cost with
 * hindsight (lib/core/inference/oracle.ts) as a reference for what each row could cost at best.
 *
 *   npm run bench:inference                 # JSON on stdout and in bench/results/inference.json
 *   options: --measure (re-profile the models on this machine first)  --no-write
 *            --surge X (serving headroom for a surge of X times the sample's boot-window rate, default 3)
 *            --target-util X (target-tracking target, default 0.7)
 *            --late-fraction X (planning margin: allowed late fraction on the sample, default 0.0025)
 *            --rho-p-pipeline (scale down with the paper's pipeline-wide ρ_p instead of each stage's ρ_m)
 *            --envelope-from-service (envelope windows from the shortest stage service time, not the SLO)
 *            --no-slack (the tuner compares live rates with the bare sample, not the plan's certified slack)
 *            --cpu-derived-gpus (derive GPU types from the CPU measurement even where a GPU was measured)
 *            --headroom-batch-only (the joint plan + headroom search lowers batches only, never moves hardware)
 *            --gpu-whole-curve (derive GPU types from the measured GPU by the fp32 ratio on the whole run, not
 *            part by part: copies and host overhead then scale with the GPU's arithmetic too)
 *            --headroom-on-top (serve the tuner's target plus the whole headroom, instead of letting the
 *            warm replicas absorb scale-ups above the plan first)
 *            --spot-headroom (the warm headroom on spot capacity at the catalog's spot prices, the spec's
 *            spotHeadroom; the plan, the tuner's scale-ups and every other policy stay on-demand)
 *            --spot-interruptions [S] (with --spot-headroom: replay each inferline row with all its spot
 *            headroom interrupted, the notice every S seconds in turn (default 30), and report the worst
 *            miss rate; the interrupted replicas serve through the drain's grace, or not with
 *            --spot-no-grace)
 *            --downgrade-next (the planner's DowngradeHW tries only the next-cheaper type, as in the paper,
 *            instead of every cheaper one)
 *            --rate-scale X (every trace and sample rate times X, default 1: the same shapes at a larger
 *            deployment; written to bench/results/inference-rate-xX.json unless --out or --no-write)
 *            --pipelines a,b (only these pipelines)  --out PATH (write the JSON there)
 *
 * Profiles come from bench/inference/profiles.json (measured on this machine for c7i.large) and
 * bench/inference/gpu-profiles.json (measured on a GPU, see measure-gpu.ts); every candidate type is
 * derived from one of them and marked so: CPU types from the CPU measurement, GPU types from the GPU one. Progress goes to stderr. Targets are computed from the rows, not asserted.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { REBALANCE_SERVE_SECONDS, SPOT_DRAIN_GRACE_SECONDS } from '../lib/core/control/ingest.ts';
import { HEADROOM_SURGE_FACTOR, PLAN_SLACK_MAX } from '../lib/core/inference/headroom.ts';
import { PLANNING_LATE_FRACTION } from '../lib/core/inference/planner.ts';
import { findInstanceType } from '../lib/core/model/catalog.ts';
import type { ModelProfile } from '../lib/core/protocol/inference.ts';
import { loadGpuProfiles } from './inference/measure-gpu.ts';
import { type MeasuredFigures, measureProfiles, PROFILES_PATH } from './inference/measure-profiles.ts';
import { PIPELINES } from './inference/pipelines.ts';
import {
  headroomSearchMs,
  ORACLE_LATE_FRACTION,
  ORACLE_WINDOW_MS,
  planFor,
  runPolicy,
} from './inference/policies.ts';
import { POLICIES, type PolicyRow, type PolicySettings } from './inference/policy-types.ts';
import {
  BASE_RATE,
  CANDIDATE_TYPES,
  DURATION_S,
  evaluationTraces,
  loadProfilesFile,
  SAMPLE_S,
  sampleTrace,
  stageProfiles,
} from './inference/setup.ts';
import { computeTargets } from './inference/targets.ts';

const SLOS = [150, 300] as const;

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v)) throw new Error(`${name} needs a number, got ${process.argv[i + 1]}`);
  return v;
}

const log = (m: string) => process.stderr.write(`${m}\n`);

async function main(): Promise<void> {
  const began = performance.now();
  if (process.argv.includes('--measure')) {
    const measured = await measureProfiles(log);
    writeFileSync(PROFILES_PATH, `${JSON.stringify(measured, null, 2)}\n`);
  }
  const file = loadProfilesFile();
  const measuredGpu = process.argv.includes('--cpu-derived-gpus') ? undefined : loadGpuProfiles();
  const gpu =
    measuredGpu && process.argv.includes('--gpu-whole-curve')
      ? { ...measuredGpu, components: undefined }
      : measuredGpu;
  const settings: PolicySettings = {
    surgeFactor: flag('--surge', HEADROOM_SURGE_FACTOR),
    targetUtilisation: flag('--target-util', 0.7),
    targetTrackingPeriodMs: 60_000,
    scaleInCooldownMs: 300_000,
    scaleDownRho: process.argv.includes('--rho-p-pipeline') ? 'pipeline' : 'stage',
    envelopeFloor: process.argv.includes('--envelope-from-service') ? 'service' : 'slo',
    planningLateFraction: flag('--late-fraction', PLANNING_LATE_FRACTION),
    downgrade: process.argv.includes('--downgrade-next') ? 'next' : 'any',
    tunerTickMs: 1000,
    slack: !process.argv.includes('--no-slack'),
    headroomHardware: !process.argv.includes('--headroom-batch-only'),
    headroomRule: process.argv.includes('--headroom-on-top') ? 'on-top' : 'absorb',
    spotHeadroom: process.argv.includes('--spot-headroom'),
    ...spotInterruptions(),
  };
  const rateScale = flag('--rate-scale', 1);
  const traces = evaluationTraces(rateScale);
  const rows: PolicyRow[] = [];
  const plans: Record<string, unknown>[] = [];
  for (const pipeline of selectedPipelines()) {
    const profiles = stageProfiles(file, pipeline, gpu);
    for (const sloMs of SLOS) {
      for (const cv of [1, 4]) {
        const sample = sampleTrace(cv, rateScale);
        const t0 = performance.now();
        const p = planFor(pipeline, profiles, sloMs, sample, settings);
        const planMs = performance.now() - t0;
        log(
          `${pipeline.name} slo ${sloMs} cv ${cv}: plan ${p.feasible ? `$${p.costPerHour.toFixed(3)}/h` : `refused (${p.reason})`} in ${Math.round(planMs)} ms`,
        );
        for (const trace of traces.filter((t) => t.sampleCv === cv)) {
          for (const policy of POLICIES) {
            const r = runPolicy({ pipeline, profiles, trace, sloMs, plan: p, sample, settings }, policy);
            rows.push(r);
            log(
              `  ${trace.name} ${policy}: miss ${r.missRate === null ? '-' : (r.missRate * 100).toFixed(3)}% cost ${r.costPerHour === null ? '-' : r.costPerHour.toFixed(3)}`,
            );
          }
        }
        plans.push({
          pipeline: pipeline.name,
          sloMs,
          sampleCv: cv,
          feasible: p.feasible,
          planMs: Math.round(planMs),
          simulations: p.simulations,
          headroomSearchMs: Math.round(headroomSearchMs(p) ?? 0),
          ...(p.feasible
            ? {
                costPerHour: p.costPerHour,
                p99Ms: Math.round(p.p99Ms * 10) / 10,
                initialCostPerHour: p.initial.costPerHour,
                config: p.config,
                derivedStages: p.derivedStages,
              }
            : { reason: p.reason }),
        });
      }
    }
  }
  const out = {
    bench: 'inference',
    generatedAt: new Date().toISOString(),
    wallSeconds: Math.round((performance.now() - began) / 100) / 10,
    settings,
    rateScale,
    parameters: parameters(settings, rateScale),
    profiles: {
      measuredAs: file.measuredAs,
      basis: file.basis,
      machine: file.machine,
      derivedTypes: CANDIDATE_TYPES.filter((t) => t !== file.measuredAs),
      figures: measuredFigures(file),
      gpu: gpu
        ? {
            measuredAs: gpu.measuredAs,
            basis: gpu.basis,
            device: gpu.run.device,
            gpuTypesDerivedFrom: gpu.measuredAs,
            gpuDerivation: gpu.components
              ? 'part by part: kernels by the fp32 ratio, copies bounded by the host link (deriveGpuFromParts)'
              : 'the whole run by the fp32 ratio (--gpu-whole-curve, or no measured parts)',
            figures: measuredFigures(gpu),
          }
        : 'GPU types derived from the CPU measurement (--cpu-derived-gpus, or no bench/inference/gpu-profiles.json)',
    },
    plans,
    rows,
    targets: computeTargets(rows, traces),
  };
  const json = JSON.stringify(out, null, 2);
  process.stdout.write(`${json}\n`);
  if (!process.argv.includes('--no-write')) {
    const path = outPath(rateScale);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `${json}\n`);
    log(`wrote ${path}`);
  }
}

/**
 * `--spot-interruptions [S]`: notices every S seconds (default 30); only with --spot-headroom. The lost
 * headroom serves through the product's drain grace, or not at all with --spot-no-grace.
 * `--spot-rebalance-lead L`: a rebalance recommendation comes L seconds before each warning, and the
 * product's rebalance handling starts the replacements then (not with --spot-no-grace).
 */
function spotInterruptions(): {
  spotInterruptionEveryMs?: number;
  spotServeForMs?: number;
  spotRebalanceLeadMs?: number;
  spotRebalanceServeMs?: number;
} {
  const i = process.argv.indexOf('--spot-interruptions');
  if (i < 0) {
    if (process.argv.includes('--spot-rebalance-lead'))
      throw new Error('--spot-rebalance-lead comes with --spot-interruptions');
    return {};
  }
  if (!process.argv.includes('--spot-headroom'))
    throw new Error('--spot-interruptions interrupts the spot headroom: add --spot-headroom');
  const next = process.argv[i + 1];
  const seconds = next === undefined || next.startsWith('--') ? 30 : Number(next);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > DURATION_S)
    throw new Error(`--spot-interruptions needs a spacing in seconds in (0, ${DURATION_S}], got ${next}`);
  const noGrace = process.argv.includes('--spot-no-grace');
  const serveForMs = noGrace ? 0 : SPOT_DRAIN_GRACE_SECONDS * 1000;
  const out = { spotInterruptionEveryMs: seconds * 1000, spotServeForMs: serveForMs };
  const l = process.argv.indexOf('--spot-rebalance-lead');
  if (l < 0) return out;
  if (noGrace) throw new Error("--spot-rebalance-lead models the product's drains: drop --spot-no-grace");
  const lead = Number(process.argv[l + 1]);
  if (!Number.isFinite(lead) || lead < 0 || lead > DURATION_S)
    throw new Error(`--spot-rebalance-lead needs seconds in [0, ${DURATION_S}], got ${process.argv[l + 1]}`);
  return {
    ...out,
    spotRebalanceLeadMs: lead * 1000,
    spotRebalanceServeMs: REBALANCE_SERVE_SECONDS * 1000,
  };
}

/** `--pipelines a,b`: only these, each of which must exist; all of them without the flag. */
function selectedPipelines(): typeof PIPELINES {
  const i = process.argv.indexOf('--pipelines');
  if (i < 0) return PIPELINES;
  const names = (process.argv[i + 1] ?? '').split(',').filter((n) => n !== '');
  const known = PIPELINES.map((p) => p.name);
  const unknown = names.filter((n) => !known.includes(n));
  if (names.length === 0 || unknown.length > 0)
    throw new Error(
      `--pipelines needs a comma-separated list of ${known.join(', ')}; got ${unknown.length ? `unknown ${unknown.join(', ')}` : 'none'}`,
    );
  return PIPELINES.filter((p) => names.includes(p.name));
}

/** `--out PATH`, else results/inference.json at the issue's rates and results/inference-rate-xX.json otherwise. */
function outPath(rateScale: number): string {
  const i = process.argv.indexOf('--out');
  if (i >= 0) {
    const p = process.argv[i + 1];
    if (!p || p.startsWith('--')) throw new Error('--out needs a file path');
    return resolve(p);
  }
  const name = rateScale === 1 ? 'inference.json' : `inference-rate-x${rateScale}.json`;
  return fileURLToPath(new URL(`./results/${name}`, import.meta.url));
}

/** Every policy parameter in words, so the JSON says what each row ran. */
function parameters(s: PolicySettings, rateScale: number): Record<string, string> {
  const boot = Object.fromEntries(
    CANDIDATE_TYPES.map((t) => [t, `${findInstanceType(t)?.bootSeconds ?? '?'} s`]),
  );
  return {
    traces: `${DURATION_S} s each, evaluated on draws separate from the ${SAMPLE_S} s planning samples (Gamma at ${BASE_RATE * rateScale} qps${rateScale === 1 ? '' : ` (the issue's ${BASE_RATE} qps times ${rateScale})`}, CV = variance/mean^2 of inter-arrival times)`,
    planner: `InferLine Alg. 1 + 2 on the sample (DowngradeHW ${s.downgrade === 'any' ? 'tries every cheaper type and keeps the cheapest result' : "tries the next-cheaper type only, the paper's rule (--downgrade-next)"}), packed whole-instance cost, feasible when at most ${s.planningLateFraction * 100}% of sample queries exceed the SLO (the spec's P99 allows 1%; the margin covers sample-to-live variation)`,
    inferline: `planner + tuner ticking every ${s.tunerTickMs} ms (${s.slack ? `live envelope rates compared with the sample's times the plan's certified slack sigma, the largest factor up to ${PLAN_SLACK_MAX} at which the estimator shows the plan alone still meets the SLO on the sample compressed in time; ` : ''}scale-up to the plan scaled window by window by live over sample envelope rate, capped by one replica's capacity bound rho_safe = (SLO/n - T(B))/SLO for light stages; stabilisation 15 s, scale-down to the max 5 s rate of the last 30 s with ${s.scaleDownRho === 'stage' ? "each stage's own rho" : 'the pipeline-wide rho_p'}, envelope windows from ${s.envelopeFloor === 'slo' ? 'the SLO' : 'the shortest service time'} doubling to 60 s); serving headroom per stage: the replicas the estimator adds to the plan at the bottleneck until the sample, compressed in time to ${s.surgeFactor}x its rate over the slowest boot latency, meets the SLO; the plan's batches${s.headroomHardware ? ' and hardware' : ''} revisited against the joint cost of plan and headroom (withSurgeHeadroom); ${s.headroomRule === 'absorb' ? 'the warm replicas serve scale-ups above the plan first (max(target, plan + headroom) above the plan, target + headroom below it)' : "the whole headroom on top of the tuner's target (--headroom-on-top)"}; scale-ups beyond it serve after the type's boot latency`,
    'planner-only': 'the plan, fixed for the whole trace',
    'cg-peak':
      "the whole pipeline as one unit, one replica of every stage on one instance type and one max batch (the paper's coarse-grained baseline), the cheapest type and batch whose longest-path batch latency, doubled, fits the SLO, replicated whole for the trace's peak rate over a sliding window equal to the SLO (known in advance), fixed",
    'target-tracking': `per stage on the plan's hardware at batch 1 (real-time endpoints do not batch across requests), starting at ceil(s*lambda/(${s.targetUtilisation}*mu(1))) replicas for the sample's mean rate; metric invocations per replica per ${s.targetTrackingPeriodMs / 1000} s period, target ${s.targetUtilisation} of a replica's batch-1 throughput; scale-out when above the target, serving after the type's boot latency; scale-in no sooner than ${s.scaleInCooldownMs / 1000} s after the stage's last activity`,
    oracle: `not a policy but a cost reference: the planner re-run on every ${ORACLE_WINDOW_MS / 1000} s window of the evaluation trace itself (known in advance), held to at most ${ORACLE_LATE_FRACTION * 100}% of each window's queries over the SLO, switching configuration instantly and free between windows (no boot latency, no headroom), each window simulated from empty queues; cost is the time-weighted mean of the windows' packed costs`,
    bootLatency: JSON.stringify(boot),
    cost: s.spotHeadroom
      ? `replica-seconds over the trace, each interval priced as packings onto whole EC2 instances, averaged to $/h: inferline's warm headroom slots at spot prices (--spot-headroom, the catalog's per-family discount; ${s.spotInterruptionEveryMs === undefined ? 'interruptions not simulated' : `each inferline row the worst of one interruption of all its headroom, noticed every ${s.spotInterruptionEveryMs / 1000} s in turn: ${s.spotRebalanceLeadMs === undefined ? 'replacements are asked for at the notice' : `replacements are asked for at a rebalance recommendation ${s.spotRebalanceLeadMs / 1000} s before the notice`} and serve one boot after it, and the interrupted headroom serves on for ${(s.spotServeForMs ?? 0) / 1000} s after the notice (${s.spotServeForMs ? "the product's drain grace: serving tasks serve through a spot drain" : 'handed back at the notice, --spot-no-grace'}${s.spotRebalanceServeMs === undefined ? '' : `, or ${s.spotRebalanceServeMs / 1000} s after the recommendation if that is sooner: a rebalance moves serving tasks off that long before stopping them`}); the row's miss rate is the worst run's and its cost the uninterrupted run's (the worst run's, its replacements priced on-demand while both run, in interruptions.worstCostPerHour)`}), every other replica on-demand`
      : 'replica-seconds over the trace, each interval priced as one packing of its replicas (headroom included) onto whole on-demand EC2 instances, averaged to $/h',
  };
}

function measuredFigures(file: { readonly reports: readonly ModelProfile[] }): MeasuredFigures {
  return Object.fromEntries(
    file.reports.map((r) => [
      r.modelId,
      r.entries.map((e) => ({ batch: e.batchSize, p50Ms: e.p50Ms, p99Ms: e.p99Ms })),
    ]),
  );
}

await main();
