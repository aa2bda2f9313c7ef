import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { TetrafleetError, ValidationError } from '../../../lib/core/errors.ts';
import { JobSpecSchema } from '../../../lib/core/model/job.ts';
import { parseOrThrow, parseResult, toFieldIssues } from '../../../lib/core/model/validate.ts';
import { alternative, jobSpec, requirement } from './builders.ts';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('parseOrThrow', () => {
  it('returns the parsed value with defaults applied', () => {
    expect(parseOrThrow(JobSpecSchema, jobSpec(), 'job spec').gang).toBe(1);
  });

  it('fails with a ValidationError that names every bad field in one message', () => {
    const input = jobSpec({
      name: 'bad name',
      gang: 0,
      alternatives: [alternative({ requirement: requirement({ gpus: 9 }) })],
    });
    const error = thrown(() => parseOrThrow(JobSpecSchema, input, 'job spec'));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toBeInstanceOf(TetrafleetError);
    const v = error as ValidationError;
    expect(v.name).toBe('ValidationError');
    expect(v.retryable).toBe(false);
    expect(v.what).toBe('job spec');
    expect(v.issues.map((i) => i.path)).toEqual(['name', 'gang', 'alternatives.0.requirement.gpus']);
    expect(v.message).toMatch(/^invalid job spec: name: name must be 1-128 characters/);
    expect(v.message).toContain('; gang: Too small: expected number to be >=1');
    expect(v.message).toContain('; alternatives.0.requirement.gpus: gpus must be at most 8');
  });

  it('fails with the message alone when the whole input is wrong and there is no path', () => {
    const error = thrown(() => parseOrThrow(JobSpecSchema, 'not a spec', 'job spec')) as ValidationError;
    expect(error.issues).toEqual([{ path: '', message: 'Invalid input: expected object, received string' }]);
    expect(error.message).toBe('invalid job spec: Invalid input: expected object, received string');
  });
});

describe('parseResult', () => {
  it('returns ok with the value for good input', () => {
    expect(parseResult(z.number().int(), 3)).toEqual({ ok: true, value: 3 });
  });

  it('returns the field issues as data for bad input instead of throwing', () => {
    expect(
      parseResult(z.object({ a: z.object({ b: z.array(z.string()) }) }), { a: { b: ['x', 2] } }),
    ).toEqual({
      ok: false,
      issues: [{ path: 'a.b.1', message: 'Invalid input: expected string, received number' }],
    });
  });
});

describe('toFieldIssues', () => {
  it('joins nested paths with dots, array indices included', () => {
    const result = z
      .object({ xs: z.array(z.object({ n: z.number() })) })
      .safeParse({ xs: [{ n: 1 }, { n: 'a' }] });
    expect(result.success).toBe(false);
    if (!result.success) expect(toFieldIssues(result.error).map((i) => i.path)).toEqual(['xs.1.n']);
  });

  it('shows the key schema message and the bad key for a record key', () => {
    const schema = z.record(z.string().regex(/^[a-z]+$/, { error: 'keys must be lower case' }), z.number());
    const result = schema.safeParse({ Good: 1 });
    expect(result.success).toBe(false);
    if (!result.success)
      expect(toFieldIssues(result.error)).toEqual([
        { path: 'Good', message: 'keys must be lower case, got "Good"' },
      ]);
  });
});
