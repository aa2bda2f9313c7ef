import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  replicaRequirement,
  replicaRequirementOf,
  replicaThreadsOf,
} from '../../../lib/core/inference/replica.ts';
import { findInstanceType } from '../../../lib/core/model/catalog.ts';
import { type JobSpecInput, JobSpecSchema } from '../../../lib/core/model/job.ts';
import type { Resources } from '../../../lib/core/model/resources.ts';
import { planGreedy, planPlacement } from '../../../lib/core/placement/plan.ts';
import type { PendingJob, PlacementInput, PlacementPlan } from '../../../lib/core/placement/types.ts';
import { policiesFor } from '../../../lib/core/policies/registry.ts';
import { HighsSolver } from '../../../lib/solver/highs-solver.ts';
import {
  C5_2XLARGE,
  existing,
  G5_12XLARGE,
  G5_XLARGE,
  h,
  job,
  launchable,
  min,
  NOW,
  placementInput,
} from '../../support/builders.ts';

const highs = new HighsSolver();
const SLOTS = 12;

const solve = (input: PlacementInput) =>
  planPlacement(input, highs, { timeLimitMs: 20_000 }, { policies: policiesFor(input) });
const greedy = (input: PlacementInput) => planGreedy(input, { policies: policiesFor(input) });

const HALF_C5: Resources = { vcpu: 4, memoryMiB: 8192, gpus: 0 };

function replica(id: string, over: Partial<JobSpecInput> = {}): PendingJob {
  return {
    id,
    submittedAt: NOW,
    attempts: 0,
    spec: JobSpecSchema.parse({
      name: id,
      policy: 'slo-service',
      task: { kind: 'model', modelId: 'detector', model: { uri: '/models/detector.onnx' } },
      alternatives: [{ requirement: HALF_C5, durationSeconds: 60 }],
      ...over,
    }),
  };
}

/** A c5.2xlarge with room for exactly one HALF_C5 task in every slot (other work holds the rest). */
const oneSlotBox = () => existing(SLOTS, { id: 'i-1', type: C5_2XLARGE, free: Array(SLOTS).fill(HALF_C5) });

const startsNow = (plan: PlacementPlan) => plan.placements.map((p) => p.jobId).sort();

describe('replica intra-op threads', () => {
  it('gives a replica as many threads as the vCPUs it reserves, not the whole host', () => {
    const threads = (name: string) => {
      const type = findInstanceType(name);
      if (!type) throw new Error(`no ${name} in the catalog`);
      return replicaThreadsOf(type);
    };
    // CPU: the whole type, whichever larger instance of the family the replica is packed onto.
    expect(threads('c7i.large')).toBe(2);
    expect(threads('c7i.xlarge')).toBe(4);
    // GPU: the replica's share of the instance's vCPUs, one GPU each.
    expect(threads('g5.xlarge')).toBe(4);
    expect(threads('g5.12xlarge')).toBe(12);
    for (const name of ['c7i.xlarge', 'g5.12xlarge'])
      expect(threads(name)).toBe(replicaRequirement(name).vcpu);
  });
});

