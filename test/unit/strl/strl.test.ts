import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../lib/core/errors.ts';
import {
  BARRIER,
  evaluate,
  LnCk,
  leaves,
  MAX,
  MIN,
  nCk,
  printStrl,
  printStrlTree,
  SCALE,
  SUM,
  strlIssues,
  upperBound,
  validateStrl,
} from '../../../lib/core/strl/index.ts';

const cpu = { vcpu: 1, memoryMiB: 1024, gpus: 0 };
const gpu = { vcpu: 2, memoryMiB: 8192, gpus: 1 };

describe('STRL operators', () => {
  it('nCk is worth its value only when all k units are granted', () => {
    const e = nCk(['p'], 4, 0, 2, 10, gpu);
    expect(evaluate(e, [4])).toBe(10);
    expect(evaluate(e, [3])).toBe(0);
    expect(evaluate(e, [0])).toBe(0);
  });

  it('LnCk is worth v * m / k for m units', () => {
    const e = LnCk(['p'], 4, 0, 1, 8, cpu);
    expect(evaluate(e, [1])).toBe(2);
    expect(evaluate(e, [3])).toBe(6);
    expect(evaluate(e, [4])).toBe(8);
  });

  it('MAX takes the one satisfied child and nothing when two are satisfied', () => {
    const e = MAX(nCk(['a'], 1, 0, 1, 5, cpu), nCk(['b'], 1, 2, 1, 3, cpu));
    expect(evaluate(e, [0, 1])).toBe(3);
    expect(evaluate(e, [1, 0])).toBe(5);
    expect(evaluate(e, [1, 1])).toBe(0);
  });

  it('MIN is worth its smallest child, and only when every child is satisfied', () => {
    const e = MIN(nCk(['a'], 1, 0, 1, 5, cpu), nCk(['b'], 2, 0, 1, 3, cpu));
    expect(evaluate(e, [1, 2])).toBe(3);
    expect(evaluate(e, [1, 0])).toBe(0);
  });

  it('SUM adds the values of any subset of children', () => {
    const e = SUM(nCk(['a'], 1, 0, 1, 5, cpu), nCk(['b'], 1, 0, 1, 3, cpu));
    expect(evaluate(e, [1, 1])).toBe(8);
    expect(evaluate(e, [0, 1])).toBe(3);
  });

  it('BARRIER pays v only when the child reaches v', () => {
    const e = BARRIER(LnCk(['p'], 4, 0, 1, 8, cpu), 6);
    expect(evaluate(e, [3])).toBe(6);
    expect(evaluate(e, [2])).toBe(0);
  });

  it('SCALE multiplies the child value', () => {
    expect(evaluate(SCALE(nCk(['p'], 1, 0, 1, 5, cpu), 3), [1])).toBe(15);
  });

  it('bounds a tree by its best possible value', () => {
    const e = SUM(
      MAX(nCk(['a'], 1, 0, 1, 5, cpu), nCk(['a'], 1, 1, 1, 7, cpu)),
      SCALE(MIN(nCk(['b'], 1, 0, 1, 4, cpu), nCk(['c'], 1, 0, 1, 2, cpu)), 2),
    );
    expect(upperBound(e)).toBe(7 + 4);
    expect(leaves(e)).toHaveLength(4);
  });
});

describe('STRL printer', () => {
  it('prints a tree on one line and indented', () => {
    const e = MAX(nCk(['g5.xlarge'], 1, 0, 2, 10, gpu), SCALE(nCk(['c5', 'm5'], 2, 1, 8, 2.5, cpu), 2));
    expect(printStrl(e)).toBe(
      'MAX(nCk({g5.xlarge},k=1,s=0,d=2,v=10,2cpu+8192MiB+1gpu), SCALE(nCk({c5,m5},k=2,s=1,d=8,v=2.5,1cpu+1024MiB),s=2))',
    );
    expect(printStrlTree(e).split('\n')).toEqual([
      'MAX',
      '  nCk({g5.xlarge},k=1,s=0,d=2,v=10,2cpu+8192MiB+1gpu)',
      '  SCALE s=2',
      '    nCk({c5,m5},k=2,s=1,d=8,v=2.5,1cpu+1024MiB)',
    ]);
  });
});

describe('STRL validation', () => {
  it('accepts a well-formed tree', () => {
    expect(strlIssues(BARRIER(SUM(nCk(['a'], 1, 0, 1, 1, cpu), LnCk(['b'], 2, 3, 1, 2, gpu)), 1))).toEqual(
      [],
    );
  });

  it('fails when a leaf has a bad k, start, duration, value or partitions, naming each', () => {
    const bad = nCk(['a', 'a'], 0, -1, 0, -5, cpu);
    const issues = strlIssues(MAX(bad));
    const messages = issues.map((i) => `${i.path}: ${i.message}`);
    expect(messages).toEqual([
      'MAX[0].nCk: partitions must be distinct, got a,a',
      'MAX[0].nCk: k must be a whole number of at least 1, got 0',
      'MAX[0].nCk: start must be a slot index of at least 0, got -1',
      'MAX[0].nCk: duration must be a whole number of slots of at least 1, got 0',
      'MAX[0].nCk: value must be a finite number of at least 0, got -5',
    ]);
  });

  it('fails when an operator has no children or a scale is not positive', () => {
    expect(() => validateStrl(SUM())).toThrow(ValidationError);
    expect(() => validateStrl(SUM())).toThrow('SUM must have at least one child');
    expect(strlIssues(SCALE(nCk(['a'], 1, 0, 1, 1, cpu), 0))[0]?.message).toBe(
      'factor must be a finite number above 0, got 0',
    );
  });

  it('fails when a leaf asks for no resources or has no partition', () => {
    const issues = strlIssues(nCk([], 1, 0, 1, 1, { vcpu: 0, memoryMiB: 0, gpus: 0 })).map((i) => i.message);
    expect(issues).toContain('partitions must list at least one partition');
    expect(issues).toContain('demand must ask for some resource, got all zeros');
  });
});
