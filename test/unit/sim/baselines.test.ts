import { describe, expect, it } from 'vitest';
import type { InstanceType } from '../../../lib/core/model/instance-type.ts';
import { type JobSpec, JobSpecSchema } from '../../../lib/core/model/job.ts';
import type { PlacementInput } from '../../../lib/core/placement/types.ts';
import { planEdf, planFifo } from '../../../lib/sim/baselines.ts';

const NOW = Date.UTC(2026, 0, 5, 12);
const cpuType: InstanceType = {
  name: 'c7i.2xlarge',
  family: 'c7i',
  arch: 'x86_64',
  vcpu: 8,
  memoryMiB: 16384,
  gpus: 0,
  inferentiaChips: 0,
  onDemandPerHour: 0.357,
  spotPerHour: 0.15,
  bootSeconds: 60,
};
const gpuType: InstanceType = {
  ...cpuType,
  name: 'g5.xlarge',
  family: 'g5',
  vcpu: 4,
  gpus: 1,
  gpuModel: 'A10G',
  onDemandPerHour: 1.006,
  spotPerHour: 0.4,
  bootSeconds: 150,
};

/** A job whose first alternative is 8 CPUs for 4 h and whose second is 1 GPU for 30 min. */
function job(id: string, submittedAt = NOW, deadlineSeconds = 2 * 3600): PlacementInput['jobs'][number] {
  const spec: JobSpec = JobSpecSchema.parse({
    name: id,
    task: { kind: 'command', command: 'train' },
    alternatives: [
      { requirement: { vcpu: 8, memoryMiB: 8192 }, durationSeconds: 4 * 3600 },
      { requirement: { vcpu: 4, memoryMiB: 8192, gpus: 1, gpuModel: 'A10G' }, durationSeconds: 1800 },
    ],
    utility: { deadlineSeconds, value: 10, decay: { shape: 'linear', overSeconds: deadlineSeconds } },
  });
  return { id, spec, submittedAt, attempts: 0 };
}

function input(overrides: Partial<PlacementInput> = {}): PlacementInput {
  const free = (vcpu: number, memoryMiB: number, gpus: number) =>
    Array.from({ length: 16 }, () => ({ vcpu, memoryMiB, gpus }));
  return {
    now: NOW,
    slotSeconds: 600,
    slots: 16,
    instances: [
      {
        id: 'i-cpu',
        type: cpuType.name,
        market: 'on-demand',
        pricePerHour: cpuType.onDemandPerHour,
        capacity: { vcpu: 8, memoryMiB: 16384, gpus: 0 },
        free: free(8, 16384, 0),
        availableFromSlot: 0,
      },
    ],
    launchable: [
      { type: cpuType, markets: ['on-demand'] },
      { type: gpuType, markets: ['on-demand'] },
    ],
    jobs: [job('j1')],
    limits: { maxInstances: 10, budgetPerHour: 100, idleTimeoutSeconds: 900 },
    ...overrides,
  };
}

describe('planEdf', () => {
  it('launches a GPU for a job that would finish 8x later on the idle CPU instance', () => {
    const plan = planEdf(input());
    expect(plan.launches).toEqual([expect.objectContaining({ type: 'g5.xlarge', count: 1, slot: 0 })]);
    expect(plan.placements).toHaveLength(1);
    expect(plan.placements[0]).toMatchObject({
      jobId: 'j1',
      alternative: 1,
      target: { kind: 'new', type: 'g5.xlarge', index: 0 },
    });
    // The task starts once the instance has booted.
    expect(plan.placements[0]?.startAt).toBe(NOW + 150_000);
  });

  it('runs on the CPU instance it has when the budget forbids a launch', () => {
    const plan = planEdf(
      input({ limits: { maxInstances: 10, budgetPerHour: 0.5, idleTimeoutSeconds: 900 } }),
    );
    expect(plan.launches).toEqual([]);
    expect(plan.placements[0]).toMatchObject({
      alternative: 0,
      target: { kind: 'existing', instanceId: 'i-cpu' },
    });
  });

  it('serves the earliest deadline first when only one job fits', () => {
    const late = job('relaxed', NOW, 8 * 3600);
    const urgent = job('urgent', NOW, 3 * 3600);
    const plan = planEdf(
      input({
        jobs: [late, urgent],
        limits: { maxInstances: 1, budgetPerHour: 100, idleTimeoutSeconds: 900 },
      }),
    );
    expect(plan.placements.map((p) => p.jobId)).toEqual(['urgent']);
    expect(Object.keys(plan.unplaced)).toEqual(['relaxed']);
  });
});

describe('planFifo', () => {
  it('takes the first alternative on the first instance that fits, however slow', () => {
    const plan = planFifo(input());
    expect(plan.launches).toEqual([]);
    expect(plan.placements[0]).toMatchObject({
      jobId: 'j1',
      alternative: 0,
      target: { kind: 'existing', instanceId: 'i-cpu' },
    });
    expect((plan.placements[0]?.expectedEndAt ?? 0) - NOW).toBe(4 * 3600 * 1000);
  });

  it('launches the first launchable type that fits when no instance has room', () => {
    const jobs = [job('a', NOW - 1000), job('b', NOW)];
    const plan = planFifo(input({ jobs }));
    expect(plan.placements.map((p) => [p.jobId, p.target.kind])).toEqual([
      ['a', 'existing'],
      ['b', 'new'],
    ]);
    expect(plan.launches).toEqual([expect.objectContaining({ type: 'c7i.2xlarge', count: 1 })]);
  });

  it('terminates an instance idle past the timeout that it does not use', () => {
    const base = input({ jobs: [] });
    const idle = { ...base.instances[0]!, idleSince: NOW - 1000 * 1000 };
    const plan = planFifo({ ...base, instances: [idle] });
    expect(plan.terminations).toEqual([
      { instanceId: 'i-cpu', reason: expect.stringContaining('idle for 1000s') },
    ]);
  });
});
