import { describe, expect, it } from 'vitest';
import type { MilpModel, MilpRow, MilpVar } from '../../../lib/core/placement/milp.ts';
import { HighsSolver } from '../../../lib/solver/highs-solver.ts';
import { maxViolation } from '../../../lib/solver/model-arrays.ts';

const INF = Number.POSITIVE_INFINITY;
const v = (
  name: string,
  obj: number,
  kind: MilpVar['kind'] = 'binary',
  lb = 0,
  ub = kind === 'binary' ? 1 : INF,
): MilpVar => ({
  name,
  kind,
  lb,
  ub,
  obj,
});
const row = (name: string, terms: [number, number][], lb: number, ub: number): MilpRow => ({
  name,
  terms,
  lb,
  ub,
});
const opts = { timeLimitMs: 30_000, relGap: 0 };

/** max 10a + 13b + 7c + 8d  s.t. 3a + 4b + 2c + 3d <= 7; the optimum is b + d (21)... or a + b (23)? a+b weighs 7: 23. */
function knapsack(): MilpModel {
  return {
    sense: 'maximize',
    vars: [v('item[a]', 10), v('item[b]', 13), v('item[c]', 7), v('item[d]', 8)],
    rows: [
      row(
        'weight cap',
        [
          [0, 3],
          [1, 4],
          [2, 2],
          [3, 3],
        ],
        -INF,
        7,
      ),
    ],
  };
}

/** 3 workers x 3 tasks; each worker does one task and each task is done once; maximise value. */
function assignment(): MilpModel {
  const value = [
    [9, 2, 7],
    [6, 4, 3],
    [5, 8, 1],
  ];
  const vars: MilpVar[] = [];
  for (let w = 0; w < 3; w++) for (let t = 0; t < 3; t++) vars.push(v(`x[${w},${t}]`, value[w]?.[t] ?? 0));
  const rows: MilpRow[] = [];
  for (let w = 0; w < 3; w++)
    rows.push(
      row(
        `worker ${w}`,
        [0, 1, 2].map((t) => [w * 3 + t, 1]),
        1,
        1,
      ),
    );
  for (let t = 0; t < 3; t++)
    rows.push(
      row(
        `task ${t}`,
        [0, 1, 2].map((w) => [w * 3 + t, 1]),
        1,
        1,
      ),
    );
  return { sense: 'maximize', vars, rows };
}

describe.each(['arrays', 'lp'] as const)('HighsSolver (%s input)', (input) => {
  const solver = new HighsSolver({ input });

  it('solves a 0-1 knapsack to its known optimum', async () => {
    const model = knapsack();
    const s = await solver.solve(model, opts);
    expect(s.status).toBe('optimal');
    expect(s.objective).toBeCloseTo(23, 6);
    expect(Array.from(s.values)).toEqual([1, 1, 0, 0]);
    expect(s.gap).toBe(0);
    expect(maxViolation(model, s.values)).toBeLessThan(1e-9);
  });

  it('solves an assignment problem to its known optimum', async () => {
    const s = await solver.solve(assignment(), opts);
    expect(s.status).toBe('optimal');
    // w0->t2 (7) + w1->t0 (6) + w2->t1 (8) = 21 beats w0->t0 (9) + w1->t2 (3)... + w2->t1 (8) = 20.
    expect(s.objective).toBeCloseTo(21, 6);
    expect(Array.from(s.values)).toEqual([0, 0, 1, 1, 0, 0, 0, 1, 0]);
  });

  it('returns the LP relaxation bound when integrality is relaxed', async () => {
    const s = await solver.solve(knapsack(), { ...opts, relaxIntegrality: true });
    expect(s.status).toBe('optimal');
    // Greedy by ratio: c (3.5), b (3.25), a (3.33): c + a + 2/4 of b = 7 + 10 + 6.5 = 23.5.
    expect(s.objective).toBeCloseTo(23.5, 6);
    expect(s.values.some((x) => x > 1e-6 && x < 1 - 1e-6)).toBe(true);
  });

  it('reports an infeasible model as a status', async () => {
    const model: MilpModel = {
      sense: 'maximize',
      vars: [v('x', 1, 'integer', 0, 10), v('y', 1, 'integer', 0, 10)],
      rows: [
        row(
          'sum high',
          [
            [0, 1],
            [1, 1],
          ],
          5,
          INF,
        ),
        row(
          'sum low',
          [
            [0, 1],
            [1, 1],
          ],
          -INF,
          3,
        ),
      ],
    };
    const s = await solver.solve(model, opts);
    expect(s.status).toBe('infeasible');
    expect(s.values.length).toBe(0);
  });

  it('adds the objective offset and honours ranged rows and general integers', async () => {
    const model: MilpModel = {
      sense: 'maximize',
      objOffset: 100,
      vars: [v('n-a', 3, 'integer', 0, 10), v('n.b', 2, 'continuous', 0, 2.5)],
      rows: [
        row(
          'range',
          [
            [0, 2],
            [1, 1],
          ],
          1,
          9.2,
        ),
      ],
    };
    const s = await solver.solve(model, opts);
    expect(s.status).toBe('optimal');
    // 2a + b <= 9.2 with b <= 2.5: a = 3, b = 2.5 gives 9 + 5 = 14 (a = 4 leaves b = 1.2: 12 + 2.4 = 14.4).
    expect(s.objective).toBeCloseTo(114.4, 6);
    expect(s.values[0]).toBe(4);
  });
});

