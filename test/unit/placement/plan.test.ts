import { describe, expect, it } from 'vitest';
import { JobSpecSchema } from '../../../lib/core/model/job.ts';
import { explainJob } from '../../../lib/core/placement/explain.ts';
import { planGreedy, planPlacement } from '../../../lib/core/placement/plan.ts';
import type { PlacementInput, PlacementPlan } from '../../../lib/core/placement/types.ts';
import { HighsSolver } from '../../../lib/solver/highs-solver.ts';
import { FakeMilpSolver } from '../../fakes/fake-milp-solver.ts';
import {
  C5_2XLARGE,
  existing,
  G5_XLARGE,
  gpuOrCpu,
  h,
  job,
  launchable,
  min,
  NOW,
  placementInput,
} from '../../support/builders.ts';

const highs = new HighsSolver();
const solve = (input: PlacementInput) => planPlacement(input, highs, { timeLimitMs: 20_000 });
const SLOTS = 12;

/** Slots each planned task occupies, from the plan alone. */
function activeTargets(input: PlacementInput, plan: PlacementPlan) {
  const rows: { key: string; from: number; to: number }[] = [];
  const seconds = (jobId: string, alt: number) =>
    input.jobs.find((j) => j.id === jobId)!.spec.alternatives[alt]!.durationSeconds;
  const key = (t: PlacementPlan['placements'][number]['target']) =>
    t.kind === 'existing' ? t.instanceId : `${t.type}/${t.market}/${t.index}`;
  for (const p of plan.placements) {
    const from = (p.startAt - input.now) / (input.slotSeconds * 1000);
    rows.push({
      key: key(p.target),
      from,
      to: from + Math.ceil(seconds(p.jobId, p.alternative) / input.slotSeconds),
    });
  }
  for (const f of plan.future)
    rows.push({
      key: key(f.target),
      from: f.slot,
      to: f.slot + Math.ceil(seconds(f.jobId, f.alternative) / input.slotSeconds),
    });
  return rows;
}

describe('planPlacement: waiting for the right hardware', () => {
  const gpuBox = (busyUntilSlot: number) => existing(SLOTS, { id: 'i-gpu', type: G5_XLARGE, busyUntilSlot });
  const cpuBox = () => existing(SLOTS, { id: 'i-cpu', type: C5_2XLARGE });

  it('waits for a busy GPU instance when the deadline allows, rather than running 8x slower on CPU now', async () => {
    const input = placementInput({
      slots: SLOTS,
      instances: [gpuBox(2), cpuBox()],
      jobs: [job({ id: 'train', alternatives: gpuOrCpu(min(10), 8), deadline: min(60) })],
    });
    const plan = await solve(input);
    expect(plan.placements).toEqual([]);
    expect(plan.future).toMatchObject([
      { jobId: 'train', alternative: 0, slot: 2, target: { kind: 'existing', instanceId: 'i-gpu' } },
    ]);
    expect(explainJob(plan, 'train')).toBe(
      'waits for g5.xlarge capacity in slot 2: the cpu alternative would finish after the deadline',
    );
  });

  it('runs on CPU now when the deadline is too tight to wait for the GPU', async () => {
    const input = placementInput({
      slots: SLOTS,
      instances: [gpuBox(8), cpuBox()],
      jobs: [job({ id: 'train', alternatives: gpuOrCpu(min(10), 8), deadline: min(85) })],
    });
    const plan = await solve(input);
    expect(plan.placements).toMatchObject([
      { jobId: 'train', alternative: 1, target: { kind: 'existing', instanceId: 'i-cpu' }, startAt: NOW },
    ]);
    expect(explainJob(plan, 'train')).toMatch(/^runs now as cpu on c5.2xlarge i-cpu/);
  });
});

describe('planPlacement: buying capacity or waiting for it', () => {
  // A new g5.xlarge serves from slot 1 (boot) and costs 2 slots: $0.34. Waiting for the busy one
  // finishes 10 minutes later, which the linear decay prices at value/6.
  const input = (value: number) =>
    placementInput({
      slots: SLOTS,
      instances: [existing(SLOTS, { id: 'i-gpu', type: G5_XLARGE, busyUntilSlot: 2 })],
      launchable: [launchable(G5_XLARGE)],
      jobs: [
        job({
          id: 'infer',
          gpus: 1,
          duration: min(10),
          deadline: min(20),
          value,
          decay: { shape: 'linear', overSeconds: min(60) },
        }),
      ],
    });

  it('buys a new g5 when finishing sooner is worth more than the instance', async () => {
    const plan = await solve(input(10));
    expect(plan.launches).toEqual([
      { type: 'g5.xlarge', market: 'on-demand', count: 1, slot: 0, firstIndex: 0 },
    ]);
    expect(plan.placements).toMatchObject([
      { jobId: 'infer', target: { kind: 'new', type: 'g5.xlarge', index: 0 }, startAt: NOW + 600_000 },
    ]);
    expect(plan.cost).toBeCloseTo((2 * G5_XLARGE.onDemandPerHour) / 6, 6);
    expect(explainJob(plan, 'infer')).toBe(
      'runs in slot 1 once it boots as 1-GPU alternative 0 on new g5.xlarge #0',
    );
  });

  it('waits two slots for the running g5 when the sooner finish is worth less than the instance', async () => {
    const plan = await solve(input(1));
    expect(plan.launches).toEqual([]);
    expect(plan.cost).toBe(0);
    expect(plan.future).toMatchObject([
      { jobId: 'infer', slot: 2, target: { kind: 'existing', instanceId: 'i-gpu' } },
    ]);
  });
});

