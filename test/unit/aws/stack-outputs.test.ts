import { describe, expect, it } from 'vitest';
import { isStackName } from '../../../lib/aws/stack-name.ts';
import { discoverStack, endpointsFromOutputs } from '../../../lib/aws/stack-outputs.ts';
import { ValidationError } from '../../../lib/core/errors.ts';
import { unreachableAws } from '../../support/unreachable-aws.ts';

const complete = new Map([
  ['SubmissionsQueueUrl', 'http://q/submissions'],
  ['JobsTableName', 'jobs'],
  ['InstancesTableName', 'instances'],
  ['PlacementsTableName', 'placements'],
  ['ControlTableName', 'control'],
  ['CpuLaunchTemplateId', 'lt-cpu'],
  ['GpuLaunchTemplateId', 'lt-gpu'],
]);

describe('endpointsFromOutputs', () => {
  it('maps the stack outputs to queue urls, table names and launch templates', () => {
    const endpoints = endpointsFromOutputs('tf', complete);
    expect(endpoints.submissionsQueueUrl).toBe('http://q/submissions');
    expect(endpoints.tables).toEqual({
      jobs: 'jobs',
      instances: 'instances',
      placements: 'placements',
      control: 'control',
    });
    expect(endpoints.launchTemplates).toEqual({ cpu: 'lt-cpu', gpu: 'lt-gpu' });
  });

  it('fails when required outputs are missing, naming every one', () => {
    const partial = new Map(complete);
    partial.delete('JobsTableName');
    partial.delete('SubmissionsQueueUrl');
    expect(() => endpointsFromOutputs('tf', partial)).toThrow(
      'stack tf lacks the outputs SubmissionsQueueUrl, JobsTableName: is it a tetrafleet stack?',
    );
  });
});

describe('discoverStack', () => {
  const aws = unreachableAws;

  it.each([
    ['empty', ''],
    ['a name with an underscore', 'my_stack'],
    ['a name starting with a digit', '1stack'],
  ])('refuses a stack name that is %s before asking CloudFormation', async (_what, name) => {
    const error = await discoverStack(name, aws).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((i) => i.path)).toEqual(['stackName']);
  });

  it('takes names of up to 128 letters, digits and dashes, starting with a letter', () => {
    expect(isStackName('Tetrafleet-dev-2')).toBe(true);
    expect(isStackName(`a${'b'.repeat(127)}`)).toBe(true);
    expect(isStackName(`a${'b'.repeat(128)}`)).toBe(false);
  });
});
