import { describe, expect, it } from 'vitest';
import { PlanInvariantError } from '../../../lib/core/errors.ts';
import { compile } from '../../../lib/core/placement/compile.ts';
import { decodeSolution } from '../../../lib/core/placement/decode.ts';
import { Packer } from '../../../lib/core/placement/pack.ts';
import type { Host, PlacedTask } from '../../../lib/core/placement/pack-types.ts';
import { planContext } from '../../../lib/core/placement/plan.ts';
import {
  bootingCounts,
  cheapestPattern,
  launchesOf,
  patternCost,
} from '../../../lib/core/placement/pool-cost.ts';
import { verifyTasks } from '../../../lib/core/placement/verify.ts';
import { nCk } from '../../../lib/core/strl/expr.ts';
import { solutionByName } from '../../fakes/fake-milp-solver.ts';
import {
  C5_2XLARGE,
  existing,
  G5_XLARGE,
  job,
  launchable,
  min,
  NOW,
  placementInput,
} from '../../support/builders.ts';

describe('new-instance cost patterns', () => {
  it('keeps an instance alive through a gap shorter than its boot, and relaunches after a longer one', () => {
    // Boot of 2 slots: a 1-slot gap is cheaper to bridge than to relaunch.
    expect(cheapestPattern([0, 0, 1, 0, 1, 0], [0, 0, 1, 1, 1, 1], 2)).toEqual([0, 0, 1, 1, 1, 0]);
    expect(cheapestPattern([0, 1, 0, 0, 0, 1], [0, 1, 1, 1, 1, 1], 1)).toEqual([0, 1, 0, 0, 0, 1]);
  });

  it('counts launches as the rises of the pattern and booting instances against the caps', () => {
    const a = [0, 0, 2, 2, 1, 3];
    expect(launchesOf(a, 2)).toEqual([2, 0, 0, 2, 0, 0]);
    expect(bootingCounts(a, 2)).toEqual([2, 2, 2, 4, 3, 3]);
    expect(patternCost(a, 1, 2)).toBe(8 + 2 * 4);
  });
});

describe('verification', () => {
  const input = placementInput({
    slots: 3,
    instances: [existing(3, { id: 'i-c', type: C5_2XLARGE })],
    jobs: [job({ id: 'a' })],
  });
  const ctx = planContext(input);
  const leaf = nCk(
    ['e.c5.2xlarge.od'],
    1,
    0,
    2,
    1,
    { vcpu: 6, memoryMiB: 1024, gpus: 0 },
    { jobId: 'a', alternative: 0 },
  );
  const host: Host = { kind: 'existing', poolId: 'e.c5.2xlarge.od', id: 'i-c', free: [] };
  const task = (jobId: string, start: number): PlacedTask => ({
    jobId,
    leafIndex: 0,
    leaf,
    start,
    end: start + 2,
    host,
  });

  it('fails when two tasks over-commit an instance in a slot, naming it', () => {
    expect(() => verifyTasks(ctx.fleet, [task('a', 0), task('b', 1)], new Map())).toThrow(PlanInvariantError);
    expect(() => verifyTasks(ctx.fleet, [task('a', 0), task('b', 1)], new Map())).toThrow(
      'over-commit on existing i-c in slot 1: vcpu 12 > 8',
    );
  });

  it('fails when two instances go under one name', () => {
    const twin = { ...task('b', 0), host: { ...host } };
    expect(() =>
      verifyTasks(
        ctx.fleet,
        [
          { ...task('a', 0), leaf: { ...leaf, demand: { vcpu: 1, memoryMiB: 1, gpus: 0 } } },
          { ...twin, leaf: { ...leaf, demand: { vcpu: 1, memoryMiB: 1, gpus: 0 } } },
        ],
        new Map(),
      ),
    ).toThrow('two instances share the name existing i-c');
  });

  it('fails when a gang is split', () => {
    const gang = { ...leaf, k: 2, demand: { vcpu: 1, memoryMiB: 1, gpus: 0 } };
    expect(() => verifyTasks(ctx.fleet, [{ ...task('g', 0), leaf: gang }], new Map())).toThrow(
      'gang of job g got 1 of 2 tasks',
    );
  });
});