describe('HighsSolver', () => {
  it('reports an unbounded LP as a status', async () => {
    const model: MilpModel = { sense: 'maximize', vars: [v('x', 1, 'continuous', 0, INF)], rows: [] };
    const s = await new HighsSolver().solve(model, { ...opts, relaxIntegrality: true });
    expect(s.status).toBe('unbounded');
  });

  it('starts from a feasible warm start given by variable name', async () => {
    const warmStart = new Map([
      ['item[a]', 1],
      ['item[b]', 1],
    ]);
    const s = await new HighsSolver().solve(knapsack(), { ...opts, warmStart });
    expect(s.status).toBe('optimal');
    expect(s.objective).toBeCloseTo(23, 6);
  });

  it('returns no solution, without throwing, when the budget is spent before the solve starts', async () => {
    const s = await new HighsSolver().solve(knapsack(), { timeLimitMs: 0, relGap: 0 });
    expect(s.status).toBe('no-solution');
    expect(s.message).toContain('time limit');
  });

  it('reuses the previous LP basis when the next LP shares its names', async () => {
    const solver = new HighsSolver();
    const model = assignment();
    const first = await solver.solve(model, { ...opts, relaxIntegrality: true });
    expect(solver.lastStats?.basisReused).toBe(false);
    // The next cycle: same names, one value changed.
    const next: MilpModel = { ...model, vars: model.vars.map((x, i) => (i === 4 ? { ...x, obj: 5 } : x)) };
    const second = await solver.solve(next, { ...opts, relaxIntegrality: true });
    expect(solver.lastStats?.basisReused).toBe(true);
    expect(first.objective).toBeCloseTo(21, 6);
    expect(second.objective).toBeCloseTo(21, 6);
  });

  it('folds fixed variables into the row bounds and the objective, and returns their values', async () => {
    const model: MilpModel = {
      sense: 'maximize',
      vars: [v('fixed', 1, 'integer', 2, 2), v('y', 1, 'integer', 0, 10), v('off', 7, 'binary', 0, 0)],
      rows: [
        row(
          'sum',
          [
            [0, 1],
            [1, 1],
            [2, 1],
          ],
          -INF,
          5,
        ),
      ],
    };
    const s = await new HighsSolver().solve(model, opts);
    expect(s.status).toBe('optimal');
    expect(Array.from(s.values)).toEqual([2, 3, 0]);
    expect(s.objective).toBeCloseTo(5, 6);
  });

  it('returns the values of a model whose variables are all fixed, and zero duals for its LP', async () => {
    const model: MilpModel = {
      sense: 'maximize',
      vars: [v('x', 3, 'integer', 2, 2), v('y', 1, 'continuous', 0, 0)],
      rows: [
        row(
          'r',
          [
            [0, 1],
            [1, 1],
          ],
          -INF,
          5,
        ),
      ],
    };
    const s = await new HighsSolver().solve(model, opts);
    expect(s.status).toBe('optimal');
    expect(Array.from(s.values)).toEqual([2, 0]);
    expect(s.objective).toBeCloseTo(6, 6);
    const lp = await new HighsSolver().solve(model, { ...opts, relaxIntegrality: true });
    expect(Array.from(lp.values)).toEqual([2, 0]);
    expect(Array.from(lp.rowDuals ?? [])).toEqual([0]);
  });

  it('reports a row that its fixed variables already break as infeasible', async () => {
    const model: MilpModel = {
      sense: 'maximize',
      vars: [v('fixed', 1, 'integer', 2, 2), v('y', 1, 'integer', 0, 10)],
      rows: [row('only fixed', [[0, 1]], -INF, 1), row('y', [[1, 1]], -INF, 4)],
    };
    const s = await new HighsSolver().solve(model, opts);
    expect(s.status).toBe('infeasible');
    expect(s.message).toContain('only fixed');
  });

  it('merges repeated variables within a row', async () => {
    const model: MilpModel = {
      sense: 'maximize',
      vars: [v('x', 1, 'continuous', 0, 10)],
      rows: [
        row(
          'twice',
          [
            [0, 1],
            [0, 1],
          ],
          -INF,
          4,
        ),
      ],
    };
    const s = await new HighsSolver().solve(model, opts);
    expect(s.objective).toBeCloseTo(2, 6);
  });

  it('fails when the model refers to a variable that does not exist', async () => {
    const model: MilpModel = { sense: 'maximize', vars: [v('x', 1)], rows: [row('bad', [[3, 1]], -INF, 1)] };
    const s = await new HighsSolver().solve(model, opts);
    expect(s.status).toBe('error');
    expect(s.message).toContain('rows.0.terms.0: variable index must be between 0 and 0, got 3');
  });

  it('fails when constructed with an unknown input mode', () => {
    expect(() => new HighsSolver({ input: 'mps' as 'lp' })).toThrow(/input must be "arrays" or "lp"/);
  });
});
