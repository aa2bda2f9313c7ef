import { describe, expect, it } from 'vitest';
import {
  DecaySchema,
  hardDeadlineSeconds,
  type Utility,
  UtilitySchema,
  utilityAt,
} from '../../../lib/core/model/utility.ts';
import { issuesOf, message, utility } from './builders.ts';

const parse = (o: Parameters<typeof utility>[0] = {}): Utility => UtilitySchema.parse(utility(o));

describe('UtilitySchema', () => {
  it('defaults the decay to a step', () => {
    expect(parse().decay).toEqual({ shape: 'step' });
  });

  const rejections: [string, unknown, string, string | RegExp][] = [
    [
      'the deadline is zero',
      utility({ deadlineSeconds: 0 }),
      'deadlineSeconds',
      'deadlineSeconds must be a positive number of seconds after submission',
    ],
    [
      'the deadline is a billionth of a second',
      utility({ deadlineSeconds: 1e-9 }),
      'deadlineSeconds',
      'deadlineSeconds must be at least 1 second after submission',
    ],
    [
      'the deadline is past any horizon and too large to store',
      utility({ deadlineSeconds: 1e16 }),
      'deadlineSeconds',
      'deadlineSeconds must be at most 2,592,000 seconds (30 days) after submission',
    ],
    [
      'the hard deadline is past the horizon',
      utility({ deadlineSeconds: 600, hardDeadlineSeconds: 1e300 }),
      'hardDeadlineSeconds',
      'hardDeadlineSeconds must be at most 2,592,000 seconds (30 days) after submission',
    ],
    [
      'a linear decay window is past the horizon',
      utility({ decay: { shape: 'linear', overSeconds: 31 * 24 * 3600 } }),
      'decay.overSeconds',
      'overSeconds must be at most 2,592,000 seconds (30 days)',
    ],
    [
      'a half-life is a billionth of a second',
      utility({ decay: { shape: 'exponential', halfLifeSeconds: 1e-9 } }),
      'decay.halfLifeSeconds',
      'halfLifeSeconds must be at least 1 second',
    ],
    ['the value is zero', utility({ value: 0 }), 'value', 'value must be a positive number'],
    ['the value is vanishingly small', utility({ value: 1e-300 }), 'value', 'value must be at least 0.001'],
    ['the value is above a million', utility({ value: 1e6 + 1 }), 'value', 'value must be at most 1,000,000'],
    [
      'the hard deadline comes before the deadline',
      utility({ deadlineSeconds: 600, hardDeadlineSeconds: 300 }),
      'hardDeadlineSeconds',
      'hardDeadlineSeconds must be at least deadlineSeconds (600), got 300',
    ],
    [
      'the decay shape is unknown',
      utility({ decay: { shape: 'cubic' } as never }),
      'decay.shape',
      /'step' \| 'linear' \| 'exponential'/,
    ],
    [
      'a linear decay has no overSeconds',
      utility({ decay: { shape: 'linear' } as never }),
      'decay.overSeconds',
      /expected number, received undefined/,
    ],
    [
      'a linear decay has a zero window',
      utility({ decay: { shape: 'linear', overSeconds: 0 } }),
      'decay.overSeconds',
      'overSeconds must be a positive number of seconds',
    ],
    [
      'an exponential decay has a negative half-life',
      utility({ decay: { shape: 'exponential', halfLifeSeconds: -5 } }),
      'decay.halfLifeSeconds',
      'halfLifeSeconds must be a positive number of seconds',
    ],
  ];

  it.each(rejections)('fails when %s', (_what, input, path, expected) => {
    expect(issuesOf(UtilitySchema, input)).toEqual([{ path, message: message(expected) }]);
  });

  it('fails when the hard deadline is negative, saying both what is allowed and why', () => {
    expect(issuesOf(UtilitySchema, utility({ deadlineSeconds: 600, hardDeadlineSeconds: -1 }))).toEqual([
      {
        path: 'hardDeadlineSeconds',
        message: 'hardDeadlineSeconds must be a positive number of seconds after submission',
      },
      {
        path: 'hardDeadlineSeconds',
        message: 'hardDeadlineSeconds must be at least deadlineSeconds (600), got -1',
      },
    ]);
  });

  it('fails when a decay is given without a shape', () => {
    expect(issuesOf(DecaySchema, { overSeconds: 60 }).map((i) => i.path)).toEqual(['shape']);
  });
});

