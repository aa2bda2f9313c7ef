import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { NotFoundError } from '../core/errors.ts';
import type { AwsClientConfig } from './client-config.ts';
import { toDomainError } from './errors.ts';
import { checkStackName } from './stack-name.ts';

/** The stack outputs that clients need, by the output keys TetrafleetStack declares. */
export interface StackEndpoints {
  readonly submissionsQueueUrl: string;
  readonly submissionsDlqUrl?: string;
  readonly reportsQueueUrl?: string;
  readonly eventsQueueUrl?: string;
  readonly tables: {
    readonly jobs: string;
    readonly instances: string;
    readonly placements: string;
    readonly control: string;
  };
  readonly launchTemplates?: { readonly cpu: string; readonly gpu: string };
  readonly instanceQueuePrefix?: string;
  readonly agentAssetUrl?: string;
}

/** Reads a deployed stack's outputs and maps them to endpoints; fails naming any output that is missing. */
export async function discoverStack(stackName: string, aws: AwsClientConfig): Promise<StackEndpoints> {
  checkStackName(stackName);
  const cfn = new CloudFormationClient(aws);
  try {
    const out = await cfn
      .send(new DescribeStacksCommand({ StackName: stackName }))
      .catch((error: unknown) => {
        if (/does not exist/i.test(String((error as Error).message)))
          throw new NotFoundError('stack', stackName);
        throw toDomainError(error, `describe stack ${stackName}`);
      });
    const outputs = new Map(
      (out.Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']),
    );
    return endpointsFromOutputs(stackName, outputs);
  } finally {
    cfn.destroy();
  }
}

export function endpointsFromOutputs(
  stackName: string,
  outputs: ReadonlyMap<string, string>,
): StackEndpoints {
  const missing: string[] = [];
  const need = (key: string): string => {
    const value = outputs.get(key);
    if (!value) missing.push(key);
    return value ?? '';
  };
  const endpoints: StackEndpoints = {
    submissionsQueueUrl: need('SubmissionsQueueUrl'),
    submissionsDlqUrl: outputs.get('SubmissionsDlqUrl'),
    reportsQueueUrl: outputs.get('ReportsQueueUrl'),
    eventsQueueUrl: outputs.get('EventsQueueUrl'),
    tables: {
      jobs: need('JobsTableName'),
      instances: need('InstancesTableName'),
      placements: need('PlacementsTableName'),
      control: need('ControlTableName'),
    },
    launchTemplates:
      outputs.get('CpuLaunchTemplateId') && outputs.get('GpuLaunchTemplateId')
        ? {
            cpu: outputs.get('CpuLaunchTemplateId') as string,
            gpu: outputs.get('GpuLaunchTemplateId') as string,
          }
        : undefined,
    instanceQueuePrefix: outputs.get('InstanceQueuePrefix'),
    agentAssetUrl: outputs.get('AgentAssetUrl'),
  };
  if (missing.length > 0)
    throw new Error(`stack ${stackName} lacks the outputs ${missing.join(', ')}: is it a tetrafleet stack?`);
  return endpoints;
}
