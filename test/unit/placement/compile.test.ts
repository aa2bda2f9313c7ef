import { describe, expect, it } from 'vitest';
import { compile } from '../../../lib/core/placement/compile.ts';
import { planContext, planPlacement } from '../../../lib/core/placement/plan.ts';
import { createPolicyRegistry } from '../../../lib/core/policies/registry.ts';
import type { Policy } from '../../../lib/core/policies/types.ts';
import { BARRIER, LnCk, MAX, MIN, nCk, SCALE, type StrlExpr, SUM } from '../../../lib/core/strl/expr.ts';
import { HighsSolver } from '../../../lib/solver/highs-solver.ts';
import {
  C5_2XLARGE,
  existing,
  G5_XLARGE,
  gpuOrCpu,
  instanceType,
  job,
  launchable,
  M5_XLARGE,
  min,
  NOW,
  placementInput,
} from '../../support/builders.ts';

function compiled(input: ReturnType<typeof placementInput>) {
  const ctx = planContext(input);
  return { ctx, c: compile(ctx.fleet, ctx.prepared.groups, input.now) };
}

describe('compiler', () => {
  it('aggregates identical jobs into one integer count per choice', () => {
    const jobs = Array.from({ length: 5 }, (_, i) => job({ id: `same-${i}`, vcpu: 2, duration: min(10) }));
    const { ctx, c } = compiled(
      placementInput({ slots: 4, instances: [existing(4, { id: 'i-a', type: C5_2XLARGE })], jobs }),
    );
    expect(ctx.prepared.groups).toHaveLength(1);
    const leafVar = c.model.vars[c.groups[0]!.leafRefs[0]!.indicator]!;
    expect(leafVar.kind).toBe('integer');
    expect(leafVar.ub).toBe(5);
    expect(c.model.rows.find((r) => r.name.endsWith('.pick'))?.ub).toBe(5);
  });

  it('drops a launch type that costs more and offers no more than another', () => {
    const pricier = instanceType({
      name: 'g5x.xlarge',
      family: 'g5x',
      vcpu: 4,
      memoryMiB: 16_384,
      gpus: 1,
      gpuModel: 'A10G',
      onDemandPerHour: 2,
      spotPerHour: 1,
    });
    const { ctx } = compiled(
      placementInput({ launchable: [launchable(G5_XLARGE), launchable(pricier)], jobs: [job({ gpus: 1 })] }),
    );
    expect([...ctx.fleet.pools.keys()]).toEqual(['n.g5.xlarge.od']);
  });

  it('offers a launch pool only from the slot its instances finish booting', () => {
    const { c } = compiled(placementInput({ launchable: [launchable(G5_XLARGE)], jobs: [job({ gpus: 1 })] }));
    const starts = c.groups[0]!.leafRefs.map((r) => r.leaf.start);
    expect(Math.min(...starts)).toBe(1);
  });

  it('prices each new instance per alive slot and per boot, and caps fleet and budget in every slot', () => {
    const input = placementInput({
      slots: 4,
      launchable: [launchable(G5_XLARGE)],
      jobs: [job({ gpus: 1 })],
      limits: { maxInstances: 7, budgetPerHour: 9, idleTimeoutSeconds: 60 },
    });
    const { c } = compiled(input);
    const perSlot = G5_XLARGE.onDemandPerHour / 6;
    const x = c.model.vars.filter((v) => v.name.startsWith('x.n.g5.xlarge.od'));
    const l = c.model.vars.filter((v) => v.name.startsWith('l.n.g5.xlarge.od'));
    expect(x.length).toBe(3);
    expect(x[0]!.obj).toBeCloseTo(-perSlot, 9);
    expect(l[0]!.obj).toBeCloseTo(-perSlot, 9);
    expect(c.model.rows.filter((r) => r.name.startsWith('fleet.')).map((r) => r.ub)).toEqual([7, 7, 7, 7]);
    expect(c.model.rows.filter((r) => r.name.startsWith('budget.')).map((r) => r.ub)).toEqual([9, 9, 9, 9]);
  });

  it('keeps variable names stable when the window moves on by one slot', () => {
    const j = job({ id: 'stable', gpus: 1, deadline: min(120) });
    const at = (now: number) =>
      compiled(
        placementInput({
          now,
          instances: [existing(12, { id: 'i-g', type: G5_XLARGE })],
          jobs: [{ ...j, submittedAt: NOW }],
        }),
      ).c.model.vars.map((v) => v.name);
    const first = at(NOW);
    const next = at(NOW + 600_000);
    expect(first).toContain(`j.stable.a0.t${Math.floor(NOW / 600_000) + 3}`);
    expect(next).toContain(`j.stable.a0.t${Math.floor(NOW / 600_000) + 3}`);
  });

  it('keeps the GPU row of a pool that CPU-only tasks share, and drops rows another row implies', () => {
    const jobs = [
      job({ id: 'cpu', vcpu: 1, memoryMiB: 1024 }),
      job({ id: 'gpu', vcpu: 1, memoryMiB: 1024, gpus: 1 }),
    ];
    const { c } = compiled(placementInput({ slots: 3, launchable: [launchable(G5_XLARGE)], jobs }));
    const dims = new Set(
      c.model.rows
        .filter((r) => r.name.startsWith('cap.n.g5.xlarge.od.'))
        .map((r) => r.name.split('.').at(-1)),
    );
    // 1 vCPU of 4 and 1 GiB of 16 per task: the vCPU row implies the memory row.
    expect([...dims].sort()).toEqual(['gpus', 'vcpu']);
  });

  it('adds a one-per-instance row for task shapes that cannot share an instance', () => {
    // A 4-vCPU CPU task and a GPU task (2 vCPU) cannot share a 4-vCPU g5.xlarge.
    const { c } = compiled(
      placementInput({
        slots: 3,
        launchable: [launchable(G5_XLARGE)],
        jobs: [job({ alternatives: gpuOrCpu(min(10), 2) })],
      }),
    );
    const row = c.model.rows.find((r) => r.name.startsWith('one.n.g5.xlarge.od.'));
    expect(row).toBeDefined();
    expect(row!.terms.length).toBe(3);
  });
});

