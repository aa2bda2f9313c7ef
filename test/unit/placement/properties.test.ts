import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { InstanceType } from '../../../lib/core/model/instance-type.ts';
import { fits, type Resources } from '../../../lib/core/model/resources.ts';
import { compile } from '../../../lib/core/placement/compile.ts';
import { decodeSolution } from '../../../lib/core/placement/decode.ts';
import { planContext, planGreedy, planPlacement } from '../../../lib/core/placement/plan.ts';
import type { PlacementInput, PlacementPlan } from '../../../lib/core/placement/types.ts';
import { HighsSolver } from '../../../lib/solver/highs-solver.ts';
import {
  C5_2XLARGE,
  existing,
  G5_XLARGE,
  job,
  launchable,
  M5_XLARGE,
  min,
  placementInput,
} from '../../support/builders.ts';

const SLOTS = 6;
const TYPES: InstanceType[] = [G5_XLARGE, C5_2XLARGE, M5_XLARGE];
const highs = new HighsSolver();

const instanceArb = fc.record({
  type: fc.constantFrom(...TYPES),
  busy: fc.integer({ min: 0, max: 3 }),
  halfFree: fc.boolean(),
});
const jobArb = fc.record({
  gpu: fc.boolean(),
  cpuToo: fc.boolean(),
  vcpu: fc.constantFrom(1, 2, 4),
  gang: fc.integer({ min: 1, max: 3 }),
  minutes: fc.integer({ min: 5, max: 40 }),
  deadline: fc.integer({ min: 20, max: 90 }),
  value: fc.integer({ min: 1, max: 30 }),
});

const inputArb = fc
  .record({
    instances: fc.array(instanceArb, { maxLength: 3 }),
    launch: fc.subarray(TYPES),
    jobs: fc.array(jobArb, { minLength: 1, maxLength: 6 }),
    maxInstances: fc.integer({ min: 1, max: 6 }),
    budget: fc.integer({ min: 1, max: 8 }),
  })
  .map(({ instances, launch, jobs, maxInstances, budget }) =>
    placementInput({
      slots: SLOTS,
      instances: instances.map((i, n) => {
        const cap = { vcpu: i.type.vcpu, memoryMiB: i.type.memoryMiB, gpus: i.type.gpus };
        const half = { vcpu: cap.vcpu / 2, memoryMiB: cap.memoryMiB / 2, gpus: Math.floor(cap.gpus / 2) };
        const zero = { vcpu: 0, memoryMiB: 0, gpus: 0 };
        const free = Array.from({ length: SLOTS }, (_, t) => (t < i.busy ? (i.halfFree ? half : zero) : cap));
        return existing(SLOTS, { id: `i-${n}`, type: i.type, free });
      }),
      launchable: launch.map((t) => launchable(t)),
      jobs: jobs.map((j, n) => {
        const alternatives = [
          {
            name: j.gpu ? 'gpu' : 'cpu',
            requirement: {
              vcpu: j.vcpu,
              memoryMiB: 4096,
              gpus: j.gpu ? 1 : 0,
              gpuModel: j.gpu ? 'A10G' : undefined,
            },
            durationSeconds: min(j.minutes),
          },
          ...(j.gpu && j.cpuToo
            ? [
                {
                  name: 'cpu',
                  requirement: { vcpu: 4, memoryMiB: 8192 },
                  durationSeconds: min(j.minutes * 3),
                },
              ]
            : []),
        ];
        return job({
          id: `j${n}`,
          alternatives,
          gang: j.gang,
          deadline: min(j.deadline),
          value: j.value,
          decay: { shape: 'linear', overSeconds: min(60) },
        });
      }),
      limits: { maxInstances, budgetPerHour: budget, idleTimeoutSeconds: 600 },
    }),
  );