describe('planPlacement: gangs and caps', () => {
  const gang = () => job({ id: 'gang', gang: 4, gpus: 1, duration: min(10), deadline: h(3), value: 100 });
  const gpus = (n: number) =>
    Array.from({ length: n }, (_, i) => existing(SLOTS, { id: `g${i}`, type: G5_XLARGE, busyUntilSlot: i }));

  it('places a gang of 4 whole, all tasks starting together', async () => {
    const plan = await solve(placementInput({ slots: SLOTS, instances: gpus(4), jobs: [gang()] }));
    const tasks = [
      ...plan.placements.map((p) => (p.startAt - NOW) / 600_000),
      ...plan.future.map((f) => f.slot),
    ];
    expect(tasks).toHaveLength(4);
    expect(new Set(tasks).size).toBe(1);
  });

  it('places no part of a gang of 4 when only 3 GPUs exist', async () => {
    const plan = await solve(placementInput({ slots: SLOTS, instances: gpus(3), jobs: [gang()] }));
    expect(plan.placements).toEqual([]);
    expect(plan.future).toEqual([]);
    expect(plan.unplaced.gang).toBeDefined();
  });

  it('keeps the fleet cap and the budget in every slot', async () => {
    const jobs = Array.from({ length: 12 }, (_, i) =>
      job({ id: `j${i}`, gpus: 1, duration: min(30), deadline: min(60), value: 50 }),
    );
    const limits = { maxInstances: 4, budgetPerHour: 3.2, idleTimeoutSeconds: 600 };
    const inp = placementInput({
      slots: SLOTS,
      instances: gpus(1),
      launchable: [launchable(G5_XLARGE)],
      jobs,
      limits,
    });
    const plan = await solve(inp);
    for (const s of plan.fleetBySlot) {
      expect(s.instances).toBeLessThanOrEqual(4);
      expect(s.perHour).toBeLessThanOrEqual(3.2 + 1e-9);
    }
    // 1 existing + at most 2 new ($1.006 each) fit the budget: the plan must use some new ones.
    expect(plan.launches[0]?.count).toBe(2);
    for (let t = 0; t < SLOTS; t++) {
      const busy = new Set(
        activeTargets(inp, plan)
          .filter((r) => r.from <= t && t < r.to)
          .map((r) => r.key),
      );
      expect(busy.size).toBeLessThanOrEqual(3);
    }
  });
});

