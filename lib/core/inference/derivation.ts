import { ValidationError } from '../errors.ts';
import { findInstanceType } from '../model/catalog.ts';
import type { InstanceType } from '../model/instance-type.ts';
import { deriveProfile, type StageProfile } from './profiles.ts';

/**
 * Derived profiles for instance types that cannot be measured where the profile ran (GPU types with no
 * GPU at hand; CPU sizes other than the measuring machine's). A GPU type is derived from a profile
 * measured on another GPU where there is one (the batch curve is then a GPU's), else from a CPU profile.
 *
 * Each factor below says whether it was measured (CPU_VCPU_SCALE up to 16 vCPUs) or assumed (the rest), and a
 * derived profile always carries its basis in `source.derivation`. Only measured profiles are scaled
 * (deriveProfile refuses to derive from a derived one), so an estimate never compounds on an estimate.
 *
 * A measurement on an H100 (bench/inference/gpu-profiles.json, `derivationCheck`) showed what a flat
 * CPU-to-GPU factor gets wrong: a GPU's advantage grows with the batch (launch and copy overhead dominate
 * small batches), so for light models at batch 1 the CPU-based factor over-stated the GPU 4.8-41x, for
 * heavy ones 1.5-2.1x, while for the heavy models at batch 8 it was within 8%. A GPU type is therefore
 * derived from a GPU measurement wherever one exists, and from a CPU one only when none does.
 */

/**
 * Speed of one model replica using every vCPU of a CPU type, relative to a 2-vCPU type of the same
 * generation, for dense fp32 MLP/conv inference with intra-op threads = vCPUs. Scaling is sublinear:
 * intra-op parallelism of one small model stops paying off as threads grow (memory bandwidth and per-op
 * sync dominate).
 *
 * 4, 8 and 16 are measured: the median over the 8 bench models at batch 1 and 8 of onnxruntime's CPU
 * throughput with N pinned vCPUs against 2, on a 16-core Xeon (bench/inference/cpu/scaling.py, results in
 * bench/inference/cpu-scaling.json; per model the 16-vCPU ratio ranged 1.8-6.9). That machine shows one
 * thread per core, where an EC2 vCPU is a hyper-thread, so the ratios are of cores, not of c7i vCPUs.
 * 32 and up are assumed: the earlier estimates scaled down by the measured 16-vCPU figure over the estimate
 * it replaced (4.1 / 5.2).
 */
export const CPU_VCPU_SCALE: Readonly<Record<number, number>> = Object.freeze({
  2: 1,
  4: 1.7,
  8: 2.9,
  16: 4.1,
  32: 5.5,
  48: 6.3,
  64: 6.7,
  96: 7.1,
  192: 7.1,
});

/**
 * Speed of one GPU (one replica holds one GPU) relative to a 4-vCPU Sapphire Rapids type (c7i.xlarge) on
 * dense fp32 MLP/conv inference, used only where no GPU measurement of the model exists. Public fp32
 * throughput ratios against such a CPU are higher (roughly 10-15x for an A10G); these keep about half of
 * that for small batches. One factor for every batch size: it cannot show the batch curve (see above).
 */
export const GPU_FACTOR_VS_4VCPU: Readonly<Record<string, number>> = Object.freeze({
  T4: 4,
  L4: 7,
  A10G: 8,
  V100: 10,
  A100: 20,
  H100: 35,
});

/**
 * Published peak fp32 throughput (TFLOPS, without tensor cores) of one GPU, from NVIDIA's data sheets: the
 * SXM parts for V100, A100 and H100, as in p3dn, p4d and p5; A10G as the A10. A GPU type is derived from one
 * measured on another GPU by the ratio of these, applied to the whole batch curve, so that the curve keeps
 * the measured GPU's shape (launch and copy overhead at small batches, batching gain at large ones).
 */
