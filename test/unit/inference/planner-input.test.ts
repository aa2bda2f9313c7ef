/** The planner's input checks, and the default whole-instance cost. */
import { describe, expect, it } from 'vitest';
import { onDemandCostPerHour } from '../../../lib/core/inference/cost.ts';
import { plan } from '../../../lib/core/inference/planner.ts';
import { traceFromSpec } from '../../../lib/core/inference/traces.ts';
import { findInstanceType } from '../../../lib/core/model/catalog.ts';
import { PipelineSpecSchema } from '../../../lib/core/model/pipeline.ts';
import { feasible, plannerInput as input, singleStage as one, profile, stage } from './builders.ts';

const price = (type: string) => findInstanceType(type)?.onDemandPerHour ?? Number.NaN;

describe('planner input', () => {
  it('plans a validated pipeline spec from its own sample trace', () => {
    const spec = PipelineSpecSchema.parse({
      name: 'cascade',
      sloP99Ms: 100,
      stages: [
        { id: 'small', model: { uri: '/models/small.onnx' } },
        { id: 'large', model: { uri: '/models/large.onnx' } },
      ],
      edges: [{ from: 'small', to: 'large', probability: 0.2 }],
      sampleTrace: { kind: 'gamma', ratePerSecond: 50, cv: 1, durationSeconds: 20 },
    });
    if (!spec.sampleTrace) throw new Error('the spec has a sample trace');
    const result = plan({
      pipeline: spec,
      profiles: { small: [profile('c7i.large', (b) => 3 + b)], large: [profile('g5.xlarge', (b) => 8 + b)] },
      arrivalsMs: traceFromSpec(spec.sampleTrace),
    });
    expect(feasible(result).config.large?.instanceType).toBe('g5.xlarge');
  });

  it('fails when the sample trace is empty', () => {
    expect(() =>
      plan({
        pipeline: one(100),
        profiles: { a: [profile('g5.xlarge', () => 1)] },
        arrivalsMs: new Float64Array(0),
      }),
    ).toThrow(/arrivalsMs: the sample trace is empty/);
  });

  it('fails when a stage has two profiles for one instance type', () => {
    const p = profile('g5.xlarge', () => 1);
    expect(() => plan(input({ pipeline: one(100), profiles: { a: [p, p] } }))).toThrow(
      /profiles\.a\.1: second profile for g5\.xlarge/,
    );
  });

  it('fails when a profile is malformed, naming the field', () => {
    const bad = { ...profile('g5.xlarge', () => 1), points: [] };
    expect(() => plan(input({ pipeline: one(100), profiles: { a: [bad] } }))).toThrow(
      /points: points must list at least one batch size/,
    );
  });
});

describe('default cost', () => {
  it('charges each replica a whole on-demand instance of its type', () => {
    const config = {
      a: stage({ instanceType: 'c7i.large', replicas: 3 }),
      b: stage({ instanceType: 'g5.xlarge', replicas: 2 }),
    };
    expect(onDemandCostPerHour(config)).toBeCloseTo(3 * price('c7i.large') + 2 * price('g5.xlarge'), 9);
  });

  it('fails when an instance type is not in the catalog', () => {
    expect(() => onDemandCostPerHour({ a: stage({ instanceType: 'x9.huge' }) })).toThrow(
      /a\.instanceType: unknown instance type x9\.huge/,
    );
  });
});