describe('planPlacement: solve strategy', () => {
  const simple = () =>
    placementInput({
      slots: 6,
      instances: [existing(6, { id: 'i-cpu', type: C5_2XLARGE })],
      jobs: [job({ id: 'a', vcpu: 2 }), job({ id: 'b', vcpu: 2 })],
    });

  it('answers with the greedy plan when the solver finds nothing in time', async () => {
    const fake = new FakeMilpSolver();
    const plan = await planPlacement(simple(), fake, { timeLimitMs: 1000 });
    expect(plan.engine).toBe('greedy');
    expect(plan.placements.map((p) => p.jobId).sort()).toEqual(['a', 'b']);
    expect(fake.calls.map((c) => c.options.relaxIntegrality ?? false)).toEqual([true, false]);
    expect(plan.notes).toEqual(['lp: solver returned no-solution', 'mip: solver returned no-solution']);
  });

  it('answers with the greedy plan when the solver cannot run', async () => {
    const fake = new FakeMilpSolver().failNext(new Error('wasm failed to load')).failNext();
    const plan = await planPlacement(simple(), fake, { timeLimitMs: 1000, strategy: 'direct' });
    expect(plan.engine).toBe('greedy');
    expect(plan.notes[0]).toBe('mip: solver failed: solver failed to load');
  });

  it('warm-starts the MIP with the greedy plan, by variable name (identical jobs counted together)', async () => {
    const fake = new FakeMilpSolver();
    await planPlacement(simple(), fake, { timeLimitMs: 1000, strategy: 'direct' });
    const warm = fake.calls[0]!.options.warmStart!;
    const set = [...warm].filter(([, v]) => v > 0).map(([k]) => k);
    expect(set.length).toBe(1);
    expect(set[0]).toMatch(/^j\.a\.a0\.t\d+$/);
    expect(warm.get(set[0]!)).toBe(2);
  });

  it('stops calling the solver once the time budget is spent', async () => {
    let t = 0;
    const fake = new FakeMilpSolver(() => {
      t += 990;
      return { status: 'no-solution', values: new Float64Array(), objective: 0, solveMs: 990 };
    });
    const plan = await planPlacement(simple(), fake, { timeLimitMs: 1000, elapsedMs: () => t });
    expect(fake.calls).toHaveLength(1);
    expect(plan.notes.at(-1)).toBe('mip: skipped, 990 of 1000 ms already spent');
  });

  it('uses the sub-MIP answer when every column of the restricted model is fixed', async () => {
    const input = placementInput({
      slots: 4,
      launchable: [launchable(C5_2XLARGE)],
      limits: { maxInstances: 0, budgetPerHour: 100, idleTimeoutSeconds: 600 },
      jobs: [job({ id: 'a' })],
    });
    const plan = await planPlacement(input, highs, { timeLimitMs: 5000 });
    expect(plan.notes).toEqual([]);
    expect(plan.placements).toEqual([]);
  });

  it('gives the greedy at least the time the build took when the build used up the budget', async () => {
    // The first reading starts the budget; building the model then takes 150 ms of a 100 ms budget,
    // and every later reading (one per job the greedy places) advances the clock by 1 ms.
    let readings = 0;
    const elapsedMs = () => (readings++ === 0 ? 0 : 150 + readings);
    const input = placementInput({
      slots: 6,
      instances: Array.from({ length: 8 }, (_, i) => existing(6, { id: `c${i}`, type: C5_2XLARGE })),
      jobs: Array.from({ length: 60 }, (_, i) => job({ id: `j${i}`, vcpu: 1, duration: min(10) })),
    });
    const plan = await planPlacement(input, new FakeMilpSolver(), { timeLimitMs: 100, elapsedMs });
    expect(plan.engine).toBe('greedy');
    expect(plan.placements).toHaveLength(60);
  });

  it('reports a job whose policy is not registered as unplaced, and plans the rest', async () => {
    const input = simple();
    const svc = {
      id: 'svc',
      submittedAt: NOW,
      attempts: 0,
      spec: JobSpecSchema.parse({
        name: 'svc',
        policy: 'slo-service',
        task: { kind: 'model', modelId: 'detector', model: { uri: '/models/detector.onnx' } },
        alternatives: [{ requirement: { vcpu: 1, memoryMiB: 2048, gpus: 0 }, durationSeconds: 60 }],
      }),
    };
    const plan = await planPlacement({ ...input, jobs: [...input.jobs, svc] }, highs, {
      timeLimitMs: 5000,
    });
    expect(plan.unplaced.svc).toBe('no policy registered for slo-service (have deadline, fifo)');
    expect(plan.placements.map((p) => p.jobId).sort()).toEqual(['a', 'b']);
  });

  it('returns a verified greedy plan from planGreedy without a solver', () => {
    const plan = planGreedy(simple());
    expect(plan.engine).toBe('greedy');
    expect(plan.placements).toHaveLength(2);
    expect(plan.objective).toBeCloseTo(plan.utility - plan.cost, 9);
  });
});

describe('planPlacement: previous cycle', () => {
  const running = (n: number) =>
    Array.from({ length: n }, (_, i) => existing(6, { id: `r${i}`, type: G5_XLARGE }));

  it("keeps the fleet cap when the previous plan's launches are already running", async () => {
    const jobs = Array.from({ length: 8 }, (_, i) =>
      job({ id: `p${i}`, gpus: 1, duration: min(30), deadline: min(60), value: 50 }),
    );
    const limits = { maxInstances: 3, budgetPerHour: 10, idleTimeoutSeconds: 600 };
    const first = await solve(
      placementInput({ slots: 6, launchable: [launchable(G5_XLARGE)], jobs, limits }),
    );
    expect(first.launches.length).toBeGreaterThan(0);
    // The old plan's launches are running now and fill the cap; its launch counts no longer fit.
    const inp = placementInput({
      slots: 6,
      instances: running(3),
      launchable: [launchable(G5_XLARGE)],
      jobs,
      limits,
    });
    const plan = await planPlacement(inp, highs, { timeLimitMs: 20_000, warm: first.warm! });
    for (const s of plan.fleetBySlot) expect(s.instances).toBeLessThanOrEqual(3);
    expect(plan.placements.length).toBeGreaterThan(0);
  });
});
