import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveTetrafleetProps, TetrafleetPropsError } from '../../lib/infra/props.ts';
import { resourcesOf, type Synthesized, synthStack } from './synth.ts';

// Only the template matters here, so esbuild is skipped.
let s: Synthesized;
beforeAll(() => {
  s = synthStack({ modelBuckets: ['acme-models'] }, { bundle: false });
}, 120_000);

/** The S3 object ARNs each role may GetObject, by role logical id. */
function s3Reads(): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const policy of Object.values(resourcesOf(s.template, 'AWS::IAM::Policy'))) {
    const roles = (policy.Properties?.Roles ?? []) as { Ref: string }[];
    const statements = ((policy.Properties?.PolicyDocument as { Statement?: Record<string, unknown>[] })
      ?.Statement ?? []) as Record<string, unknown>[];
    for (const st of statements)
      if (st.Action === 's3:GetObject')
        for (const r of roles) out[r.Ref] = [...(out[r.Ref] ?? []), ...[st.Resource].flat()];
  }
  return out;
}

describe('TetrafleetStack with model buckets', () => {
  it('lets admit and the agents read objects of the model buckets, and no other role', () => {
    const id = (c: { node: { defaultChild?: unknown } }) =>
      s.stack.getLogicalId(c.node.defaultChild as Parameters<typeof s.stack.getLogicalId>[0]);
    const reads = s3Reads();
    const models = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::acme-models/*']] };
    expect(reads[id(s.stack.functions.admit.role)]).toEqual([models]);
    expect(reads[id(s.stack.fleet.role)]).toContainEqual(models);
    for (const other of [s.stack.functions.ingest, s.stack.functions.scale, s.stack.functions.schedule])
      expect(reads[id(other.role)]).toBeUndefined();
  });

  it('reports no unacknowledged cdk-nag AwsSolutions findings', () => {
    const report = new AwsSolutionsChecks(undefined, { verbose: false }).validateScope(s.app);
    expect(
      report.violations.map((v) => `${v.ruleName} ${v.violatingResources.map((r) => r.constructPath)}`),
    ).toEqual([]);
  });

  it('fails when a model bucket name is not an S3 bucket name, showing it', () => {
    expect(() => resolveTetrafleetProps({ modelBuckets: ['Bad_Bucket'] })).toThrow(TetrafleetPropsError);
    expect(() => resolveTetrafleetProps({ modelBuckets: ['Bad_Bucket'] })).toThrow(/got Bad_Bucket/);
  });
});