export const GPU_FP32_TFLOPS: Readonly<Record<string, number>> = Object.freeze({
  T4: 8.1,
  L4: 30.3,
  A10G: 31.2,
  V100: 15.7,
  A100: 19.5,
  H100: 67,
  H200: 67,
});

/**
 * The host link of the instance types that carry each GPU model, as PCIe x16 bandwidth per direction in
 * GB/s (assumed from each EC2 generation's platform, not measured): Gen3 on g4dn (T4) and p3dn (V100),
 * Gen4 on g5 (A10G), g6 (L4) and p4d (A100), Gen5 on p5 (H100) and p5e (H200).
 */
export const GPU_HOST_LINK_GBPS: Readonly<Record<string, number>> = Object.freeze({
  T4: 15.75,
  V100: 15.75,
  L4: 31.5,
  A10G: 31.5,
  A100: 31.5,
  H100: 63,
  H200: 63,
});

/** The share of a link's bandwidth that a copy from pageable host memory is assumed to reach at best. */
export const COPY_LINK_EFFICIENCY = 0.8;

/** CPU families built on the same cores (Sapphire Rapids): they differ only in memory per vCPU. */
const SAME_CORE_FAMILIES = new Set(['c7i', 'm7i', 'r7i']);

function fail(path: string, message: string): never {
  throw new ValidationError('profile derivation', [{ path, message }]);
}

function cpuScale(vcpu: number, path: string): number {
  const scale = CPU_VCPU_SCALE[vcpu];
  if (scale === undefined)
    fail(path, `no scaling factor for ${vcpu} vCPUs; known: ${Object.keys(CPU_VCPU_SCALE).join(', ')}`);
  return scale;
}

/** vCPU counts whose CPU_VCPU_SCALE entry is a measured median (see there); the others are assumed. */
const MEASURED_VCPU_SCALES = new Set([2, 4, 8, 16]);

