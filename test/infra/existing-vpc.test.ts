import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { TetrafleetStack } from '../../lib/infra/tetrafleet-stack.ts';

// Only the template matters here, so esbuild is skipped.
let template: Template;
beforeAll(() => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const network = new Stack(app, 'Network');
  const vpc = new ec2.Vpc(network, 'Vpc', { natGateways: 1, restrictDefaultSecurityGroup: false });
  const stack = new TetrafleetStack(app, 'TetrafleetStack', { vpc });
  template = Template.fromStack(stack);
}, 120_000);

describe('TetrafleetStack in an existing VPC', () => {
  it('creates no VPC of its own', () => {
    template.resourceCountIs('AWS::EC2::VPC', 0);
    template.resourceCountIs('AWS::EC2::Subnet', 0);
  });

  it('gives instances no public IP and hands the scheduler the private subnets', () => {
    const templates = Object.values(template.findResources('AWS::EC2::LaunchTemplate')) as {
      Properties: { LaunchTemplateData: { NetworkInterfaces?: unknown } };
    }[];
    for (const t of templates) expect(t.Properties.LaunchTemplateData.NetworkInterfaces).toBeUndefined();
    const fn = Object.values(template.findResources('AWS::Lambda::Function'))[0] as {
      Properties: { Environment: { Variables: Record<string, unknown> } };
    };
    const subnets = JSON.stringify(fn.Properties.Environment.Variables.TETRAFLEET_SUBNET_IDS);
    expect(subnets).toContain('PrivateSubnet');
    expect(subnets).not.toContain('PublicSubnet');
  });
});
