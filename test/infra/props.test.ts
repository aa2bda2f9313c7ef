import { App, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_INSTANCE_TYPES,
  isGpuInstanceType,
  resolveTetrafleetProps,
  TetrafleetPropsError,
} from '../../lib/infra/props.ts';
import { TetrafleetStack } from '../../lib/infra/tetrafleet-stack.ts';

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof TetrafleetPropsError) return error.problems;
    throw error;
  }
  throw new Error('expected a TetrafleetPropsError');
}

describe('TetrafleetStack props', () => {
  it('fills every default once and splits instance types into CPU and GPU fleets', () => {
    const p = resolveTetrafleetProps();
    expect(p.instanceTypes).toEqual(DEFAULT_INSTANCE_TYPES);
    expect(p.gpuInstanceTypes).toEqual(['g5.xlarge', 'g6.xlarge']);
    expect(p.cpuInstanceTypes).toEqual(['m7i.large', 'm7i.xlarge', 'c7i.2xlarge']);
    expect(p.maxFleetSize).toBe(20);
    expect(p.budgetPerHour).toBe(10);
    expect(p.localMode).toBe(false);
    expect(p.agentEntry).toBe('agent/main.ts');
    expect(Object.isFrozen(p)).toBe(true);
  });

  it('classifies NVIDIA GPU families as GPU types', () => {
    expect(['g5.xlarge', 'g6e.2xlarge', 'p4d.24xlarge', 'gr6.4xlarge'].every(isGpuInstanceType)).toBe(true);
    expect(['m7i.large', 'c7gn.xlarge', 'inf2.xlarge', 't3.micro'].some(isGpuInstanceType)).toBe(false);
  });

  it('fails when maxFleetSize is out of range, with the allowed range and the bad value', () => {
    expect(problemsOf(() => resolveTetrafleetProps({ maxFleetSize: 5000 }))).toEqual([
      'maxFleetSize must be between 1 and 1,000, got 5000',
    ]);
    expect(problemsOf(() => resolveTetrafleetProps({ maxFleetSize: 2.5 }))).toEqual([
      'maxFleetSize must be a whole number, got 2.5',
    ]);
  });

  it('fails when several props are wrong, reporting all problems together', () => {
    const problems = problemsOf(() =>
      resolveTetrafleetProps({
        instanceTypes: ['m7i.large', 'M7I LARGE', 'm7i.large'],
        maxFleetSize: 0,
        budgetPerHour: Number.NaN,
        vpcId: 'my-vpc',
        cpuAmiParameter: 'ami-123',
      }),
    );
    expect(problems).toEqual([
      'instanceTypes must look like EC2 types such as m7i.large, got M7I LARGE',
      'instanceTypes must not repeat a type, got m7i.large twice',
      'maxFleetSize must be between 1 and 1,000, got 0',
      'budgetPerHour must be between 0.01 and 100,000, got NaN',
      'vpcId must look like vpc-0123456789abcdef0, got my-vpc',
      'cpuAmiParameter must be an SSM parameter path starting with "/", got ami-123',
    ]);
  });

  it('fails when no instance type is allowed', () => {
    expect(problemsOf(() => resolveTetrafleetProps({ instanceTypes: [] }))).toEqual([
      'instanceTypes must list at least one instance type, got none',
    ]);
  });

  it('fails when both an existing vpc and a vpcId are given', () => {
    const host = new Stack(new App(), 'Host');
    const vpc = new ec2.Vpc(host, 'Vpc', { restrictDefaultSecurityGroup: false });
    expect(problemsOf(() => resolveTetrafleetProps({ vpc, vpcId: 'vpc-0123456789abcdef0' }))).toEqual([
      'give either vpc or vpcId, not both (vpcId vpc-0123456789abcdef0)',
    ]);
  });

  it('fails when the stack is given bad props, before anything is built', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    expect(() => new TetrafleetStack(app, 'Bad', { maxFleetSize: 5000, budgetPerHour: -1 })).toThrow(
      /invalid TetrafleetStack props:\n {2}- maxFleetSize must be between 1 and 1,000, got 5000\n {2}- budgetPerHour must be between 0\.01 and 100,000, got -1/,
    );
  });
});
