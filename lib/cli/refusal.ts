import type { FieldIssue } from '../core/errors.ts';
import type { ServingEndpoint } from '../core/model/pipeline-serving.ts';
import type { PipelineView } from '../sdk/client-options.ts';
import { PipelineRejectedError } from '../sdk/errors.ts';
import type { CliSource } from './source.ts';

/**
 * A pipeline that admission refused. It has no record, only the refusal: the SDK throws it as
 * PipelineRejectedError, and the CLI shows it as a status like any other.
 */
export interface PipelineRefusal {
  readonly pipelineId: string;
  readonly status: 'REFUSED';
  /** One line per problem: `field: message` where admission named the field. */
  readonly reasons: readonly string[];
  readonly issues: readonly FieldIssue[];
  /** Always empty: kept so that scripts read a refusal's endpoints as they read a view's. */
  readonly endpoints: readonly ServingEndpoint[];
}

/** The refusal as the CLI shows it, from the SDK's PipelineRejectedError or a listed PipelineRejection. */
export function refusalOf(
  rejection: Pick<PipelineRejectedError, 'pipelineId' | 'reason' | 'issues'>,
): PipelineRefusal {
  const reasons =
    rejection.issues.length > 0
      ? rejection.issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message))
      : [plainReason(rejection.reason)];
  return {
    pipelineId: rejection.pipelineId,
    status: 'REFUSED',
    reasons,
    issues: rejection.issues,
    endpoints: [],
  };
}

/**
 * A reason recorded from a raw error reads `ValidationError: invalid pipeline submission: stages: ...`;
 * the class name and the heading say nothing to someone reading the status.
 */
export function plainReason(reason: string): string {
  return reason.replace(/^\w*Error: /, '').replace(/^invalid [\w ]+?: /, '');
}

/** The pipeline as `getPipeline` has it, its refusal, or undefined while it is unknown. */
export async function lookUpPipeline(
  source: CliSource,
  pipelineId: string,
): Promise<PipelineView | PipelineRefusal | undefined> {
  try {
    return await source.client.getPipeline(pipelineId);
  } catch (error) {
    if (error instanceof PipelineRejectedError) return refusalOf(error);
    throw error;
  }
}

export function isRefusal(found: PipelineView | PipelineRefusal): found is PipelineRefusal {
  return 'reasons' in found;
}

/** The refusal as `pipeline status` shows it: every reason on its own line. */
export function refusalText(refusal: PipelineRefusal): string {
  const [first, ...rest] = refusal.reasons;
  return [
    `pipeline ${refusal.pipelineId}`,
    '  status      REFUSED at admission',
    `  reasons     ${first ?? 'none given'}`,
    ...rest.map((r) => `              ${r}`),
    '  next        fix the spec and submit it again (the id may be reused)',
  ].join('\n');
}