describe('slo-service replicas in the placement MILP', () => {
  const batch = (id = 'report', submittedAt = NOW - 60_000) =>
    job({ id, vcpu: 4, memoryMiB: 8192, duration: min(20), deadline: h(4), value: 50, submittedAt });

  it('starts a deadline job in the only slot of capacity when no replica asks for it', async () => {
    const plan = await solve(placementInput({ slots: SLOTS, instances: [oneSlotBox()], jobs: [batch()] }));
    expect(startsNow(plan)).toEqual(['report']);
  });

  it('lets a replica displace a deadline job from the only slot of capacity, even one submitted earlier', async () => {
    const input = placementInput({
      slots: SLOTS,
      instances: [oneSlotBox()],
      jobs: [batch(), replica('detector-0')],
    });
    for (const plan of [await solve(input), greedy(input)]) {
      expect(plan.placements).toMatchObject([
        { jobId: 'detector-0', target: { kind: 'existing', instanceId: 'i-1' }, startAt: NOW },
      ]);
      // The replica keeps the capacity for the whole window, so the batch job has nowhere to go.
      expect(plan.future.filter((f) => f.jobId === 'report')).toEqual([]);
      expect(plan.unplaced.report).toBeDefined();
    }
  });

  it('outbids several small batch jobs that together fill the capacity the replica needs', async () => {
    const small = [0, 1, 2, 3].map((i) =>
      job({ id: `small-${i}`, vcpu: 1, memoryMiB: 2048, duration: min(20), deadline: min(40), value: 50 }),
    );
    const plan = await solve(
      placementInput({ slots: SLOTS, instances: [oneSlotBox()], jobs: [...small, replica('detector-0')] }),
    );
    expect(startsNow(plan)).toEqual(['detector-0']);
  });

  it('buys a new instance for a replica when no instance has room', async () => {
    const full = existing(SLOTS, { id: 'i-full', type: C5_2XLARGE, busyUntilSlot: SLOTS });
    const input = placementInput({
      slots: SLOTS,
      instances: [full],
      launchable: [launchable(C5_2XLARGE)],
      jobs: [replica('detector-0')],
    });
    for (const plan of [await solve(input), greedy(input)]) {
      expect(plan.launches).toEqual([
        { type: 'c5.2xlarge', market: 'on-demand', count: 1, slot: 0, firstIndex: 0 },
      ]);
      expect(plan.placements).toMatchObject([
        {
          jobId: 'detector-0',
          target: { kind: 'new', type: 'c5.2xlarge', index: 0 },
          startAt: NOW + 600_000,
        },
      ]);
    }
  });

  it('buys even a dear instance for a replica, since a replica is worth more per slot than any instance costs', async () => {
    const input = placementInput({
      slots: SLOTS,
      launchable: [launchable(G5_12XLARGE)],
      jobs: [
        replica('gpu-0', {
          alternatives: [{ requirement: replicaRequirement('g5.12xlarge'), durationSeconds: 60 }],
        }),
      ],
    });
    const plan = await solve(input);
    expect(plan.launches).toMatchObject([{ type: 'g5.12xlarge', count: 1, slot: 0 }]);
    expect(startsNow(plan)).toEqual(['gpu-0']);
    expect(plan.objective).toBeGreaterThan(0);
  });

  it('buys spot for a replica that may use it (warm headroom), on-demand for one that may not', async () => {
    const input = placementInput({
      slots: SLOTS,
      launchable: [launchable(G5_XLARGE, ['on-demand', 'spot'])],
      jobs: [
        replica('warm-0', {
          alternatives: [{ requirement: replicaRequirementOf(G5_XLARGE, true), durationSeconds: 60 }],
        }),
        replica('serving-0', {
          alternatives: [{ requirement: replicaRequirementOf(G5_XLARGE), durationSeconds: 60 }],
        }),
      ],
    });
    for (const plan of [await solve(input), greedy(input)]) {
      expect(startsNow(plan)).toEqual(['serving-0', 'warm-0']);
      const market = (id: string) => {
        const t = plan.placements.find((p) => p.jobId === id)?.target;
        return t?.kind === 'new' ? t.market : undefined;
      };
      expect(market('warm-0')).toBe('spot');
      expect(market('serving-0')).toBe('on-demand');
      expect(plan.launches.map((l) => l.market).sort()).toEqual(['on-demand', 'spot']);
    }
  });

  it('buys a GPU instance for a GPU replica even when a batch job waits for the same GPU', async () => {
    const gpuReplica = replica('gpu-0', {
      alternatives: [{ requirement: replicaRequirement('g5.xlarge'), durationSeconds: 60 }],
    });
    const plan = await solve(
      placementInput({
        slots: SLOTS,
        instances: [existing(SLOTS, { id: 'i-gpu', type: G5_XLARGE })],
        launchable: [launchable(G5_XLARGE)],
        jobs: [
          job({ id: 'train', gpus: 1, vcpu: 2, duration: h(1), deadline: min(75), value: 40 }),
          gpuReplica,
        ],
      }),
    );
    // One GPU now: the replica takes it, and the batch job is worth a new instance of its own.
    expect(plan.placements.find((p) => p.jobId === 'gpu-0')?.target).toEqual({
      kind: 'existing',
      instanceId: 'i-gpu',
    });
    expect(plan.placements.find((p) => p.jobId === 'train')?.target.kind).toBe('new');
  });

  it('waits for capacity when nothing fits now and nothing can be bought', async () => {
    const busy = existing(SLOTS, { id: 'i-busy', type: C5_2XLARGE, busyUntilSlot: 3 });
    const input = placementInput({ slots: SLOTS, instances: [busy], jobs: [replica('detector-0')] });
    for (const plan of [await solve(input), greedy(input)]) {
      expect(plan.placements).toEqual([]);
      expect(plan.launches).toEqual([]);
      expect(plan.future).toMatchObject([
        { jobId: 'detector-0', slot: 3, target: { kind: 'existing', instanceId: 'i-busy' } },
      ]);
    }
  });

  it('places every replica of a stage when capacity allows, grouped as identical jobs', async () => {
    const box = existing(SLOTS, { id: 'i-big', type: C5_2XLARGE });
    const jobs = [replica('r-0'), replica('r-1'), replica('r-2')];
    const plan = await solve(
      placementInput({ slots: SLOTS, instances: [box], launchable: [launchable(C5_2XLARGE)], jobs }),
    );
    expect(startsNow(plan)).toEqual(['r-0', 'r-1', 'r-2']);
    const onBox = plan.placements.filter((p) => p.target.kind === 'existing').length;
    expect(onBox).toBe(2);
    expect(plan.launches.reduce((n, l) => n + l.count, 0)).toBe(1);
  });
});

