import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  AlternativeSchema,
  CommandTaskSchema,
  JobSpecSchema,
  ModelTaskSchema,
  RequirementSchema,
} from '../../lib/core/model/job.ts';
import { UtilitySchema } from '../../lib/core/model/utility.ts';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const section = readme.slice(readme.indexOf('## Job spec reference'));
const reference = section.slice(0, section.indexOf('\n## ', 5));

/** Every field the README's table names in backticks. */
const documented = new Set([...reference.matchAll(/`([a-zA-Z.[\]]+)`/g)].map((m) => m[1] as string));
const mentions = (field: string) => [...documented].some((d) => d === field || d.endsWith(`.${field}`));

describe('the job spec reference in README.md', () => {
  it.each([
    ['JobSpec', Object.keys(JobSpecSchema.shape)],
    ['requirement', Object.keys(RequirementSchema.shape)],
    ['alternative', Object.keys(AlternativeSchema.shape)],
    ['utility', Object.keys(UtilitySchema.shape)],
    ['command task', Object.keys(CommandTaskSchema.shape).filter((k) => k !== 'kind')],
    ['model task', Object.keys(ModelTaskSchema.shape).filter((k) => k !== 'kind')],
  ])('documents every field of the %s schema', (_what, fields) => {
    expect(fields.filter((f) => !mentions(f))).toEqual([]);
  });

  it('shows an example that the schema accepts', () => {
    const yaml = reference.slice(reference.indexOf('```yaml') + 7, reference.lastIndexOf('```'));
    const parsed = JobSpecSchema.safeParse(parse(yaml));
    expect(parsed.success ? [] : parsed.error.issues).toEqual([]);
  });
});
