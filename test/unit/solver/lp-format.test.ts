import { describe, expect, it } from 'vitest';
import type { MilpModel } from '../../../lib/core/placement/milp.ts';
import { sanitizeLpName, toLpText } from '../../../lib/solver/lp-format.ts';

const INF = Number.POSITIVE_INFINITY;

describe('toLpText', () => {
  it('writes a maximisation with ranged rows split in two and integers in General', () => {
    const model: MilpModel = {
      sense: 'maximize',
      objOffset: -2.5,
      vars: [
        { name: 'n[g5.xlarge,3]', kind: 'integer', lb: 0, ub: 8, obj: -1.5 },
        { name: 'x 1', kind: 'binary', lb: 0, ub: 1, obj: 4 },
        { name: 'u', kind: 'continuous', lb: -INF, ub: INF, obj: 0 },
      ],
      rows: [
        {
          name: 'cap:gpu',
          terms: [
            [0, 1],
            [1, -2],
          ],
          lb: 1,
          ub: 6,
        },
        { name: 'eq', terms: [[2, 1]], lb: 3, ub: 3 },
        { name: 'free', terms: [[2, 1]], lb: -INF, ub: INF },
      ],
    };
    const { text, columnNames } = toLpText(model);
    expect(columnNames).toEqual(['v_n_g5.xlarge,3_', 'v_x_1', 'v_u']);
    expect(text).toContain('Maximize\n obj: - 1.5 v_n_g5.xlarge,3_ + 4 v_x_1 - 2.5\n');
    expect(text).toContain(' c_cap_gpu_lo: 1 v_n_g5.xlarge,3_ - 2 v_x_1 >= 1\n');
    expect(text).toContain(' c_cap_gpu_hi: 1 v_n_g5.xlarge,3_ - 2 v_x_1 <= 6\n');
    expect(text).toContain(' c_eq: 1 v_u = 3\n');
    expect(text).not.toContain('c_free');
    expect(text).toContain(' v_u free\n');
    expect(text).toContain('General\n v_n_g5.xlarge,3_ v_x_1\n');
  });

  it('leaves the integrality section out of an LP relaxation', () => {
    const model: MilpModel = {
      sense: 'maximize',
      vars: [{ name: 'b', kind: 'binary', lb: 0, ub: 1, obj: 1 }],
      rows: [],
    };
    expect(toLpText(model, { relaxIntegrality: true }).text).not.toContain('General');
  });

  it('keeps sanitised names unique', () => {
    const model: MilpModel = {
      sense: 'maximize',
      vars: [
        { name: 'a-b', kind: 'continuous', lb: 0, ub: 1, obj: 1 },
        { name: 'a_b', kind: 'continuous', lb: 0, ub: 1, obj: 1 },
      ],
      rows: [],
    };
    const { columnNames } = toLpText(model);
    expect(new Set(columnNames).size).toBe(2);
  });

  it('makes names that start with a digit or an exponent safe', () => {
    expect(sanitizeLpName('1e5', 'v_')).toBe('v_1e5');
    expect(sanitizeLpName('', 'c_')).toBe('c__');
  });
});
