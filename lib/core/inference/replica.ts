import { ValidationError } from '../errors.ts';
import { findInstanceType } from '../model/catalog.ts';
import type { InstanceType } from '../model/instance-type.ts';
import type { Requirement } from '../model/job.ts';

/**
 * What one stage replica reserves on an instance: the unit a profile was measured on.
 *
 * - A GPU type's profile is one model on one GPU, so a replica takes one GPU and its share of the
 *   instance's vCPUs and memory (a g5.12xlarge holds four replicas, of any stages).
 * - A CPU type's profile is one model using every vCPU of that type, so a replica takes the whole type's
 *   vCPUs; a larger CPU instance holds several (a c7i.4xlarge holds four c7i.xlarge replicas).
 *
 * The requirement names the replica's GPU model or CPU family, so a replica only lands where its profile
 * holds. Memory is kept at 7/8 of the share, leaving room for the agent and the OS. `spot` lets the
 * placement engine buy spot capacity for it (warm headroom may, when the pipeline asks: spotHeadroom).
 */
export function replicaRequirement(instanceTypeName: string): Requirement {
  const type = findInstanceType(instanceTypeName);
  if (!type)
    throw new ValidationError('replica', [
      { path: 'instanceType', message: `unknown instance type ${instanceTypeName}` },
    ]);
  return replicaRequirementOf(type);
}

export function replicaRequirementOf(type: InstanceType, spot = false): Requirement {
  if (type.gpus > 0) {
    return {
      vcpu: Math.max(1, Math.floor(type.vcpu / type.gpus)),
      memoryMiB: Math.floor(((type.memoryMiB / type.gpus) * 7) / 8),
      gpus: 1,
      ...(type.gpuModel ? { gpuModel: type.gpuModel } : {}),
      spot,
    };
  }
  return {
    vcpu: type.vcpu,
    memoryMiB: Math.floor((type.memoryMiB * 7) / 8),
    gpus: 0,
    families: [type.family],
    spot,
  };
}

/**
 * onnxruntime intra-op threads for a replica, and for the job that profiles it: its vCPU reservation.
 * A profile stands for one model on that many vCPUs; left at 0, onnxruntime takes one thread per core of
 * the host, so replicas packed onto a larger instance (four c7i.xlarge replicas on a c7i.4xlarge, four
 * GPU replicas on a g5.12xlarge) would each spread over every core, contend with one another and serve
 * at other latencies than their profile's.
 */
export function replicaThreadsOf(type: InstanceType): number {
  return replicaRequirementOf(type).vcpu;
}
