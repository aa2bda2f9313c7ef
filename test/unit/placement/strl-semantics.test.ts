import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compile } from '../../../lib/core/placement/compile.ts';
import { decodeSolution } from '../../../lib/core/placement/decode.ts';
import { planContext } from '../../../lib/core/placement/plan.ts';
import { createPolicyRegistry } from '../../../lib/core/policies/registry.ts';
import {
  type ChooseExpr,
  evaluate,
  LnCk,
  leaves,
  MAX,
  MIN,
  nCk,
  type StrlExpr,
  SUM,
} from '../../../lib/core/strl/expr.ts';
import { HighsSolver } from '../../../lib/solver/highs-solver.ts';
import { C5_2XLARGE, existing, job, placementInput } from '../../support/builders.ts';

const highs = new HighsSolver();
const POOL = 'e.c5.2xlarge.od';
const unit = { vcpu: 1, memoryMiB: 1024, gpus: 0 };

/** One instance with `vcpu` free in each of 2 slots, and one job whose request is `expr`. */
function context(expr: StrlExpr, vcpu: number) {
  const free = [0, 1].map(() => ({ vcpu, memoryMiB: 16_384, gpus: 0 }));
  const input = placementInput({
    slots: 2,
    instances: [existing(2, { id: 'a', type: C5_2XLARGE, free })],
    jobs: [job({ id: 'x' })],
  });
  const policy = { name: 'deadline', toStrl: () => ({ ok: true as const, expr }) };
  return planContext(input, { policies: createPolicyRegistry([policy]) });
}

/** The best value of `expr` over every grant that fits `vcpu` units per slot, by enumeration. */
function bruteForce(expr: StrlExpr, vcpu: number): number {
  const ls = leaves(expr);
  const granted = new Array<number>(ls.length).fill(0);
  let best = 0;
  const walk = (i: number) => {
    if (i === ls.length) {
      for (const t of [0, 1]) {
        const used = ls.reduce(
          (s, l, j) => s + (l.start <= t && t < l.start + l.duration ? granted[j]! : 0),
          0,
        );
        if (used > vcpu) return;
      }
      best = Math.max(best, evaluate(expr, granted));
      return;
    }
    for (let g = 0; g <= ls[i]!.k; g++) {
      granted[i] = g;
      walk(i + 1);
    }
    granted[i] = 0;
  };
  walk(0);
  return best;
}

async function milp(expr: StrlExpr, vcpu: number) {
  const ctx = context(expr, vcpu);
  const c = compile(ctx.fleet, ctx.prepared.groups, ctx.input.now);
  const sol = await highs.solve(c.model, { timeLimitMs: 10_000, relGap: 0 });
  expect(sol.status).toBe('optimal');
  return { objective: sol.objective, decoded: decodeSolution(ctx, c, sol.values).utility };
}

const leafArb: fc.Arbitrary<ChooseExpr> = fc
  .record({
    partial: fc.boolean(),
    k: fc.integer({ min: 1, max: 3 }),
    start: fc.integer({ min: 0, max: 1 }),
    value: fc.integer({ min: 1, max: 9 }),
  })
  .map(({ partial, k, start, value }) => (partial ? LnCk : nCk)([POOL], k, start, 1, value, unit));

const treeArb: fc.Arbitrary<StrlExpr> = fc
  .letrec<{ tree: StrlExpr }>((tie) => ({
    tree: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leafArb,
      fc
        .tuple(fc.constantFrom(MIN, MAX, SUM), fc.array(tie('tree'), { minLength: 2, maxLength: 3 }))
        .map(([op, kids]) => op(...kids)),
    ),
  }))
  .tree.filter((e) => leaves(e).length <= 5);

describe('compiled STRL against its semantics', () => {
  it.each([
    [
      'MIN over a partly granted LnCk',
      MIN(LnCk([POOL], 3, 0, 1, 9, unit), nCk([POOL], 1, 1, 1, 9, unit)),
      2,
      6,
    ],
    [
      'MIN over a SUM that needs only one child',
      MIN(SUM(nCk([POOL], 2, 0, 1, 5, unit), nCk([POOL], 2, 0, 1, 6, unit)), nCk([POOL], 1, 1, 1, 9, unit)),
      2,
      6,
    ],
  ] as const)('%s earns what evaluate says', async (_, expr, vcpu, value) => {
    expect(bruteForce(expr, vcpu)).toBe(value);
    const got = await milp(expr, vcpu);
    expect(got.objective).toBeCloseTo(value, 6);
    expect(got.decoded).toBeCloseTo(value, 6);
  });

  it('solves small trees to the best value enumeration finds', async () => {
    await fc.assert(
      fc.asyncProperty(treeArb, fc.integer({ min: 1, max: 4 }), async (expr, vcpu) => {
        const best = bruteForce(expr, vcpu);
        const got = await milp(expr, vcpu);
        expect(got.objective).toBeCloseTo(best, 6);
        expect(got.decoded).toBeCloseTo(best, 6);
      }),
      { seed: 20_260_101, numRuns: 60 },
    );
  });
});