describe('hardDeadlineSeconds', () => {
  it('is the deadline itself for a step', () => {
    expect(hardDeadlineSeconds(parse({ deadlineSeconds: 600 }))).toBe(600);
  });

  it('is the end of the window for a linear decay', () => {
    expect(
      hardDeadlineSeconds(parse({ deadlineSeconds: 600, decay: { shape: 'linear', overSeconds: 300 } })),
    ).toBe(900);
  });

  it('is ten half-lives past the deadline for an exponential decay', () => {
    const u = parse({ deadlineSeconds: 600, decay: { shape: 'exponential', halfLifeSeconds: 60 } });
    expect(hardDeadlineSeconds(u)).toBe(1200);
  });

  it('uses an explicit hard deadline over the shape default', () => {
    const u = parse({
      deadlineSeconds: 600,
      hardDeadlineSeconds: 700,
      decay: { shape: 'linear', overSeconds: 300 },
    });
    expect(hardDeadlineSeconds(u)).toBe(700);
  });
});

describe('utilityAt', () => {
  // [shape, utility, completion seconds, expected value]
  const cases: [string, Utility, number, number][] = [
    ['step', parse({ deadlineSeconds: 600, value: 10 }), 0, 10],
    ['step', parse({ deadlineSeconds: 600, value: 10 }), 600, 10],
    ['step', parse({ deadlineSeconds: 600, value: 10 }), 600.001, 0],
    ['step', parse({ deadlineSeconds: 600, value: 10 }), 10_000, 0],
    [
      'linear',
      parse({ deadlineSeconds: 600, value: 10, decay: { shape: 'linear', overSeconds: 400 } }),
      600,
      10,
    ],
    [
      'linear',
      parse({ deadlineSeconds: 600, value: 10, decay: { shape: 'linear', overSeconds: 400 } }),
      700,
      7.5,
    ],
    [
      'linear',
      parse({ deadlineSeconds: 600, value: 10, decay: { shape: 'linear', overSeconds: 400 } }),
      800,
      5,
    ],
    [
      'linear',
      parse({ deadlineSeconds: 600, value: 10, decay: { shape: 'linear', overSeconds: 400 } }),
      1000,
      0,
    ],
    [
      'linear',
      parse({ deadlineSeconds: 600, value: 10, decay: { shape: 'linear', overSeconds: 400 } }),
      5000,
      0,
    ],
    [
      'exponential',
      parse({ deadlineSeconds: 600, value: 8, decay: { shape: 'exponential', halfLifeSeconds: 100 } }),
      700,
      4,
    ],
    [
      'exponential',
      parse({ deadlineSeconds: 600, value: 8, decay: { shape: 'exponential', halfLifeSeconds: 100 } }),
      900,
      1,
    ],
    [
      'exponential',
      parse({ deadlineSeconds: 600, value: 8, decay: { shape: 'exponential', halfLifeSeconds: 100 } }),
      1601,
      0,
    ],
  ];

  it.each(cases)('earns the right value for a %s decay (completion %#)', (_shape, u, at, expected) => {
    expect(utilityAt(u, at)).toBeCloseTo(expected, 9);
  });

  it('earns nothing past an explicit hard deadline even while a linear decay would still pay', () => {
    const u = parse({
      deadlineSeconds: 600,
      value: 10,
      hardDeadlineSeconds: 650,
      decay: { shape: 'linear', overSeconds: 400 },
    });
    expect(utilityAt(u, 640)).toBeCloseTo(9, 9);
    expect(utilityAt(u, 651)).toBe(0);
  });

  it('never rises as completion gets later, for every shape', () => {
    const shapes = [
      parse({ deadlineSeconds: 100 }),
      parse({ deadlineSeconds: 100, decay: { shape: 'linear', overSeconds: 50 } }),
      parse({ deadlineSeconds: 100, decay: { shape: 'exponential', halfLifeSeconds: 20 } }),
    ];
    for (const u of shapes) {
      const values = Array.from({ length: 400 }, (_, t) => utilityAt(u, t));
      values.forEach((v, i) => {
        if (i > 0) expect(v).toBeLessThanOrEqual(values[i - 1] as number);
      });
    }
  });
});
