import { describe, expect, it } from 'vitest';
import {
  churnJobs,
  DEFAULT_NOW,
  generateArrivalTrace,
  generatePlacementWorkload,
  launchable,
} from '../../../bench/workloads/placement-workload.ts';
import { JobSpecSchema } from '../../../lib/core/model/job.ts';
import type { Placement } from '../../../lib/core/model/placement.ts';
import type { PlacementPlan } from '../../../lib/core/placement/types.ts';
import { planEdf } from '../../../lib/sim/baselines.ts';
import { placerFor } from '../../../lib/sim/placers.ts';
import { type Placer, type ReplayOptions, replay } from '../../../lib/sim/replay.ts';
import { HighsSolver } from '../../../lib/solver/highs-solver.ts';

const limits = { maxInstances: 12, budgetPerHour: 12, idleTimeoutSeconds: 900 };

function options(placer: Placer, arrivals: ReplayOptions['arrivals']): ReplayOptions {
  return {
    arrivals,
    placer,
    start: DEFAULT_NOW,
    slotSeconds: 600,
    slots: 16,
    launchable: launchable(),
    limits,
    initialFleet: [{ type: 'm7i.2xlarge', count: 1 }],
  };
}

describe('placement workload', () => {
  it('generates the same seeded workload every time, with repeating templates', () => {
    const a = generatePlacementWorkload({ seed: 3, jobs: 60 });
    const b = generatePlacementWorkload({ seed: 3, jobs: 60 });
    expect(a).toEqual(b);
    expect(a.jobs).toHaveLength(60);
    expect(a.slots).toBe(16);
    expect(a.launchable.length).toBeGreaterThanOrEqual(30);
    expect(a.instances.length).toBeGreaterThanOrEqual(20);
    expect(new Set(a.jobs.map((j) => j.spec)).size).toBeLessThan(60);
  });

  it('gives every job 1-4 alternatives, GPU speed-ups of 2-10x and deadline slack of 1.2-3x', () => {
    const input = generatePlacementWorkload({ seed: 5, jobs: 300 });
    for (const { spec } of input.jobs) {
      expect(spec.alternatives.length).toBeGreaterThanOrEqual(1);
      expect(spec.alternatives.length).toBeLessThanOrEqual(4);
      const fastest = Math.min(...spec.alternatives.map((a) => a.durationSeconds));
      const slack = (spec.utility?.deadlineSeconds ?? 0) / fastest;
      expect(slack).toBeGreaterThanOrEqual(1.19);
      expect(slack).toBeLessThanOrEqual(3.01);
      const cpu = spec.alternatives.find((a) => a.name === 'cpu');
      for (const gpu of spec.alternatives.filter((a) => a.requirement.gpus > 0)) {
        const speedup = (cpu?.durationSeconds ?? 0) / gpu.durationSeconds;
        // Rounding to whole seconds (and the 60 s floor) moves a ratio slightly.
        expect(speedup).toBeGreaterThan(1.9);
        expect(speedup).toBeLessThan(10.5);
      }
    }
    expect(input.jobs.some((j) => j.spec.alternatives.some((a) => a.requirement.gpus > 0))).toBe(true);
    expect(input.jobs.some((j) => j.spec.alternatives.every((a) => a.requirement.gpus === 0))).toBe(true);
  });
});

describe('steady-state churn', () => {
  it('replaces 5% of the jobs with new ones and keeps the rest', () => {
    const input = generatePlacementWorkload({ seed: 4, jobs: 200 });
    const next = churnJobs(input, 9, 0.05, 4);
    expect(next.jobs).toHaveLength(200);
    const before = new Set(input.jobs.map((j) => j.id));
    expect(next.jobs.filter((j) => !before.has(j.id))).toHaveLength(10);
    expect(next.instances).toBe(input.instances);
  });
});

describe('replay', () => {
  const arrivals = generateArrivalTrace({
    seed: 2,
    load: 0.9,
    budgetPerHour: limits.budgetPerHour,
    durationSeconds: 3600,
  });

  it.each(['edf', 'fifo', 'milp'] as const)(
    'accounts for every job of a tiny trace with the %s placer',
    async (policy) => {
      const placer = placerFor(policy, new HighsSolver(), { timeLimitMs: 2000, relGap: 0.05 });
      const result = await replay(options(placer, arrivals));
      expect(arrivals.length).toBeGreaterThan(3);
      expect(result.jobs).toBe(arrivals.length);
      expect(result.met + result.late + result.expired).toBe(result.jobs);
      expect(result.deadlineMet).toBeGreaterThanOrEqual(0);
      expect(result.deadlineMet).toBeLessThanOrEqual(1);
      expect(result.met).toBeGreaterThan(0);
      expect(result.violations).toEqual([]);
      expect(result.cost).toBeGreaterThan(0);
    },
    120_000,
  );

  it('starts a task on a new instance once it has booted, not at the slot the planner booked', async () => {
    const spec = JobSpecSchema.parse({
      name: 'gpu-job',
      task: { kind: 'command', command: 'train' },
      alternatives: [{ requirement: { vcpu: 2, memoryMiB: 4096, gpus: 1 }, durationSeconds: 600 }],
      utility: { deadlineSeconds: 900, value: 5 },
    });
    const launchThenPlace: Placer = (input) => {
      const base = planEdf({ ...input, jobs: [] });
      const job = input.jobs[0];
      if (!job) return base;
      // Booked for slot 1 (600 s), though g5.xlarge boots in 150 s: only an early start meets 900 s.
      const placement: Placement = {
        jobId: job.id,
        taskIndex: 0,
        attempt: 0,
        alternative: 0,
        target: { kind: 'new', type: 'g5.xlarge', index: 0, market: 'on-demand' },
        resources: { vcpu: 2, memoryMiB: 4096, gpus: 1 },
        gpuIndices: [],
        startAt: input.now + 600_000,
        expectedEndAt: input.now + 1_200_000,
      };
      return {
        ...base,
        launches: [{ type: 'g5.xlarge', market: 'on-demand', count: 1, slot: 0, firstIndex: 0 }],
        placements: [placement],
      };
    };
    const result = await replay(options(launchThenPlace, [{ id: 'gpu-job', at: DEFAULT_NOW, spec }]));
    expect(result.violations).toEqual([]);
    expect(result.met).toBe(1);
  });

  it('refuses a placement that would over-commit an instance and keeps the job pending', async () => {
    const [first] = arrivals;
    if (!first) throw new Error('empty trace');
    let calls = 0;
    // Two tasks of 6 vCPUs on one 8-vCPU instance: the second does not fit.
    const greedyTwice: Placer = (input) => {
      const inst = input.instances[0];
      const job = input.jobs.find((j) => j.id === first.id);
      if (!inst || !job || ++calls > 1) return planEdf({ ...input, jobs: [] });
      const p = (taskIndex: number): Placement => ({
        jobId: job.id,
        taskIndex,
        attempt: 0,
        alternative: 0,
        target: { kind: 'existing', instanceId: inst.id },
        resources: { vcpu: 6, memoryMiB: 1024, gpus: 0 },
        gpuIndices: [],
        startAt: input.now,
        expectedEndAt: input.now + 600_000,
      });
      const plan: PlacementPlan = { ...planEdf({ ...input, jobs: [] }), placements: [p(0), p(1)] };
      return plan;
    };
    const result = await replay({ ...options(greedyTwice, [first]), maxCycles: 4 });
    expect(calls).toBeGreaterThan(1);
    expect(result.violations).toEqual([expect.stringContaining('does not fit on sim-00000')]);
    expect(result.met).toBe(0);
  });
});