describe('slo-service replicas against any batch mix', () => {
  const batchArb = fc.record({
    vcpu: fc.integer({ min: 1, max: 8 }),
    memoryMiB: fc.constantFrom(1024, 4096, 8192, 16_384),
    minutes: fc.integer({ min: 10, max: 120 }),
    deadlineMinutes: fc.integer({ min: 30, max: 240 }),
    value: fc.double({ min: 1, max: 1000, noNaN: true }),
    priority: fc.integer({ min: 1, max: 5 }),
    fifo: fc.boolean(),
    waitedMinutes: fc.integer({ min: 0, max: 600 }),
  });

  it('starts a replica now whenever an existing instance has room for it, whatever batch work competes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(batchArb, { maxLength: 6 }),
        fc.integer({ min: 1, max: 2 }),
        async (mix, boxes) => {
          const jobs = mix.map((b, i) =>
            job({
              id: `b-${i}`,
              vcpu: b.vcpu,
              memoryMiB: b.memoryMiB,
              duration: min(b.minutes),
              policy: b.fifo ? 'fifo' : 'deadline',
              deadline: b.fifo ? undefined : min(Math.max(b.deadlineMinutes, b.minutes)),
              value: b.value,
              priority: b.priority,
              submittedAt: NOW - b.waitedMinutes * 60_000,
            }),
          );
          const instances = Array.from({ length: boxes }, (_, i) =>
            existing(SLOTS, { id: `i-${i}`, type: C5_2XLARGE }),
          );
          const input = placementInput({ slots: SLOTS, instances, jobs: [...jobs, replica('detector-0')] });
          for (const plan of [await solve(input), greedy(input)])
            expect(plan.placements.find((p) => p.jobId === 'detector-0')?.startAt).toBe(NOW);
        },
      ),
      { numRuns: 40 },
    );
  });
});
