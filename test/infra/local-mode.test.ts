import { beforeAll, describe, expect, it } from 'vitest';
import { type Synthesized, synthStack } from './synth.ts';

// Only the template matters here, so esbuild is skipped.
let local: Synthesized;
beforeAll(() => {
  local = synthStack({ localMode: true, maxFleetSize: 3, budgetPerHour: 2.5 }, { bundle: false });
}, 120_000);

describe('TetrafleetStack in local mode', () => {
  it('leaves out the SQS event source mappings, so the local pump is the only deliverer', () => {
    local.template.resourceCountIs('AWS::Lambda::EventSourceMapping', 0);
  });

  it('keeps everything else: queues, tables, handlers, rules and launch templates', () => {
    local.template.resourceCountIs('AWS::SQS::Queue', 6);
    local.template.resourceCountIs('AWS::DynamoDB::Table', 4);
    local.template.resourceCountIs('AWS::Lambda::Function', 4);
    local.template.resourceCountIs('AWS::Events::Rule', 5);
    local.template.resourceCountIs('AWS::EC2::LaunchTemplate', 2);
  });

  it('still lets admit and ingest consume their queues, for a pump that invokes them', () => {
    const actions = JSON.stringify(local.template.findResources('AWS::IAM::Policy'));
    expect(actions).toContain('sqs:ReceiveMessage');
    expect(actions).toContain('sqs:DeleteMessage');
  });

  it('passes the fleet limits it was given to the handlers', () => {
    const fns = Object.values(local.template.findResources('AWS::Lambda::Function')) as {
      Properties: { Environment: { Variables: Record<string, unknown> } };
    }[];
    for (const f of fns) {
      expect(f.Properties.Environment.Variables.TETRAFLEET_MAX_FLEET_SIZE).toBe('3');
      expect(f.Properties.Environment.Variables.TETRAFLEET_BUDGET_PER_HOUR).toBe('2.5');
    }
  });
});
