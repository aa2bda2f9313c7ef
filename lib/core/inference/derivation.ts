import { ValidationError } from '../errors.ts';
import { findInstanceType } from '../model/catalog.ts';
import type { InstanceType } from '../model/instance-type.ts';
import { deriveProfile, type StageProfile } from './profiles.ts';

/**
 * Derived profiles for instance types that cannot be measured where the profile ran (GPU types with no
 * GPU at hand; CPU sizes other than the measuring machine's). A GPU type is derived from a profile
 * measured on another GPU where there is one (the batch curve is then a GPU's), else from a CPU profile.
 *
 * Every factor below is an assumption, not a measurement, and a derived profile always carries its basis
 * in `source.derivation`. Only measured profiles are scaled (deriveProfile refuses to derive from a
 * derived one), so an estimate never compounds on an estimate.
 *
 * A measurement on an H100 (bench/inference/gpu-profiles.json, `derivationCheck`) showed what a flat
 * CPU-to-GPU factor gets wrong: a GPU's advantage grows with the batch (launch and copy overhead dominate
 * small batches), so for light models at batch 1 the CPU-based factor over-stated the GPU 4.7-38x, for heavy
 * ones 1.5-2.1x, while for the heavy models at batch 8 it was within 10%. A GPU type is therefore derived from a GPU
 * measurement wherever one exists, and from a CPU one only when none does.
 */

/**
 * Speed of one model replica using every vCPU of a CPU type, relative to a 2-vCPU type of the same
 * generation, for dense fp32 MLP/conv inference with intra-op threads = vCPUs. Scaling is sublinear:
 * two vCPUs are one physical core's hyper-threads, and intra-op parallelism of one small model stops
 * paying off past a few dozen threads (memory bandwidth and per-op sync dominate).
 */
export const CPU_VCPU_SCALE: Readonly<Record<number, number>> = Object.freeze({
  2: 1,
  4: 1.8,
  8: 3.2,
  16: 5.2,
  32: 7,
  48: 8,
  64: 8.5,
  96: 9,
  192: 9,
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
});

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
        `${cpuScale(4, 'target')}x a 2-vCPU one and ${measured.name} is ${base}x (assumed intra-op scaling), ` +
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
      `${base}x (assumed sublinear intra-op thread scaling, not measured), so ${factor}x ` +
      `${measured.name}; ${target.family} and ${measured.family} share Sapphire Rapids cores`,
  };
}

function gpuTflops(t: InstanceType, path: string): number {
  const tflops = GPU_FP32_TFLOPS[t.gpuModel ?? ''];
  if (tflops === undefined)
    fail(
      path,
      `no fp32 throughput for GPU model ${t.gpuModel} of ${t.name}; known: ${Object.keys(GPU_FP32_TFLOPS).join(', ')}`,
    );
  return tflops;
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