function scaleBasis(...vcpus: number[]): string {
  return vcpus.every((v) => MEASURED_VCPU_SCALES.has(v))
    ? 'median intra-op thread scaling of the bench models, measured on a 16-core Xeon'
    : 'sublinear intra-op thread scaling, assumed past 16 vCPUs, not measured';
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** The factor and its stated basis for deriving `target` from a profile measured on `measured`. */
export function derivationFactor(
  measured: InstanceType,
  target: InstanceType,
): { factor: number; derivation: string } {
  if (measured.inferentiaChips > 0)
    fail('instanceType', `can only derive from a measured CPU or GPU type, got ${measured.name}`);
  if (measured.gpus > 0) return gpuToGpu(measured, target);
  if (!SAME_CORE_FAMILIES.has(measured.family))
    fail('instanceType', `measured family ${measured.family} has no factors; known: c7i, m7i, r7i`);
  const base = cpuScale(measured.vcpu, 'instanceType');
  if (target.inferentiaChips > 0)
    fail('target', `${target.name} runs Neuron-compiled models; an ONNX CPU profile says nothing about it`);
  if (target.gpus > 0) {
    const model = target.gpuModel ?? '';
    const gpu = GPU_FACTOR_VS_4VCPU[model];
    if (gpu === undefined)
      fail(
        'target',
        `no factor for GPU model ${model} of ${target.name}; known: ${Object.keys(GPU_FACTOR_VS_4VCPU).join(', ')}`,
      );
    const factor = round3((gpu * cpuScale(4, 'target')) / base);
    return {
      factor,
      derivation:
        `${model}: ${gpu}x a 4-vCPU c7i on dense fp32 MLP/conv (public ${model} vs Sapphire Rapids ` +
        `throughput ratio, halved for small batches; assumed, not measured); 4-vCPU c7i is ` +
        `${cpuScale(4, 'target')}x a 2-vCPU one and ${measured.name} is ${base}x (intra-op scaling), ` +
        `so ${factor}x ${measured.name}; one replica per GPU`,
    };
  }
  if (!SAME_CORE_FAMILIES.has(target.family))
    fail('target', `no factor for CPU family ${target.family} of ${target.name}; known: c7i, m7i, r7i`);
  const scale = cpuScale(target.vcpu, 'target');
  const factor = round3(scale / base);
  return {
    factor,
    derivation:
      `${target.vcpu} vCPUs run one model ${scale}x as fast as 2 vCPUs and ${measured.vcpu} vCPUs ` +
      `${base}x (${scaleBasis(target.vcpu, measured.vcpu)}), so ${factor}x ` +
      `${measured.name}; ${target.family} and ${measured.family} share Sapphire Rapids cores`,
  };
}

function gpuTflops(t: InstanceType, path: string): number {
  return knownGpu(GPU_FP32_TFLOPS, t.gpuModel ?? '', path, 'fp32 throughput', ` of ${t.name}`);
}

/** How much faster GPU model `to` runs than `from` by peak fp32 throughput (GPU_FP32_TFLOPS). */
export function fp32Ratio(from: string, to: string): number {
  return (
    knownGpu(GPU_FP32_TFLOPS, to, 'to', 'fp32 throughput') /
    knownGpu(GPU_FP32_TFLOPS, from, 'from', 'fp32 throughput')
  );
}

function gpuToGpu(measured: InstanceType, target: InstanceType): { factor: number; derivation: string } {
  if (target.gpus === 0)
    fail('target', `${target.name} has no GPU; derive it from a CPU measurement, not from ${measured.name}`);
  const from = gpuTflops(measured, 'instanceType');
  const to = gpuTflops(target, 'target');
  const factor = round3(to / from);
  return {
    factor,
    derivation:
      `${target.gpuModel} runs ${factor}x as fast as the measured ${measured.gpuModel} of ${measured.name}: ` +
      `the ratio of their published peak fp32 throughput (${to} vs ${from} TFLOPS; assumed, not measured), ` +
      `applied to the measured GPU batch curve; one replica per GPU`,
  };
}

/**
 * A profile for `target` derived from one measured on a CPU or GPU type of the catalog. Returns the measured
 * profile itself when the target is the type it was measured on.
 */
export function deriveForType(measured: StageProfile, target: InstanceType): StageProfile {
  if (measured.instanceType === target.name && measured.source.kind === 'measured') return measured;
  const from = findInstanceType(measured.instanceType);
  if (!from) fail('instanceType', `unknown measured instance type ${measured.instanceType}`);
  const { factor, derivation } = derivationFactor(from, target);
  return deriveProfile(measured, { instanceType: target.name, factor, derivation });
}

/**
 * One measured batch size on a GPU, split on the GPU's own clock into the copy of the batch to the GPU, the
 * model's kernels and the copy of the output back (medians; profile_torch.py's `components`).
 */
export interface GpuRunParts {
  readonly batchSize: number;
  readonly h2dMs: number;
  readonly computeMs: number;
  readonly d2hMs: number;
}

export interface GpuPartsInput {
  /** GPU model measured, e.g. H100. */
  readonly from: string;
  /** GPU model to derive, e.g. L4. */
  readonly to: string;
  /** The measured profile's points (mean time per batch = batch / throughput). */
  readonly points: readonly { readonly batchSize: number; readonly throughputQps: number }[];
  readonly parts: readonly GpuRunParts[];
  /** Bytes of one query's input and of its output, as copied between host and GPU. */
  readonly inputBytesPerItem: number;
  readonly outputBytesPerItem: number;
}

function knownGpu(
  table: Readonly<Record<string, number>>,
  model: string,
  path: string,
  what: string,
  owner = '',
): number {
  const v = table[model];
  if (v === undefined)
    fail(path, `no ${what} for GPU model ${model}${owner}; known: ${Object.keys(table).join(', ')}`);
  return v;
}

/**
 * Per batch size, how much faster the target GPU runs one batch than the measured one (under 1: slower),
 * scaling each measured part by what bounds it instead of the whole run by the fp32 ratio:
 * - the kernels by the ratio of peak fp32 throughput;
 * - each copy stays at its measured time (the host side of a copy from pageable memory does not get
 *   faster with the GPU) unless the target's host link at COPY_LINK_EFFICIENCY cannot carry it that fast;
 * - the rest of a run (Python and launch overhead on the host, the time outside the three parts) as measured.
 * The mean time per batch is the measured one with the parts replaced; the factor is their ratio.
 */
export function gpuBatchFactors(input: GpuPartsInput): { batchSize: number; factor: number }[] {
  const kernelSpeedup = fp32Ratio(input.from, input.to);
  const linkGBps = knownGpu(GPU_HOST_LINK_GBPS, input.to, 'to', 'host link bandwidth') * COPY_LINK_EFFICIENCY;
  if (!(input.inputBytesPerItem > 0) || !(input.outputBytesPerItem > 0))
    fail('inputBytesPerItem', 'input and output bytes per query must be greater than 0');
  return input.points.map((p, i) => {
    const parts = input.parts.find((x) => x.batchSize === p.batchSize);
    if (!parts) fail(`points.${i}`, `no measured parts for batch size ${p.batchSize}`);
    for (const key of ['h2dMs', 'computeMs', 'd2hMs'] as const)
      if (!(parts[key] >= 0)) fail(`parts.${key}`, `must be a time in ms, got ${parts[key]}`);
    const meanMs = (p.batchSize * 1000) / p.throughputQps;
    const copyMs = (ms: number, bytesPerItem: number) =>
      Math.max(ms, (p.batchSize * bytesPerItem) / (linkGBps * 1e6));
    const measuredParts = parts.h2dMs + parts.computeMs + parts.d2hMs;
    const rest = Math.max(0, meanMs - measuredParts);
    const targetMs =
      rest +
      copyMs(parts.h2dMs, input.inputBytesPerItem) +
      parts.computeMs / kernelSpeedup +
      copyMs(parts.d2hMs, input.outputBytesPerItem);
    return { batchSize: p.batchSize, factor: round3((rest + measuredParts) / targetMs) };
  });
}

/**
 * A GPU type's profile derived from one measured on another GPU with its run split into parts
 * (gpuBatchFactors): one factor per batch size, so the derived curve keeps how copies and kernels grow
 * with the batch differently.
 */
export function deriveGpuFromParts(
  measured: StageProfile,
  target: InstanceType,
  io: Omit<GpuPartsInput, 'from' | 'to' | 'points'>,
): StageProfile {
  const from = findInstanceType(measured.instanceType);
  if (!from || from.gpus === 0)
    fail('instanceType', `the measured profile must come from a GPU type, got ${measured.instanceType}`);
  if (target.gpus === 0) fail('target', `${target.name} has no GPU`);
  const batchFactors = gpuBatchFactors({
    ...io,
    from: from.gpuModel ?? '',
    to: target.gpuModel ?? '',
    points: measured.points,
  });
  const largest = batchFactors.reduce((a, b) => (b.batchSize > a.batchSize ? b : a));
  const lo = Math.min(...batchFactors.map((f) => f.factor));
  const hi = Math.max(...batchFactors.map((f) => f.factor));
  return deriveProfile(measured, {
    instanceType: target.name,
    factor: largest.factor,
    batchFactors,
    derivation:
      `${target.gpuModel} from the measured ${from.gpuModel} of ${measured.instanceType}, part by part: kernels ` +
      `by peak fp32 throughput (${GPU_FP32_TFLOPS[target.gpuModel ?? '']} vs ${GPU_FP32_TFLOPS[from.gpuModel ?? '']} ` +
      `TFLOPS), copies as measured unless the target's host link (${GPU_HOST_LINK_GBPS[target.gpuModel ?? '']} ` +
      `GB/s at ${COPY_LINK_EFFICIENCY * 100}%) is slower, host overhead as measured (assumed, not measured); ` +
      `${lo}-${hi}x over batch sizes; one replica per GPU`,
  });
}
