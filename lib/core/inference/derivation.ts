import { ValidationError } from '../errors.ts';
import { findInstanceType } from '../model/catalog.ts';
import type { InstanceType } from '../model/instance-type.ts';
import { deriveProfile, type StageProfile } from './profiles.ts';

/**
 * Derived profiles for instance types that cannot be measured where the profile ran (GPU types with no
 * GPU at hand; CPU sizes other than the measuring machine's).
 *
 * Every factor below is an assumption, not a measurement. They are chosen on the conservative side
 * (below the public headline ratios) so that a plan built on them under-promises: a derived type looks
 * slower than it probably is, and the planner then buys a little more of it rather than missing the SLO.
 * A derived profile always carries its basis in `source.derivation`, and only measured profiles are
 * scaled (deriveProfile refuses to derive from a derived one).
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
 * dense fp32 MLP/conv inference at the batch sizes the planner uses. Public fp32 throughput ratios against
 * such a CPU are higher (roughly 10-15x for an A10G); these keep about half of that, because small
 * batches leave a GPU under-used and pay launch and host-copy overheads.
 */
export const GPU_FACTOR_VS_4VCPU: Readonly<Record<string, number>> = Object.freeze({
  T4: 4,
  L4: 7,
  A10G: 8,
  V100: 10,
  A100: 20,
  H100: 35,
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
  if (measured.gpus > 0 || measured.inferentiaChips > 0)
    fail('instanceType', `can only derive from a measured CPU type, got ${measured.name}`);
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

/**
 * A profile for `target` derived from one measured on a CPU type of the catalog. Returns the measured
 * profile itself when the target is the type it was measured on.
 */
export function deriveForType(measured: StageProfile, target: InstanceType): StageProfile {
  if (measured.instanceType === target.name && measured.source.kind === 'measured') return measured;
  const from = findInstanceType(measured.instanceType);
  if (!from) fail('instanceType', `unknown measured instance type ${measured.instanceType}`);
  const { factor, derivation } = derivationFactor(from, target);
  return deriveProfile(measured, { instanceType: target.name, factor, derivation });
}
