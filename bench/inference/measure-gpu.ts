/**
 * GPU profiles of the benchmark models, measured on a machine with an NVIDIA GPU.
 *
 *   tsx bench/inference/measure-gpu.ts --specs FILE
 *       writes the models' architecture specs for bench/inference/gpu/profile_torch.py, which runs on the GPU
 *       machine (PyTorch with CUDA): bench/inference/gpu/measure.sh runs it there
 *   tsx bench/inference/measure-gpu.ts --import RAW.json [--tf32 RAW-TF32.json] [--check RAW2.json]
 *                                      --instance-type p5.48xlarge
 *       validates that script's output and writes bench/inference/gpu-profiles.json: one measured
 *       ModelProfile per model (provider cuda) for the instance type whose GPU ran it, and each run's parts
 *       (copy in, kernels, copy out) that the bench derives other GPUs from. `--check` adds a second GPU's
 *       run measured the same way, against what each derivation claims for it (`crossGpuCheck`).
 *   tsx bench/inference/measure-gpu.ts --check RAW2.json
 *       the same check against the current file.
 *
 * The agent's runtime, onnxruntime-node, is installed without its CUDA execution provider (its binaries are
 * not in the npm package), so these figures come from PyTorch's CUDA kernels running the same architectures
 * layer for layer, not from the agent. The bench derives its GPU candidates (T4, L4, A10G) from them part
 * by part (setup.ts stageProfiles, deriveGpuFromParts), and the file compares them with what the
 * CPU-based derivation claims for the same GPU (`derivationCheck`).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { percentile } from '../../lib/cli/report/summary.ts';
import {
  deriveForType,
  fp32Ratio,
  GPU_FP32_TFLOPS,
  type GpuRunParts,
  gpuBatchFactors,
} from '../../lib/core/inference/derivation.ts';
import { fromModelProfile } from '../../lib/core/inference/profiles.ts';
import { findInstanceType } from '../../lib/core/model/catalog.ts';
import {
  type ModelProfile,
  ModelProfileSchema,
  ProfileEntrySchema,
} from '../../lib/core/protocol/inference.ts';
import type { ProfilesFile } from './measure-profiles.ts';
import { ioBytesOf, MODELS, resolveSpec } from './pipelines.ts';
import { loadProfilesFile } from './setup.ts';

export const GPU_PROFILES_PATH = join(dirname(fileURLToPath(import.meta.url)), 'gpu-profiles.json');
/** Batch sizes profiled on the GPU: a GPU gains from batching well past where a 2-vCPU CPU stops. */
export const GPU_BATCHES = [1, 2, 4, 8, 16, 32] as const;

const PartsSchema = z.object({
  batchSize: z.number().int().positive(),
  h2dMs: z.number().min(0),
  computeMs: z.number().min(0),
  d2hMs: z.number().min(0),
  runs: z.number().int().min(1),
});

const RawReportSchema = z
  .object({
    modelId: z.string().min(1),
    entries: z.array(ProfileEntrySchema).min(1),
    components: z.array(PartsSchema).optional(),
  })
  .superRefine((r, ctx) => {
    if (!r.components) return;
    const sizes = (xs: readonly { batchSize: number }[]) => xs.map((x) => x.batchSize).join(',');
    if (sizes(r.components) !== sizes(r.entries))
      ctx.addIssue({
        code: 'custom',
        path: ['components'],
        message: `must cover the same batch sizes as entries (${sizes(r.entries)}), got ${sizes(r.components)}`,
      });
  });

const RawSchema = z.object({
  device: z.string().min(1),
  gpuMemoryMiB: z.number().int().positive(),
  multiprocessors: z.number().int().positive(),
  torch: z.string().min(1),
  cuda: z.string().nullable(),
  cudnn: z.number().int().nullable(),
  tf32: z.boolean(),
  passes: z.number().int().min(1),
  warmup: z.number().int().min(0),
  minSamples: z.number().int().min(1),
  maxSamples: z.number().int().min(1),
  minDurationMs: z.number().min(0),
  componentRuns: z.number().int().min(0).optional(),
  reports: z.array(RawReportSchema).min(1, { error: 'reports must list at least one model' }),
});
export type RawGpuRun = z.infer<typeof RawSchema>;

