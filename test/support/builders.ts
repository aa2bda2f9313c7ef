/**
 * Builders for placement tests, with overrides: `job({ gpus: 1, deadline: h(2) })`, a fixed clock, and
 * small instance types with realistic shapes and prices.
 */

import type { z } from 'zod';
import type { InstanceType, Market } from '../../lib/core/model/instance-type.ts';
import { InstanceTypeSchema } from '../../lib/core/model/instance-type.ts';
import { type AlternativeSchema, type JobSpecInput, JobSpecSchema } from '../../lib/core/model/job.ts';
import type { Resources } from '../../lib/core/model/resources.ts';
import type {
  ExistingInstance,
  LaunchableType,
  PendingJob,
  PlacementInput,
  PlacementLimits,
} from '../../lib/core/placement/types.ts';
import type { Clock } from '../../lib/core/ports.ts';

/** 2026-01-01T00:00:00Z, a slot boundary for every slot length used in tests. */
export const NOW = Date.UTC(2026, 0, 1);

export const h = (hours: number): number => hours * 3600;
export const min = (minutes: number): number => minutes * 60;

export function fixedClock(at = NOW): Clock & { advance(ms: number): void } {
  let t = at;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
}

export function instanceType(
  over: Partial<z.input<typeof InstanceTypeSchema>> & { name: string },
): InstanceType {
  return InstanceTypeSchema.parse({
    family: over.name.split('.')[0],
    vcpu: 4,
    memoryMiB: 16_384,
    gpus: 0,
    onDemandPerHour: 0.2,
    spotPerHour: 0.08,
    bootSeconds: 120,
    ...over,
  });
}

export const G5_XLARGE = instanceType({
  name: 'g5.xlarge',
  vcpu: 4,
  memoryMiB: 16_384,
  gpus: 1,
  gpuModel: 'A10G',
  gpuMemoryMiB: 24_576,
  onDemandPerHour: 1.006,
  spotPerHour: 0.4,
});
export const G5_12XLARGE = instanceType({
  name: 'g5.12xlarge',
  vcpu: 48,
  memoryMiB: 196_608,
  gpus: 4,
  gpuModel: 'A10G',
  gpuMemoryMiB: 24_576,
  onDemandPerHour: 5.672,
  spotPerHour: 2.2,
});
export const C5_2XLARGE = instanceType({
  name: 'c5.2xlarge',
  vcpu: 8,
  memoryMiB: 16_384,
  onDemandPerHour: 0.34,
  spotPerHour: 0.13,
});
export const M5_XLARGE = instanceType({
  name: 'm5.xlarge',
  vcpu: 4,
  memoryMiB: 16_384,
  onDemandPerHour: 0.192,
  spotPerHour: 0.08,
});

export function launchable(type: InstanceType, markets: Market[] = ['on-demand']): LaunchableType {
  return { type, markets };
}

type AlternativeInput = z.input<typeof AlternativeSchema>;

export interface JobOverrides {
  id?: string;
  gpus?: number;
  vcpu?: number;
  memoryMiB?: number;
  gpuModel?: string;
  /** Seconds one task takes. */
  duration?: number;
  /** Seconds after submission for full value (deadline policy). */
  deadline?: number;
  hardDeadline?: number;
  value?: number;
  decay?: NonNullable<JobSpecInput['utility']>['decay'];
  gang?: number;
  priority?: number;
  policy?: 'deadline' | 'fifo' | 'slo-service';
  alternatives?: AlternativeInput[];
  submittedAt?: number;
  attempts?: number;
  spot?: boolean;
}

let counter = 0;

export function job(over: JobOverrides = {}): PendingJob {
  const id = over.id ?? `job-${++counter}`;
  const alternatives = over.alternatives ?? [
    {
      requirement: {
        vcpu: over.vcpu ?? 1,
        memoryMiB: over.memoryMiB ?? 2048,
        gpus: over.gpus ?? 0,
        gpuModel: over.gpuModel,
        spot: over.spot ?? false,
      },
      durationSeconds: over.duration ?? min(20),
    },
  ];
  const policy = over.policy ?? 'deadline';
  const utility =
    policy === 'deadline' || over.deadline !== undefined
      ? {
          deadlineSeconds: over.deadline ?? h(2),
          value: over.value ?? 10,
          decay: over.decay ?? { shape: 'step' as const },
          hardDeadlineSeconds: over.hardDeadline,
        }
      : undefined;
  const spec = JobSpecSchema.parse({
    name: id,
    policy,
    priority: over.priority ?? 1,
    task: { kind: 'command', command: 'true' },
    gang: over.gang ?? 1,
    alternatives,
    utility,
  });
  return { id, spec, submittedAt: over.submittedAt ?? NOW, attempts: over.attempts ?? 0 };
}

/** One GPU alternative and one CPU alternative `slowdown` times slower. */
export function gpuOrCpu(gpuSeconds: number, slowdown: number): AlternativeInput[] {
  return [
    {
      name: 'gpu',
      requirement: { vcpu: 2, memoryMiB: 8192, gpus: 1, gpuModel: 'A10G' },
      durationSeconds: gpuSeconds,
    },
    {
      name: 'cpu',
      requirement: { vcpu: 4, memoryMiB: 8192, gpus: 0 },
      durationSeconds: gpuSeconds * slowdown,
    },
  ];
}

export interface InstanceOverrides {
  id?: string;
  type?: InstanceType;
  market?: Market;
  /** The instance is fully taken (by running tasks) until this slot. */
  busyUntilSlot?: number;
  /** Free capacity per slot; overrides busyUntilSlot. */
  free?: Resources[];
  availableFromSlot?: number;
  idleSince?: number;
}

export function existing(slots: number, over: InstanceOverrides = {}): ExistingInstance {
  const type = over.type ?? G5_XLARGE;
  const capacity = { vcpu: type.vcpu, memoryMiB: type.memoryMiB, gpus: type.gpus };
  const busy = over.busyUntilSlot ?? 0;
  const zero = { vcpu: 0, memoryMiB: 0, gpus: 0 };
  const free = over.free ?? Array.from({ length: slots }, (_, t) => (t < busy ? zero : capacity));
  return {
    id: over.id ?? `i-${++counter}`,
    type: type.name,
    market: over.market ?? 'on-demand',
    pricePerHour: over.market === 'spot' ? type.spotPerHour : type.onDemandPerHour,
    capacity,
    gpuModel: type.gpuModel,
    free,
    availableFromSlot: over.availableFromSlot ?? 0,
    idleSince: over.idleSince,
  };
}

export const DEFAULT_LIMITS: PlacementLimits = {
  maxInstances: 50,
  budgetPerHour: 500,
  idleTimeoutSeconds: 600,
};

export function placementInput(over: Partial<PlacementInput> = {}): PlacementInput {
  return {
    now: NOW,
    slotSeconds: 600,
    slots: 12,
    instances: [],
    launchable: [],
    jobs: [],
    limits: DEFAULT_LIMITS,
    ...over,
  };
}
