import { describe, expect, it } from 'vitest';
import { generatePlacementWorkload } from '../../../bench/workloads/placement-workload.ts';
import { compile } from '../../../lib/core/placement/compile.ts';
import { planContext } from '../../../lib/core/placement/plan.ts';
import {
  bringIn,
  initialRestriction,
  leftOut,
  price,
  restrictedModel,
} from '../../../lib/core/placement/pricing.ts';
import { HighsSolver } from '../../../lib/solver/highs-solver.ts';

const highs = new HighsSolver({ reuseBasis: false });

async function lp(model: Parameters<HighsSolver['solve']>[0]) {
  const sol = await highs.solve(model, { timeLimitMs: 60_000, relGap: 0, relaxIntegrality: true });
  expect(sol.status).toBe('optimal');
  return sol;
}

describe('restricted LP with pricing', () => {
  const input = generatePlacementWorkload({ seed: 5, jobs: 60 });
  const ctx = planContext(input);
  const compiled = compile(ctx.fleet, ctx.prepared.groups, input.now);

  it('bounds the full LP from above in every round and reaches its value', async () => {
    const full = await lp(compiled.model);
    const r = initialRestriction(compiled, () => false);
    expect(leftOut(r)).toBeGreaterThan(0);
    let last = Number.NEGATIVE_INFINITY;
    for (let round = 0; round < 50 && leftOut(r) > 0; round++) {
      const sol = await lp(restrictedModel(compiled, r));
      const p = price(compiled, r, sol.objective, sol.rowDuals!);
      expect(sol.objective).toBeLessThanOrEqual(full.objective + 1e-6);
      expect(p.bound).toBeGreaterThanOrEqual(full.objective - 1e-6);
      last = sol.objective;
      if (p.add.every((a) => a.length === 0)) break;
      bringIn(r, p.add);
    }
    expect(last).toBeCloseTo(full.objective, 4);
  });

  it('prices nothing in when every leaf is already in the LP', async () => {
    const full = await lp(compiled.model);
    const none = { out: compiled.groups.map(() => new Set<number>()) };
    const p = price(compiled, none, full.objective, full.rowDuals!);
    expect(p.bound).toBe(full.objective);
    expect(p.add.flat()).toEqual([]);
  });

  it('keeps every leaf a warm start names, and leaves later starts out otherwise', () => {
    const lateStart = compiled.groups.flatMap((cg) => cg.leafRefs.filter((ref) => ref.leaf.start >= 2));
    const named = new Set(lateStart.map((ref) => ref.indicator));
    const r = initialRestriction(compiled, (i) => named.has(i));
    const out = compiled.groups.flatMap((cg, g) => [...r.out[g]!].map((i) => cg.leafRefs[i]!.indicator));
    expect(out.some((i) => named.has(i))).toBe(false);
    expect(leftOut(initialRestriction(compiled, () => false))).toBeGreaterThan(leftOut(r));
  });
});