export interface GpuProfilesFile {
  readonly measuredAs: string;
  readonly basis: string;
  readonly run: Omit<RawGpuRun, 'reports'>;
  readonly latencyFigure: 'p99';
  readonly reports: readonly ModelProfile[];
  /**
   * Per model and batch size profiled on both: the GPU's measured throughput against the CPU measurement
   * and against what the CPU-based derivation (derivationFactor from a c7i profile) claims for this GPU.
   */
  readonly derivationCheck: readonly DerivationCheck[];
  /**
   * Per model and batch size, the medians of a run's parts on the GPU's clock (copy in, kernels, copy out):
   * what the bench derives other GPUs from, part by part (deriveGpuFromParts).
   */
  readonly components?: readonly { readonly modelId: string; readonly entries: readonly GpuRunParts[] }[];
  /** A second GPU measured the same way, against what each derivation from this file claims for it. */
  readonly crossGpuCheck?: CrossGpuCheck;
  /** The same models with TF32 tensor-core arithmetic allowed: for reference, not used by the bench. */
  readonly tf32?: { readonly run: Omit<RawGpuRun, 'reports'>; readonly reports: readonly ModelProfile[] };
}

export interface DerivationCheck {
  readonly modelId: string;
  readonly batch: number;
  readonly cpuQps: number;
  readonly gpuQps: number;
  readonly cpuDerivedGpuQps: number;
  /** gpuQps / cpuQps */
  readonly measuredSpeedup: number;
  /** gpuQps / cpuDerivedGpuQps: over 1, the CPU-based derivation under-states this GPU; under 1, it over-states it. */
  readonly measuredOverDerived: number;
}

export interface CrossGpuRow {
  readonly modelId: string;
  readonly batch: number;
  readonly measuredQps: number;
  /** The whole run scaled by the fp32 ratio (derivationFactor). */
  readonly wholeCurveQps: number;
  /** Part by part (gpuBatchFactors); absent where the basis has no measured parts. */
  readonly byPartsQps?: number;
  /** The second GPU's kernel time over the basis GPU's (medians), where both were split into parts. */
  readonly kernelRatio?: number;
}

export interface CrossGpuCheck {
  readonly device: string;
  readonly gpuModel: string;
  readonly basisGpuModel: string;
  readonly run: Omit<RawGpuRun, 'reports'>;
  readonly rows: readonly CrossGpuRow[];
  /**
   * Min, median and max over the rows: measuredQps / derivedQps for each derivation, and the kernel-time
   * ratio. Both derivations agree where the two GPUs have the same fp32 peak and host link (H100, H200).
   */
  readonly summary: Readonly<Record<'wholeCurve' | 'byParts' | 'kernelRatio', Spread | null>>;
}

interface Spread {
  readonly min: number;
  readonly median: number;
  readonly max: number;
  readonly rows: number;
}

const r2 = (x: number) => Math.round(x * 100) / 100;
const r3 = (x: number) => Math.round(x * 1000) / 1000;

function spread(xs: readonly number[]): Spread | null {
  const [min, median, max] = [0, 50, 100].map((p) => percentile(xs, p));
  if (min == null || median == null || max == null) return null;
  return { min: r3(min), median: r3(median), max: r3(max), rows: xs.length };
}

/** The GPU model a device name names (e.g. "NVIDIA H200" -> H200), from the models the derivation knows. */
export function gpuModelOfDevice(device: string): string {
  const found = Object.keys(GPU_FP32_TFLOPS).filter((m) => device.includes(m));
  const [only] = found;
  if (found.length !== 1 || only === undefined)
    throw new Error(
      `device ${JSON.stringify(device)} names ${found.length === 0 ? 'no' : 'more than one'} known GPU model ` +
        `(${Object.keys(GPU_FP32_TFLOPS).join(', ')})`,
    );
  return only;
}

/**
 * A second GPU's measured throughput against what the file's GPU profiles derive for it: by the fp32
 * ratio on the whole run, and part by part. Between two GPUs of equal fp32 peak and different memory
 * bandwidth (H100 and H200), it tests whether these models' runs follow arithmetic or memory.
 */
