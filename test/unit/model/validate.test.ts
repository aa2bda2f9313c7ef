import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { TetrafleetError, ValidationError } from '../../../lib/core/errors.ts';
import { JobSpecSchema } from '../../../lib/core/model/job.ts';
import { PipelineSpecSchema } from '../../../lib/core/model/pipeline.ts';
import {
  parseInputOrThrow,
  parseOrThrow,
  parseResult,
  toFieldIssues,
  unknownFields,
} from '../../../lib/core/model/validate.ts';
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

/** Each unknown field as `path => message`, for compact assertions. */
function strays(schema: z.ZodType, input: unknown): string[] {
  return unknownFields(schema, input).map((f) => `${f.path.join('.')} => ${f.message}`);
}

describe('unknownFields', () => {
  it('finds nothing in a valid job spec or pipeline spec, defaults and free-form records included', () => {
    expect(strays(JobSpecSchema, jobSpec({ labels: { team: 'vision', anyKey: 'x' } }))).toEqual([]);
    const task = { kind: 'command', command: 'run', env: { ANY_NAME: '1' } };
    expect(strays(JobSpecSchema, { ...jobSpec(), task })).toEqual([]);
    const pipeline = {
      name: 'vision',
      sloP99Ms: 150,
      stages: [{ id: 'a', model: { uri: '/m/a.onnx', inputName: 'x' } }],
      sampleTrace: { kind: 'gamma', ratePerSecond: 10, cv: 1, durationSeconds: 60 },
    };
    expect(strays(PipelineSpecSchema, pipeline)).toEqual([]);
  });

  it('lists the first 50 unknown fields with suggestions and counts the rest in one more', () => {
    const made = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`field${i}`, i]));
    const many = strays(JobSpecSchema, { ...jobSpec(), ...made(5000) });
    expect(many).toHaveLength(51);
    expect(many[0]).toMatch(/^field0 => unknown field; /);
    expect(many[50]).toBe('field50 => unknown field, and 4949 more after it not listed');
    // One past the limit is listed like the rest: a count of none would say nothing.
    const edge = strays(JobSpecSchema, { ...jobSpec(), ...made(51) });
    expect(edge).toHaveLength(51);
    expect(edge[50]).toMatch(/^field50 => unknown field; /);
  });

  it('names a misspelt field at any depth with the field that was meant', () => {
    // Spread, not jobSpec({...}): the builder's types would refuse the misspelt fields.
    const input = {
      ...jobSpec(),
      alternatives: [
        { ...alternative(), requirement: { vcpu: 1, memoryMiB: 512, gpu: 1 } },
        { ...alternative(), duration: 60 },
      ],
    };
    expect(strays(JobSpecSchema, input)).toEqual([
      'alternatives.0.requirement.gpu => unknown field; did you mean gpus?',
      'alternatives.1.duration => unknown field; did you mean durationSeconds?',
    ]);
  });

  it('matches case, prefixes and abbreviations, and a field one level down', () => {
    const input = {
      ...jobSpec(),
      Priority: 2,
      deadline: 600,
      alternatives: [{ ...alternative(), spot: true, requirement: { ...requirement(), memory: 4096 } }],
    };
    expect(strays(JobSpecSchema, input)).toEqual([
      // In the input's key order: jobSpec() has alternatives before the two added fields.
      'alternatives.0.requirement.memory => unknown field; did you mean memoryMiB?',
      'alternatives.0.spot => unknown field; did you mean requirement.spot?',
      'Priority => unknown field; did you mean priority?',
      'deadline => unknown field; did you mean utility.deadlineSeconds?',
    ]);
    expect(strays(PipelineSpecSchema, { name: 'p', sloMs: 100, stages: [] })).toEqual([
      'sloMs => unknown field; did you mean sloP99Ms?',
    ]);
  });

  it('lists the fields an object has when no name is close', () => {
    expect(strays(z.object({ alpha: z.number(), beta: z.string() }), { alpha: 1, zzz: 2 })).toEqual([
      'zzz => unknown field; the fields here are alpha, beta',
    ]);
  });

  it('reads a discriminated union through the variant the input names', () => {
    // halfLifeSeconds belongs to the exponential decay, not to the linear one the input chose.
    const input = {
      ...jobSpec(),
      utility: {
        deadlineSeconds: 60,
        value: 1,
        decay: { shape: 'linear', overSeconds: 5, halfLifeSeconds: 2 },
      },
    };
    expect(strays(JobSpecSchema, input)).toEqual([
      'utility.decay.halfLifeSeconds => unknown field; the fields here are shape, overSeconds',
    ]);
    expect(
      strays(JobSpecSchema, { ...jobSpec(), task: { kind: 'command', command: 'x', modelId: 'm' } }),
    ).toEqual([
      'task.modelId => unknown field; the fields here are kind, command, args, env, timeoutSeconds',
    ]);
  });

  it('walks a plain union through the option that accepts the input', () => {
    const schema = z.union([
      z.object({ count: z.number() }),
      z.object({ label: z.string(), colour: z.string().optional() }),
    ]);
    expect(strays(schema, { label: 'x', color: 'red' })).toEqual([
      'color => unknown field; did you mean colour?',
    ]);
    expect(strays(schema, 'neither')).toEqual([]);
  });

  it('ignores a field set to undefined and leaves loose and strict objects to zod', () => {
    expect(strays(JobSpecSchema, { ...jobSpec(), extra: undefined })).toEqual([]);
    expect(strays(z.looseObject({ a: z.number() }), { a: 1, b: 2 })).toEqual([]);
    expect(strays(z.strictObject({ a: z.number() }), { a: 1, b: 2 })).toEqual([]);
    expect(
      strays(z.object({ inner: z.strictObject({ a: z.object({}) }) }), { inner: { a: { x: 1 } } }),
    ).toEqual(['inner.a.x => unknown field']);
  });

  it('finds unknown fields in input that is otherwise invalid, and in none of wrong-typed values', () => {
    expect(strays(JobSpecSchema, { nmae: 'x' })).toEqual(['nmae => unknown field; did you mean name?']);
    expect(strays(JobSpecSchema, 'not a spec')).toEqual([]);
    expect(strays(JobSpecSchema, { ...jobSpec(), alternatives: 'many' })).toEqual([]);
  });
});

