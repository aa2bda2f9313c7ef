import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { TetrafleetStack } from '../lib/infra/tetrafleet-stack.ts';

/**
 * The CDK app that cdk.json names. Context flags (`-c name=value`):
 *   localMode=true   leave SQS event source mappings out (for the emulator, where a local pump delivers)
 *   stackName=NAME   deploy under another name
 *   nag=true         run cdk-nag AwsSolutions checks during synth
 *   agentEntry=PATH  bundle another agent entry (relative to the project root)
 *   instanceTypes=A,B   instance types the scheduler may launch
 *   maxFleetSize=N      most instances at once
 *   budgetPerHour=USD   most the fleet may cost per hour
 */
const app = new App();
const flag = (name: string): boolean => {
  const value: unknown = app.node.tryGetContext(name);
  return value === true || value === 'true';
};
const stackName = (app.node.tryGetContext('stackName') as string | undefined) ?? 'Tetrafleet';
/** A numeric context value; a non-number is passed through as NaN so the props validation names it. */
const number = (name: string): number | undefined => {
  const value: unknown = app.node.tryGetContext(name);
  return value === undefined ? undefined : Number(value);
};
const list = (name: string): string[] | undefined => {
  const value: unknown = app.node.tryGetContext(name);
  if (value === undefined || value === '') return undefined;
  return String(value)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
};

new TetrafleetStack(app, 'TetrafleetStack', {
  stackName,
  description: 'tetrafleet: a serverless space-time scheduler for heterogeneous AI work',
  localMode: flag('localMode'),
  agentEntry: app.node.tryGetContext('agentEntry') as string | undefined,
  instanceTypes: list('instanceTypes'),
  maxFleetSize: number('maxFleetSize'),
  budgetPerHour: number('budgetPerHour'),
});
if (flag('nag')) Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));

app.synth();
