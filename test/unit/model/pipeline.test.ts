import { describe, expect, it } from 'vitest';
import { entryStages, findCycle, PipelineSpecSchema } from '../../../lib/core/model/pipeline.ts';
import { issuesOf, message, pipeline, stage } from './builders.ts';

describe('PipelineSpecSchema', () => {
  it('accepts a chain of stages and defaults owner and edge probability', () => {
    const p = PipelineSpecSchema.parse(pipeline());
    expect(p.owner).toBe('default');
    expect(p.edges.map((e) => e.probability)).toEqual([1, 1]);
  });

  it('accepts a single stage with no edges', () => {
    expect(PipelineSpecSchema.parse(pipeline({ stages: [stage('only')], edges: undefined })).edges).toEqual(
      [],
    );
  });

  it('accepts a diamond with conditional flow', () => {
    const diamond = pipeline({
      stages: [stage('a'), stage('b'), stage('c'), stage('d')],
      edges: [
        { from: 'a', to: 'b', probability: 0.3 },
        { from: 'a', to: 'c', probability: 0.7 },
        { from: 'b', to: 'd' },
        { from: 'c', to: 'd' },
      ],
    });
    expect(issuesOf(PipelineSpecSchema, diamond)).toEqual([]);
  });

  it('accepts a gamma sample trace and defaults its seed', () => {
    const p = PipelineSpecSchema.parse(
      pipeline({ sampleTrace: { kind: 'gamma', ratePerSecond: 50, cv: 4, durationSeconds: 60 } }),
    );
    expect(p.sampleTrace).toEqual({ kind: 'gamma', ratePerSecond: 50, cv: 4, durationSeconds: 60, seed: 1 });
  });

  const rejections: [string, unknown, string, string | RegExp][] = [
    [
      'the name has upper case',
      pipeline({ name: 'Captions' }),
      'name',
      'name must be lowercase letters, digits and "-", starting with a letter',
    ],
    ['the SLO is zero', pipeline({ sloP99Ms: 0 }), 'sloP99Ms', 'sloP99Ms must be greater than 0'],
    [
      'the surge factor is below 1',
      pipeline({ surgeFactor: 0.5 }),
      'surgeFactor',
      'surgeFactor must be at least 1',
    ],
    [
      'the surge factor is over 10',
      pipeline({ surgeFactor: 11 }),
      'surgeFactor',
      'surgeFactor must be at most 10',
    ],
    [
      'spot headroom is not a boolean',
      pipeline({ spotHeadroom: 'yes' as never }),
      'spotHeadroom',
      'spotHeadroom must be true or false',
    ],
    [
      'the SLO is over a minute',
      pipeline({ sloP99Ms: 60_001 }),
      'sloP99Ms',
      'sloP99Ms must be at most 60,000 (a minute)',
    ],
    [
      'there are no stages',
      pipeline({ stages: [], edges: [] }),
      'stages',
      'stages must list at least one stage',
    ],
    [
      'there are more than 32 stages',
      pipeline({ stages: Array.from({ length: 33 }, (_, i) => stage(`s${i}`)), edges: [] }),
      'stages',
      /<=32 items/,
    ],
    [
      'a stage id starts with a digit',
      pipeline({ stages: [stage('1st')], edges: [] }),
      'stages.0.id',
      'stage id must be lowercase letters, digits and "-", starting with a letter',
    ],
    [
      'a stage model uri is not s3 or absolute',
      pipeline({ stages: [{ id: 'a', model: { uri: 'model.onnx' } }], edges: [] }),
      'stages.0.model.uri',
      'uri must be s3://bucket/key or an absolute path',
    ],
    [
      'a stage lists no instance types',
      pipeline({ stages: [{ ...stage('a'), instanceTypes: [] }], edges: [] }),
      'stages.0.instanceTypes',
      />=1 items/,
    ],
    [
      'two stages share an id',
      pipeline({ stages: [stage('a'), stage('b'), stage('a')], edges: [] }),
      'stages.2.id',
      'duplicate stage id a',
    ],
    [
      'an edge starts at an unknown stage',
      pipeline({
        edges: [
          { from: 'resnet', to: 'captioner' },
          { from: 'decoder', to: 'resnet' },
        ],
      }),
      'edges.1.from',
      'unknown stage decoder; stages are preprocess, resnet, captioner',
    ],
    [
      'an edge ends at an unknown stage',
      pipeline({ edges: [{ from: 'preprocess', to: 'ocr' }] }),
      'edges.0.to',
      'unknown stage ocr; stages are preprocess, resnet, captioner',
    ],
    [
      'an edge probability is zero',
      pipeline({ edges: [{ from: 'preprocess', to: 'resnet', probability: 0 }] }),
      'edges.0.probability',
      'probability must be greater than 0',
    ],
    [
      'an edge probability is above 1',
      pipeline({ edges: [{ from: 'preprocess', to: 'resnet', probability: 1.2 }] }),
      'edges.0.probability',
      'probability must be at most 1',
    ],
    [
      'the edges form a cycle',
      pipeline({
        edges: [
          { from: 'preprocess', to: 'resnet' },
          { from: 'resnet', to: 'captioner' },
          { from: 'captioner', to: 'resnet' },
        ],
      }),
      'edges',
      'edges form a cycle: resnet -> captioner -> resnet',
    ],
    [
      'a stage feeds itself',
      pipeline({ stages: [stage('a')], edges: [{ from: 'a', to: 'a' }] }),
      'edges',
      'edges form a cycle: a -> a',
    ],
    [
      'a recorded trace is empty',
      pipeline({ sampleTrace: { kind: 'recorded', interArrivalMs: [] } }),
      'sampleTrace.interArrivalMs',
      'interArrivalMs must list at least one gap',
    ],
    [
      'a gamma trace runs over an hour',
      pipeline({ sampleTrace: { kind: 'gamma', ratePerSecond: 1, cv: 1, durationSeconds: 3601 } }),
      'sampleTrace.durationSeconds',
      'durationSeconds must be at most 3,600 (an hour)',
    ],
    [
      'a trace kind is unknown',
      pipeline({ sampleTrace: { kind: 'poisson' } as never }),
      'sampleTrace.kind',
      /'recorded' \| 'gamma'/,
    ],
  ];

  it.each(rejections)('fails when %s', (_what, input, path, expected) => {
    expect(issuesOf(PipelineSpecSchema, input)).toEqual([{ path, message: message(expected) }]);
  });

  it('fails with both ends named when an edge joins two unknown stages', () => {
    expect(
      issuesOf(PipelineSpecSchema, pipeline({ edges: [{ from: 'x', to: 'y' }] })).map((i) => i.path),
    ).toEqual(['edges.0.from', 'edges.0.to']);
  });
});

describe('findCycle', () => {
  it('finds no cycle in a DAG', () => {
    expect(
      findCycle(
        ['a', 'b', 'c'],
        [
          { from: 'a', to: 'b' },
          { from: 'a', to: 'c' },
          { from: 'b', to: 'c' },
        ],
      ),
    ).toBe(undefined);
  });

  it('returns the cycle with its first stage repeated last', () => {
    const edges = [
      { from: 'a', to: 'b' },
      { from: 'b', to: 'c' },
      { from: 'c', to: 'd' },
      { from: 'd', to: 'b' },
    ];
    expect(findCycle(['a', 'b', 'c', 'd'], edges)).toEqual(['b', 'c', 'd', 'b']);
  });

  it('ignores edges to stages it does not know', () => {
    expect(findCycle(['a'], [{ from: 'a', to: 'zzz' }])).toBe(undefined);
  });
});

describe('entryStages', () => {
  it('lists the stages no edge points to', () => {
    const p = PipelineSpecSchema.parse(
      pipeline({
        stages: [stage('a'), stage('b'), stage('c')],
        edges: [
          { from: 'a', to: 'c' },
          { from: 'b', to: 'c' },
        ],
      }),
    );
    expect(entryStages(p)).toEqual(['a', 'b']);
  });
});