describe('parseInputOrThrow', () => {
  it('returns the parsed value when every field is known and valid', () => {
    expect(parseInputOrThrow(JobSpecSchema, jobSpec(), 'job spec').gang).toBe(1);
  });

  it('refuses an otherwise valid input that has an unknown field, naming it', () => {
    const input = { ...jobSpec(), gnag: 2 };
    expect(parseOrThrow(JobSpecSchema, input, 'job spec').gang).toBe(1);
    const error = thrown(() => parseInputOrThrow(JobSpecSchema, input, 'job spec')) as ValidationError;
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.issues).toEqual([{ path: 'gnag', message: 'unknown field; did you mean gang?' }]);
  });

  it('reports bad values and unknown fields together', () => {
    const input = { ...jobSpec({ gang: 0 }), gnag: 2 };
    const error = thrown(() => parseInputOrThrow(JobSpecSchema, input, 'job spec')) as ValidationError;
    expect(error.issues.map((i) => i.path)).toEqual(['gang', 'gnag']);
  });
});

describe('keys named __proto__', () => {
  /** JSON with a `__proto__` key, parsed as a submission body is: the key is an own property. */
  const fromJson = (text: string): unknown => JSON.parse(text);
  const spec = (env: string, labels: string) =>
    fromJson(
      JSON.stringify({
        ...jobSpec(),
        task: { kind: 'command', command: 'x', env: { E: '1' } },
        labels: { L: '1' },
      })
        .replace('"E":"1"', env)
        .replace('"L":"1"', labels),
    );

  it('are refused in env and labels, where the parsed spec would silently lack them', () => {
    const input = spec('"__proto__":"1","PATH":"/bin"', '"__proto__":"x","team":"vision"');
    // What a plain parse does with them: the entries vanish.
    const parsed = parseOrThrow(JobSpecSchema, input, 'job spec');
    expect(parsed.task.kind === 'command' && Object.keys(parsed.task.env)).toEqual(['PATH']);
    const error = thrown(() => parseInputOrThrow(JobSpecSchema, input, 'job spec')) as ValidationError;
    expect(error.issues).toEqual([
      { path: 'task.env.__proto__', message: '__proto__ cannot be used as a key: it would be dropped' },
      { path: 'labels.__proto__', message: '__proto__ cannot be used as a key: it would be dropped' },
    ]);
  });

  it('are refused as a field of an object too', () => {
    const input = fromJson(JSON.stringify(jobSpec()).replace('{', '{"__proto__":{"gang":2},'));
    expect(strays(JobSpecSchema, input)).toEqual([
      '__proto__ => __proto__ cannot be used as a key: it would be dropped',
    ]);
  });

  it('leave keys that merely look alike alone', () => {
    const input = spec('"proto":"1"', '"constructor":"x","__proto":"y"');
    expect(parseInputOrThrow(JobSpecSchema, input, 'job spec').labels).toEqual({
      constructor: 'x',
      __proto: 'y',
    });
  });
});