describe('decode repairs', () => {
  // Two GPU jobs (2 vCPU + 1 GPU) and one 4-vCPU CPU job on new g5.xlarge instances (4 vCPU, 1 GPU).
  // Counted per pool, 2 instances hold all three (8 vCPU, 2 GPUs); concretely the CPU job needs a third.
  const abs = Math.floor(NOW / 600_000);
  const relaxed = (maxInstances: number, gpuMinutes: number) => {
    const jobs = [
      job({
        id: 'g1',
        vcpu: 2,
        memoryMiB: 4096,
        gpus: 1,
        duration: min(gpuMinutes),
        deadline: min(60),
        value: 20,
      }),
      job({
        id: 'g2',
        vcpu: 2,
        memoryMiB: 4096,
        gpus: 1,
        duration: min(gpuMinutes),
        deadline: min(60),
        value: 20,
      }),
      job({ id: 'c', vcpu: 4, memoryMiB: 4096, duration: min(10), deadline: min(60), value: 20 }),
    ];
    const limits = { maxInstances, budgetPerHour: 100, idleTimeoutSeconds: 60 };
    const input = placementInput({ slots: 3, launchable: [launchable(G5_XLARGE)], jobs, limits });
    const ctx = planContext(input);
    const c = compile(ctx.fleet, ctx.prepared.groups, input.now);
    const names = c.model.vars.map((v) => v.name);
    const leafOf = (id: string) => names.find((n) => n.startsWith(`j.${id}.a0.t${abs + 1}`))!;
    const sol = solutionByName(c.model, {
      // g1 and g2 are identical, so they are one group counted by one integer.
      [leafOf('g1')]: 2,
      [leafOf('c')]: 1,
      [`x.n.g5.xlarge.od.t${abs + 1}`]: 2,
      [`x.n.g5.xlarge.od.t${abs + 2}`]: gpuMinutes > 10 ? 2 : 0,
      [`l.n.g5.xlarge.od.t${abs}`]: 2,
    });
    return decodeSolution(ctx, c, sol.values);
  };

  it('launches one more instance when the caps allow, and records the repair', () => {
    const o = relaxed(5, 10);
    expect(o.repairs).toEqual([
      {
        jobId: 'c',
        action: 'launched-extra',
        detail: 'launched one more instance (n.g5.xlarge.od) in slot 1',
      },
    ]);
    expect(o.tasks).toHaveLength(3);
    expect(o.pattern.get('n.g5.xlarge.od')?.[1]).toBe(3);
  });

  it('re-plans the job to a later start that fits when the caps allow no other instance', () => {
    const o = relaxed(2, 10);
    expect(o.repairs).toEqual([
      { jobId: 'c', action: 'moved', detail: 're-planned to another of its choices, in slot 2' },
    ]);
    expect(o.tasks).toHaveLength(3);
  });

  it('defers the job with a reason when nothing fits within the caps', () => {
    const o = relaxed(2, 20);
    expect(o.repairs.map((r) => [r.jobId, r.action])).toEqual([['c', 'deferred']]);
    expect(o.dropped.get('c')).toMatch(/^deferred: its 1 task\(s\) did not pack/);
    expect(o.tasks.map((t) => t.jobId).sort()).toEqual(['g1', 'g2']);
  });
});

describe('packer', () => {
  it('serves a slot with no more new instances than the solver paid for', () => {
    const input = placementInput({ slots: 3, launchable: [launchable(G5_XLARGE)], jobs: [job({ gpus: 1 })] });
    const ctx = planContext(input);
    const packer = new Packer(ctx.fleet, new Map([['n.g5.xlarge.od', [0, 1, 1]]]));
    const leaf = nCk(['n.g5.xlarge.od'], 1, 1, 1, 5, { vcpu: 1, memoryMiB: 1024, gpus: 1 });
    const opts = { allowMove: false, allowExtra: false };
    expect(
      packer.place(
        { jobId: 'a', leaf, leafIndex: 0, units: 1, hints: new Map([['n.g5.xlarge.od', 1]]) },
        opts,
      ),
    ).toBeDefined();
    expect(
      packer.place(
        { jobId: 'b', leaf, leafIndex: 0, units: 1, hints: new Map([['n.g5.xlarge.od', 1]]) },
        opts,
      ),
    ).toBeUndefined();
    const extra = packer.place(
      { jobId: 'b', leaf, leafIndex: 0, units: 1 },
      { allowMove: true, allowExtra: true },
    );
    expect(extra?.extra).toBe(true);
  });
});

describe('eviction (right-sizing)', () => {
  it('gives no two instances one serial after an instance is emptied and its tasks put back', () => {
    const input = placementInput({
      slots: 4,
      launchable: [launchable(C5_2XLARGE)],
      jobs: [job({ id: 'a' })],
    });
    const ctx = planContext(input);
    const poolId = 'n.c5.2xlarge.od';
    const pool = ctx.fleet.pools.get(poolId);
    if (pool?.kind !== 'new') throw new Error(`no launch pool ${poolId}`);
    // Each task fills a whole instance, so each one placed on its own opens the next serial.
    const whole = { vcpu: pool.capacity.vcpu, memoryMiB: 1024, gpus: 0 };
    const grant = (jobId: string) => ({
      jobId,
      leaf: nCk([poolId], 1, pool.bootSlots, 1, 1, whole, { jobId, alternative: 0 }),
      leafIndex: 0,
      units: 1,
    });
    const opts = { allowMove: true, allowExtra: true };
    const packer = new Packer(ctx.fleet);
    for (const id of ['a', 'gap', 'b']) expect(packer.place(grant(id), opts)).toBeDefined();
    packer.remove('gap'); // an empty instance between two used ones
    const last = packer.fresh.get(poolId)?.[2];
    if (!last) throw new Error('expected three instances');
    const evicted = packer.evict(last);
    const moved = packer.place(grant('b'), { ...opts, fullOpen: true });
    packer.unplace(moved?.tasks ?? []);
    packer.restore(evicted);
    expect(packer.place(grant('c'), opts)).toBeDefined();
    const tasks = [...packer.placed.values()].flat();
    const serials = tasks.map((t) => (t.host.kind === 'new' ? t.host.serial : -1));
    expect(new Set(serials).size).toBe(tasks.length);
    expect(() => verifyTasks(ctx.fleet, tasks, packer.capPattern())).not.toThrow();
  });
});
