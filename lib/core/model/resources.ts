import { z } from 'zod';

/** A bundle of schedulable capacity. Memory is in MiB so that every field stays an integer-friendly number. */
export const ResourcesSchema = z.object({
  vcpu: z.number({ error: 'vcpu must be a number' }).min(0, { error: 'vcpu must be at least 0' }),
  memoryMiB: z
    .number({ error: 'memoryMiB must be a number' })
    .min(0, { error: 'memoryMiB must be at least 0' }),
  gpus: z.number().int({ error: 'gpus must be a whole number' }).min(0, { error: 'gpus must be at least 0' }),
});
export type Resources = z.infer<typeof ResourcesSchema>;

export const RESOURCE_DIMENSIONS = ['vcpu', 'memoryMiB', 'gpus'] as const;
export type ResourceDimension = (typeof RESOURCE_DIMENSIONS)[number];

export const ZERO_RESOURCES: Resources = Object.freeze({ vcpu: 0, memoryMiB: 0, gpus: 0 });

export function addResources(a: Resources, b: Resources): Resources {
  return { vcpu: a.vcpu + b.vcpu, memoryMiB: a.memoryMiB + b.memoryMiB, gpus: a.gpus + b.gpus };
}

export function subtractResources(a: Resources, b: Resources): Resources {
  return { vcpu: a.vcpu - b.vcpu, memoryMiB: a.memoryMiB - b.memoryMiB, gpus: a.gpus - b.gpus };
}

export function scaleResources(a: Resources, k: number): Resources {
  return { vcpu: a.vcpu * k, memoryMiB: a.memoryMiB * k, gpus: a.gpus * k };
}

/** True when `need` fits inside `free` on every dimension (with a tiny tolerance for float vCPU shares). */
export function fits(need: Resources, free: Resources, eps = 1e-9): boolean {
  return (
    need.vcpu <= free.vcpu + eps && need.memoryMiB <= free.memoryMiB + eps && need.gpus <= free.gpus + eps
  );
}

/** How many copies of `need` fit in `free`; Infinity when `need` is all zero. */
export function copiesThatFit(need: Resources, free: Resources): number {
  let n = Number.POSITIVE_INFINITY;
  for (const d of RESOURCE_DIMENSIONS) {
    if (need[d] > 0) n = Math.min(n, Math.floor(free[d] / need[d] + 1e-9));
  }
  return Math.max(0, n);
}
