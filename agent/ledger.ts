import {
  addResources,
  fits,
  type Resources,
  subtractResources,
  ZERO_RESOURCES,
} from '../lib/core/model/resources.ts';

/**
 * What this agent has promised to running tasks: resources and the exact GPU indices. A task is admitted
 * only when its resources fit what is free and none of its GPUs is taken, so placements that raced (two
 * schedule cycles, a slow task) wait here instead of over-committing the instance.
 */
export class CapacityLedger {
  private readonly held = new Map<string, { resources: Resources; gpuIndices: readonly number[] }>();

  constructor(readonly capacity: Resources) {}

  /** Why the task can never run here, or undefined when it can once enough work finishes. */
  whyNever(resources: Resources, gpuIndices: readonly number[]): string | undefined {
    if (!fits(resources, this.capacity))
      return `needs ${show(resources)} but this instance has ${show(this.capacity)}`;
    const bad = gpuIndices.filter((i) => i >= this.capacity.gpus);
    if (bad.length > 0)
      return `gpuIndices [${bad.join(', ')}] do not exist; this instance has GPUs 0-${this.capacity.gpus - 1}`;
    return undefined;
  }

  /** Reserve for `key` if it fits now; false leaves the ledger unchanged. */
  tryReserve(key: string, resources: Resources, gpuIndices: readonly number[]): boolean {
    if (this.held.has(key)) return true;
    if (!fits(resources, this.free())) return false;
    const taken = this.takenGpus();
    if (gpuIndices.some((i) => taken.has(i))) return false;
    this.held.set(key, { resources, gpuIndices: [...gpuIndices] });
    return true;
  }

  release(key: string): void {
    this.held.delete(key);
  }

  free(): Resources {
    let used = ZERO_RESOURCES;
    for (const h of this.held.values()) used = addResources(used, h.resources);
    return subtractResources(this.capacity, used);
  }

  freeGpuIndices(): number[] {
    const taken = this.takenGpus();
    return Array.from({ length: this.capacity.gpus }, (_, i) => i).filter((i) => !taken.has(i));
  }

  private takenGpus(): Set<number> {
    return new Set([...this.held.values()].flatMap((h) => h.gpuIndices));
  }
}

function show(r: Resources): string {
  return `${r.vcpu} vCPU, ${r.memoryMiB} MiB, ${r.gpus} GPU`;
}