/** Recomputes every instance's load per slot from the plan alone and checks it against the input. */
function assertNoOvercommit(input: PlacementInput, plan: PlacementPlan): void {
  const slotMs = input.slotSeconds * 1000;
  const loads = new Map<string, { cap: (t: number) => Resources; load: Resources[] }>();
  const add = (
    target: PlacementPlan['future'][number]['target'],
    jobId: string,
    alt: number,
    from: number,
    r: Resources,
  ) => {
    const key =
      target.kind === 'existing' ? target.instanceId : `${target.type}/${target.market}/${target.index}`;
    let e = loads.get(key);
    if (!e) {
      const inst =
        target.kind === 'existing' ? input.instances.find((i) => i.id === target.instanceId)! : undefined;
      const type = target.kind === 'new' ? TYPES.find((t) => t.name === target.type)! : undefined;
      const cap = (t: number) =>
        inst ? inst.free[t]! : { vcpu: type!.vcpu, memoryMiB: type!.memoryMiB, gpus: type!.gpus };
      e = { cap, load: Array.from({ length: SLOTS }, () => ({ vcpu: 0, memoryMiB: 0, gpus: 0 })) };
      loads.set(key, e);
    }
    const seconds = input.jobs.find((j) => j.id === jobId)!.spec.alternatives[alt]!.durationSeconds;
    for (let t = from; t < Math.min(SLOTS, from + Math.ceil(seconds / input.slotSeconds)); t++) {
      const l = e.load[t]!;
      e.load[t] = { vcpu: l.vcpu + r.vcpu, memoryMiB: l.memoryMiB + r.memoryMiB, gpus: l.gpus + r.gpus };
    }
  };
  for (const p of plan.placements)
    add(p.target, p.jobId, p.alternative, Math.round((p.startAt - input.now) / slotMs), p.resources);
  for (const f of plan.future) add(f.target, f.jobId, f.alternative, f.slot, f.resources);
  for (const [key, e] of loads)
    e.load.forEach((l, t) => {
      expect(fits(l, e.cap(t)), `${key} slot ${t}`).toBe(true);
    });
}

describe('placement properties', () => {
  it('never over-commits an instance in any slot, and keeps the caps', async () => {
    await fc.assert(
      fc.asyncProperty(inputArb, async (input) => {
        const plan = await planPlacement(input, highs, { timeLimitMs: 20_000 });
        assertNoOvercommit(input, plan);
        assertNoOvercommit(input, planGreedy(input));
        for (const s of plan.fleetBySlot) {
          expect(s.instances).toBeLessThanOrEqual(
            Math.max(input.limits.maxInstances, input.instances.length),
          );
        }
      }),
      { numRuns: 40 },
    );
  });

  it('never lets the greedy alone, right-sizing included, over-commit an instance', () => {
    // The greedy is fast: many more inputs than the solver's property above can afford.
    fc.assert(
      fc.property(inputArb, (input) => {
        assertNoOvercommit(input, planGreedy(input));
      }),
      { numRuns: 400 },
    );
  });

  it("decodes to the solver's objective when no repair was needed", async () => {
    await fc.assert(
      fc.asyncProperty(inputArb, async (input) => {
        const ctx = planContext(input);
        if (ctx.prepared.groups.length === 0) return;
        const c = compile(ctx.fleet, ctx.prepared.groups, input.now);
        const sol = await highs.solve(c.model, { timeLimitMs: 20_000, relGap: 0 });
        expect(sol.status).toBe('optimal');
        const decoded = decodeSolution(ctx, c, sol.values);
        if (decoded.repairs.length > 0) return;
        expect(decoded.objective).toBeCloseTo(sol.objective, 6);
      }),
      { numRuns: 40 },
    );
  });

  it('never lets the greedy beat the optimal MILP', async () => {
    await fc.assert(
      fc.asyncProperty(inputArb, async (input) => {
        const greedy = planGreedy(input);
        const ctx = planContext(input);
        if (ctx.prepared.groups.length === 0) return;
        const c = compile(ctx.fleet, ctx.prepared.groups, input.now);
        const sol = await highs.solve(c.model, { timeLimitMs: 20_000, relGap: 0 });
        expect(greedy.objective).toBeLessThanOrEqual(
          sol.objective + 1e-6 * Math.max(1, Math.abs(sol.objective)),
        );
      }),
      { numRuns: 40 },
    );
  });
});