/** A policy that hands out a fixed expression, to drive the compiler with any STRL tree. */
function fixed(expr: StrlExpr): Policy {
  return { name: 'deadline', toStrl: () => ({ ok: true, expr }) };
}

const unit = { vcpu: 1, memoryMiB: 1024, gpus: 0 };

/** Instance `a` is a c5.2xlarge, `b` an m5.xlarge: pools `e.c5.2xlarge.od` and `e.m5.xlarge.od`. */
const A = 'e.c5.2xlarge.od';
const B = 'e.m5.xlarge.od';

async function solveTree(expr: StrlExpr, freeVcpu: { a: number; b?: number }) {
  const box = (id: string, type: typeof C5_2XLARGE, vcpu: number) =>
    existing(2, { id, type, free: [0, 1].map(() => ({ vcpu, memoryMiB: 16_384, gpus: 0 })) });
  const instances = [box('a', C5_2XLARGE, freeVcpu.a), box('b', M5_XLARGE, freeVcpu.b ?? 0)];
  const input = placementInput({ slots: 2, instances, jobs: [job({ id: 'x' })] });
  const plan = await planPlacement(
    input,
    new HighsSolver(),
    { timeLimitMs: 10_000, strategy: 'direct' },
    {
      policies: createPolicyRegistry([fixed(expr)]),
    },
  );
  return plan;
}

describe('compiled operators solved by HiGHS', () => {
  it('MIN earns its smallest child when every child fits', async () => {
    const plan = await solveTree(MIN(nCk([A], 1, 0, 1, 5, unit), nCk([B], 1, 0, 1, 3, unit)), {
      a: 8,
      b: 8,
    });
    expect(plan.utility).toBeCloseTo(3, 6);
    expect(plan.placements).toHaveLength(2);
  });

  it('MIN grants nothing when one child cannot be satisfied', async () => {
    const plan = await solveTree(MIN(nCk([A], 1, 0, 1, 5, unit), nCk([B], 2, 0, 1, 3, unit)), {
      a: 8,
      b: 1,
    });
    expect(plan.utility).toBe(0);
    expect(plan.placements).toHaveLength(0);
  });

  it('BARRIER pays only when the partial grant reaches its value', async () => {
    const tree = BARRIER(LnCk([A], 4, 0, 1, 8, unit), 6);
    expect((await solveTree(tree, { a: 3 })).utility).toBeCloseTo(6, 6);
    const short = await solveTree(tree, { a: 2 });
    expect(short.utility).toBe(0);
    expect(short.placements).toHaveLength(0);
  });

  it('SUM takes the more valuable child when only one fits', async () => {
    const plan = await solveTree(SUM(nCk([A], 1, 0, 1, 2, unit), nCk([A], 1, 0, 1, 7, unit)), {
      a: 1,
    });
    expect(plan.utility).toBeCloseTo(7, 6);
  });

  it('SCALE weighs a child inside a MAX', async () => {
    const plan = await solveTree(MAX(SCALE(nCk([A], 1, 0, 1, 3, unit), 2), nCk([A], 1, 0, 1, 5, unit)), {
      a: 8,
    });
    expect(plan.utility).toBeCloseTo(6, 6);
    expect(plan.solverObjective ?? plan.objective).toBeCloseTo(6, 6);
  });
});
