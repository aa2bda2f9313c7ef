/**
 * GPU profiles of the benchmark models, measured on a machine with an NVIDIA GPU.
 *
 *   tsx bench/inference/measure-gpu.ts --specs FILE
 *       writes the models' architecture specs for bench/inference/gpu/profile_torch.py, which runs on the GPU
 *       machine (PyTorch with CUDA):  python3 profile_torch.py FILE RAW.json
 *   tsx bench/inference/measure-gpu.ts --import RAW.json [--tf32 RAW-TF32.json] --instance-type p5.48xlarge
 *       validates that script's output and writes bench/inference/gpu-profiles.json: one measured
 *       ModelProfile per model (provider cuda) for the instance type whose GPU ran it.
 *
 * The agent's runtime, onnxruntime-node, is installed without its CUDA execution provider (its binaries are
 * not in the npm package), so these figures come from PyTorch's CUDA kernels running the same architectures
 * layer for layer, not from the agent. The bench derives its GPU candidates (T4, L4, A10G) from them
 * (setup.ts stageProfiles, derivationFactor's GPU-to-GPU rule), and the file compares them with what the
 * CPU-based derivation claims for the same GPU (`derivationCheck`).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { deriveForType } from '../../lib/core/inference/derivation.ts';
import { fromModelProfile } from '../../lib/core/inference/profiles.ts';
import { findInstanceType } from '../../lib/core/model/catalog.ts';
import {
  type ModelProfile,
  ModelProfileSchema,
  ProfileEntrySchema,
} from '../../lib/core/protocol/inference.ts';
import type { ProfilesFile } from './measure-profiles.ts';
import { MODELS, resolveSpec } from './pipelines.ts';
import { loadProfilesFile } from './setup.ts';

export const GPU_PROFILES_PATH = join(dirname(fileURLToPath(import.meta.url)), 'gpu-profiles.json');
/** Batch sizes profiled on the GPU: a GPU gains from batching well past where a 2-vCPU CPU stops. */
export const GPU_BATCHES = [1, 2, 4, 8, 16, 32] as const;

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
  reports: z
    .array(z.object({ modelId: z.string().min(1), entries: z.array(ProfileEntrySchema).min(1) }))
    .min(1, { error: 'reports must list at least one model' }),
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

const r2 = (x: number) => Math.round(x * 100) / 100;

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

export function importRuns(rawPath: string, instanceType: string, tf32Path?: string): GpuProfilesFile {
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
  '       tsx bench/inference/measure-gpu.ts --import RAW.json [--tf32 RAW.json] --instance-type TYPE';

function main(): void {
  const { values } = parseArgs({
    options: {
      specs: { type: 'string' },
      import: { type: 'string' },
      tf32: { type: 'string' },
      'instance-type': { type: 'string' },
    },
  });
  if (values.specs) {
    writeFileSync(values.specs, `${JSON.stringify(specsFile(), null, 2)}\n`);
    console.error(`wrote ${MODELS.length} model specs to ${values.specs}`);
    return;
  }
  if (values.import && values['instance-type']) {
    const file = importRuns(values.import, values['instance-type'], values.tf32);
    writeFileSync(GPU_PROFILES_PATH, `${JSON.stringify(file, null, 2)}\n`);
    console.error(`wrote ${file.reports.length} measured GPU profiles to ${GPU_PROFILES_PATH}`);
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
