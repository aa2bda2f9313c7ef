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
import {
  EdgeSchema,
  PipelineSpecSchema,
  SampleTraceSchema,
  StageSchema,
} from '../../lib/core/model/pipeline.ts';
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

const pipelines = readme.slice(readme.indexOf('## Inference pipelines'));
const pipelineReference = pipelines.slice(0, pipelines.indexOf('\n## ', 5));
const pipelineDocumented = new Set(
  [...pipelineReference.matchAll(/`([a-zA-Z0-9.[\]]+)`/g)].map((m) => m[1] as string),
);
const pipelineMentions = (field: string) =>
  [...pipelineDocumented].some((d) => d === field || d.endsWith(`.${field}`));

describe('the pipeline spec reference in README.md', () => {
  it.each([
    ['PipelineSpec', Object.keys(PipelineSpecSchema.shape)],
    ['stage', Object.keys(StageSchema.shape)],
    ['edge', Object.keys(EdgeSchema.shape)],
    ...SampleTraceSchema.options.map((o): [string, string[]] => [
      `${o.shape.kind.value} sample trace`,
      Object.keys(o.shape).filter((k) => k !== 'kind'),
    ]),
  ])('documents every field of the %s schema', (_what, fields) => {
    expect(fields.filter((f) => !pipelineMentions(f))).toEqual([]);
  });

  it('shows an example that the schema accepts', () => {
    const start = pipelineReference.indexOf('```yaml') + 7;
    const yaml = pipelineReference.slice(start, pipelineReference.indexOf('```', start));
    const parsed = PipelineSpecSchema.safeParse(parse(yaml));
    expect(parsed.success ? [] : parsed.error.issues).toEqual([]);
  });
});