export function crossGpuCheck(file: GpuProfilesFile, raw: RawGpuRun): CrossGpuCheck {
  const basisType = findInstanceType(file.measuredAs);
  const basisGpu = basisType?.gpuModel;
  if (!basisGpu) throw new Error(`${file.measuredAs} (the file's measured type) has no GPU model`);
  const gpuModel = gpuModelOfDevice(raw.device);
  const wholeFactor = fp32Ratio(basisGpu, gpuModel);
  const rows: CrossGpuRow[] = [];
  for (const r of raw.reports) {
    const basis = file.reports.find((b) => b.modelId === r.modelId);
    const model = MODELS.find((m) => m.id === r.modelId);
    if (!basis || !model) continue;
    const parts = file.components?.find((c) => c.modelId === r.modelId)?.entries;
    const points = basis.entries.map((e) => ({ batchSize: e.batchSize, throughputQps: e.throughputQps }));
    const factors = parts
      ? gpuBatchFactors({ from: basisGpu, to: gpuModel, points, parts, ...ioBytesOf(model.spec) })
      : undefined;
    for (const e of r.entries) {
      const b = basis.entries.find((x) => x.batchSize === e.batchSize);
      if (!b) continue;
      const factor = factors?.find((f) => f.batchSize === e.batchSize)?.factor;
      const mine = r.components?.find((c) => c.batchSize === e.batchSize);
      const theirs = parts?.find((c) => c.batchSize === e.batchSize);
      rows.push({
        modelId: r.modelId,
        batch: e.batchSize,
        measuredQps: Math.round(e.throughputQps),
        wholeCurveQps: Math.round(b.throughputQps * wholeFactor),
        ...(factor !== undefined ? { byPartsQps: Math.round(b.throughputQps * factor) } : {}),
        ...(mine && theirs && theirs.computeMs > 0
          ? { kernelRatio: r3(mine.computeMs / theirs.computeMs) }
          : {}),
      });
    }
  }
  const { reports: _reports, ...run } = raw;
  return {
    device: raw.device,
    gpuModel,
    basisGpuModel: basisGpu,
    run,
    rows,
    summary: {
      wholeCurve: spread(rows.map((x) => x.measuredQps / x.wholeCurveQps)),
      byParts: spread(rows.flatMap((x) => (x.byPartsQps ? [x.measuredQps / x.byPartsQps] : []))),
      kernelRatio: spread(rows.flatMap((x) => (x.kernelRatio !== undefined ? [x.kernelRatio] : []))),
    },
  };
}

/** The measured GPU against the CPU measurement and the GPU profile derived from it. */
export function derivationCheck(cpu: ProfilesFile, gpu: readonly ModelProfile[]): DerivationCheck[] {
  const out: DerivationCheck[] = [];
  for (const g of gpu) {
    const report = cpu.reports.find((r) => r.modelId === g.modelId);
    const target = findInstanceType(g.instanceType);
    if (!report || !target) continue;
    const derived = deriveForType(fromModelProfile(report, cpu.latencyFigure), target);
    for (const e of g.entries) {
      const c = report.entries.find((x) => x.batchSize === e.batchSize);
      const d = derived.points.find((x) => x.batchSize === e.batchSize);
      if (!c || !d) continue;
      out.push({
        modelId: g.modelId,
        batch: e.batchSize,
        cpuQps: Math.round(c.throughputQps),
        gpuQps: Math.round(e.throughputQps),
        cpuDerivedGpuQps: Math.round(d.throughputQps),
        measuredSpeedup: r2(e.throughputQps / c.throughputQps),
        measuredOverDerived: r2(e.throughputQps / d.throughputQps),
      });
    }
  }
  return out;
}

export function specsFile() {
  return {
    models: MODELS.map((m) => ({
      id: m.id,
      what: m.what,
      spec: resolveSpec(m.spec),
      batches: [...GPU_BATCHES],
    })),
  };
}

function parseRaw(path: string): RawGpuRun {
  const parsed = RawSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`${path} is not a GPU profile run:\n  ${issues.join('\n  ')}`);
  }
  const known = new Set(MODELS.map((m) => m.id));
  const unknown = parsed.data.reports.filter((r) => !known.has(r.modelId)).map((r) => r.modelId);
  if (unknown.length > 0) throw new Error(`${path} reports unknown models: ${unknown.join(', ')}`);
  return parsed.data;
}

function toReports(raw: RawGpuRun, instanceType: string): ModelProfile[] {
  return raw.reports.map((r) =>
    ModelProfileSchema.parse({
      version: 1,
      kind: 'ModelProfile',
      modelId: r.modelId,
      instanceType,
      provider: 'cuda',
      device: `${raw.device} (PyTorch ${raw.torch}, CUDA ${raw.cuda}, cuDNN ${raw.cudnn}, ${raw.tf32 ? 'TF32' : 'fp32'})`,
      measured: true,
      entries: r.entries,
    }),
  );
}

