import { describe, expect, it } from 'vitest';
import { endpointsFromOutputs } from '../../../lib/aws/stack-outputs.ts';

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
