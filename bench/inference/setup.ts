import { readFileSync } from 'node:fs';
import { deriveForType, deriveGpuFromParts } from '../../lib/core/inference/derivation.ts';
import { fromModelProfile, type StageProfile } from '../../lib/core/inference/profiles.ts';
import { addSpike, gammaTrace, stepTrace } from '../../lib/core/inference/traces.ts';
import { findInstanceType } from '../../lib/core/model/catalog.ts';
import type { InstanceType } from '../../lib/core/model/instance-type.ts';
import { type ModelProfile, ModelProfileSchema } from '../../lib/core/protocol/inference.ts';
import type { GpuProfilesFile } from './measure-gpu.ts';
import { PROFILES_PATH, type ProfilesFile } from './measure-profiles.ts';
import { type BenchPipeline, ioBytesOf, MODELS } from './pipelines.ts';

/** Types every stage may use: the measured one, three larger c7i sizes, and three 1-GPU types (derived). */
export const CANDIDATE_TYPES = [
  'c7i.large',
  'c7i.xlarge',
  'c7i.2xlarge',
  'c7i.4xlarge',
  'g4dn.xlarge',
  'g6.xlarge',
  'g5.xlarge',
] as const;

export function loadProfilesFile(): ProfilesFile {
  const raw = JSON.parse(readFileSync(PROFILES_PATH, 'utf8')) as ProfilesFile;
  return { ...raw, reports: raw.reports.map((r) => ModelProfileSchema.parse(r) as ModelProfile) };
}

function typeOf(name: string): InstanceType {
  const t = findInstanceType(name);
  if (!t) throw new Error(`unknown instance type ${name}`);
  return t;
}

/**
 * Stage id -> one profile per candidate type: the measured one as is, every other type derived. GPU types
 * are derived from the model's measured GPU profile when `gpu` has one (a GPU's batch curve), part by part
 * where the run was split into copies and kernels (deriveGpuFromParts), else from the CPU measurement.
 */
export function stageProfiles(
  file: ProfilesFile,
  pipeline: BenchPipeline,
  gpu?: GpuProfilesFile,
): Record<string, StageProfile[]> {
  const out: Record<string, StageProfile[]> = {};
  for (const s of pipeline.stages) {
    const report = file.reports.find((r) => r.modelId === s.model);
    if (!report) throw new Error(`profiles.json has no report for model ${s.model}; run with --measure`);
    const measured = fromModelProfile(report, file.latencyFigure);
    const onGpu = gpu?.reports.find((r) => r.modelId === s.model);
    const gpuBasis = onGpu ? fromModelProfile(onGpu, gpu?.latencyFigure) : undefined;
    const parts = gpu?.components?.find((c) => c.modelId === s.model)?.entries;
    const model = MODELS.find((m) => m.id === s.model);
    out[s.id] = CANDIDATE_TYPES.map((t) => {
      const type = typeOf(t);
      if (type.gpus === 0 || !gpuBasis) return deriveForType(measured, type);
      if (!parts || !model) return deriveForType(gpuBasis, type);
      return deriveGpuFromParts(gpuBasis, type, { parts, ...ioBytesOf(model.spec) });
    });
  }
  return out;
}

export function lookup(profiles: Readonly<Record<string, readonly StageProfile[]>>) {
  return (stage: string, instanceType: string): StageProfile => {
    const p = profiles[stage]?.find((x) => x.instanceType === instanceType);
    if (!p) throw new Error(`no profile for ${stage} on ${instanceType}`);
    return p;
  };
}

export interface BenchTrace {
  readonly name: string;
  /** CV of the planning trace the user would supply (the evaluation trace's base behaviour). */
  readonly sampleCv: number;
  readonly bursty: boolean;
  readonly arrivalsMs: Float64Array;
  readonly durationMs: number;
}

export const BASE_RATE = 150;
export const DURATION_S = 300;
export const SAMPLE_S = 120;

/**
 * Evaluation traces, 300 s each. Seeds differ from the planning traces', so no policy is evaluated on
 * the trace it was planned on.
 */
export function evaluationTraces(rateScale = 1): BenchTrace[] {
  const d = DURATION_S * 1000;
  const r = checkRateScale(rateScale);
  const base = BASE_RATE * r;
  const stepTo = 250 * r;
  return [
    {
      name: 'gamma-cv1',
      sampleCv: 1,
      bursty: false,
      arrivalsMs: gammaTrace({ ratePerSecond: base, cv: 1, durationSeconds: DURATION_S }, 101),
      durationMs: d,
    },
    {
      name: 'gamma-cv4',
      sampleCv: 4,
      bursty: true,
      arrivalsMs: gammaTrace({ ratePerSecond: base, cv: 4, durationSeconds: DURATION_S }, 102),
      durationMs: d,
    },
    {
      name: `step-${fmtRate(base)}-${fmtRate(stepTo)}`,
      sampleCv: 1,
      bursty: true,
      arrivalsMs: stepTrace(
        [
          { ratePerSecond: base, cv: 1, durationSeconds: 120 },
          { ratePerSecond: stepTo, cv: 1, durationSeconds: DURATION_S - 120 },
        ],
        103,
      ),
      durationMs: d,
    },
    {
      name: 'spike',
      sampleCv: 1,
      bursty: true,
      // Base 150 qps; from 120 s to 140 s another 300 qps on top: 3x the base rate for 20 s (rates times
      // the rate scale).
      arrivalsMs: addSpike(
        gammaTrace({ ratePerSecond: base, cv: 1, durationSeconds: DURATION_S }, 104),
        { ratePerSecond: 2 * base, cv: 1, durationSeconds: 20, atSeconds: 120 },
        105,
      ),
      durationMs: d,
    },
  ];
}

/** The planning trace a user would supply: a separate draw at the base rate and the trace's CV. */
export function sampleTrace(cv: number, rateScale = 1): Float64Array {
  const rate = BASE_RATE * checkRateScale(rateScale);
  return gammaTrace({ ratePerSecond: rate, cv, durationSeconds: SAMPLE_S }, cv === 1 ? 201 : 204);
}

/**
 * Every rate of the traces and samples times this factor (the bench's `--rate-scale`): the same shapes
 * at a larger deployment, where a stage needs many instances rather than one.
 */
function checkRateScale(x: number): number {
  if (!Number.isFinite(x) || x <= 0 || x > 100)
    throw new Error(`rate scale must be a number in (0, 100], got ${x}`);
  return x;
}

function fmtRate(qps: number): string {
  return Number.isInteger(qps) ? String(qps) : qps.toFixed(1);
}