export function importRuns(
  rawPath: string,
  instanceType: string,
  tf32Path?: string,
  checkPath?: string,
): GpuProfilesFile {
  const file = importMain(rawPath, instanceType, tf32Path);
  return checkPath ? { ...file, crossGpuCheck: crossGpuCheck(file, parseRaw(checkPath)) } : file;
}

function importMain(rawPath: string, instanceType: string, tf32Path?: string): GpuProfilesFile {
  const type = findInstanceType(instanceType);
  if (!type) throw new Error(`--instance-type: unknown instance type ${instanceType}`);
  if (type.gpus === 0) throw new Error(`--instance-type: ${instanceType} has no GPU`);
  const raw = parseRaw(rawPath);
  if (raw.tf32) throw new Error(`${rawPath} was run with --tf32; the main run must be fp32`);
  const { reports, ...run } = raw;
  const named = type.gpuModel ?? '';
  if (!raw.device.includes(named))
    throw new Error(`${rawPath} ran on ${raw.device}, but ${instanceType} has ${named} GPUs`);
  const measured = toReports({ ...raw, reports }, instanceType);
  const components = reports.flatMap((r) =>
    r.components ? [{ modelId: r.modelId, entries: r.components.map(({ runs: _runs, ...p }) => p) }] : [],
  );
  const file: GpuProfilesFile = {
    measuredAs: instanceType,
    basis:
      `measured on one ${raw.device} with bench/inference/gpu/profile_torch.py: the benchmark models' ` +
      `architectures rebuilt layer for layer in PyTorch (random fp32 weights), each run copying a batch to ` +
      `the GPU, running it and copying the output back; ${raw.passes} interleaved passes, the lowest-P99 ` +
      `pass kept per batch size; labelled ${instanceType} (one replica per GPU). Not the agent's runtime: ` +
      `onnxruntime-node is installed without its CUDA execution provider`,
    run,
    latencyFigure: 'p99',
    reports: measured,
    derivationCheck: derivationCheck(loadProfilesFile(), measured),
    ...(components.length > 0 ? { components } : {}),
  };
  if (!tf32Path) return file;
  const t = parseRaw(tf32Path);
  if (!t.tf32) throw new Error(`${tf32Path} was not run with --tf32`);
  const { reports: tReports, ...tRun } = t;
  return { ...file, tf32: { run: tRun, reports: toReports({ ...t, reports: tReports }, instanceType) } };
}

export function loadGpuProfiles(path = GPU_PROFILES_PATH): GpuProfilesFile | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const raw = JSON.parse(text) as GpuProfilesFile;
  return { ...raw, reports: raw.reports.map((r) => ModelProfileSchema.parse(r) as ModelProfile) };
}

const USAGE =
  'usage: tsx bench/inference/measure-gpu.ts --specs FILE\n' +
  '       tsx bench/inference/measure-gpu.ts --import RAW.json [--tf32 RAW.json] [--check RAW.json] --instance-type TYPE\n' +
  '       tsx bench/inference/measure-gpu.ts --check RAW.json   (a second GPU against the current file)';

function main(): void {
  const { values } = parseArgs({
    options: {
      specs: { type: 'string' },
      import: { type: 'string' },
      tf32: { type: 'string' },
      'instance-type': { type: 'string' },
      check: { type: 'string' },
    },
  });
  if (values.specs) {
    writeFileSync(values.specs, `${JSON.stringify(specsFile(), null, 2)}\n`);
    console.error(`wrote ${MODELS.length} model specs to ${values.specs}`);
    return;
  }
  if (values.import && values['instance-type']) {
    const file = importRuns(values.import, values['instance-type'], values.tf32, values.check);
    writeFileSync(GPU_PROFILES_PATH, `${JSON.stringify(file, null, 2)}\n`);
    console.error(`wrote ${file.reports.length} measured GPU profiles to ${GPU_PROFILES_PATH}`);
    return;
  }
  if (values.check && !values.import) {
    const file = loadGpuProfiles();
    if (!file) throw new Error(`${GPU_PROFILES_PATH} is missing; import a run first`);
    const check = crossGpuCheck(file, parseRaw(values.check));
    writeFileSync(GPU_PROFILES_PATH, `${JSON.stringify({ ...file, crossGpuCheck: check }, null, 2)}\n`);
    console.error(`wrote the ${check.gpuModel} check (${check.rows.length} rows) to ${GPU_PROFILES_PATH}`);
    return;
  }
  console.error(USAGE);
  process.exitCode = 2;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    main();
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  }
}
