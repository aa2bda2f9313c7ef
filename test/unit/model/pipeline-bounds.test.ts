import { describe, expect, it } from 'vitest';
import { GammaSegmentSchema } from '../../../lib/core/inference/traces.ts';
import {
  MAX_RECORDED_GAPS,
  MAX_SAMPLE_CV,
  MAX_SAMPLE_RATE_PER_SECOND,
  MAX_SAMPLE_SECONDS,
  MAX_SAMPLE_SEED,
  MAX_SLO_MS,
  MAX_SURGE_FACTOR,
  MIN_EDGE_PROBABILITY,
  MIN_RECORDED_GAP_MS,
  MIN_SAMPLE_ARRIVALS,
  MIN_SAMPLE_CV,
  MIN_SAMPLE_RATE_PER_SECOND,
  MIN_SAMPLE_SECONDS,
  MIN_SLO_MS,
  PipelineSpecSchema,
} from '../../../lib/core/model/pipeline.ts';
import { issuesOf, message, pipeline } from './builders.ts';

const gamma = (o: Record<string, unknown> = {}) =>
  pipeline({ sampleTrace: { kind: 'gamma', ratePerSecond: 100, cv: 1, durationSeconds: 60, ...o } as never });
const recorded = (interArrivalMs: unknown[]) =>
  pipeline({ sampleTrace: { kind: 'recorded', interArrivalMs } as never });
const probability = (p: number) =>
  pipeline({ edges: [{ from: 'preprocess', to: 'resnet', probability: p }] });

describe('pipeline spec bounds', () => {
  it('accepts a spec at every bound', () => {
    const low = pipeline({
      sloP99Ms: MIN_SLO_MS,
      surgeFactor: 1,
      edges: [{ from: 'preprocess', to: 'resnet', probability: MIN_EDGE_PROBABILITY }],
      sampleTrace: {
        kind: 'gamma',
        ratePerSecond: MIN_SAMPLE_RATE_PER_SECOND,
        cv: MIN_SAMPLE_CV,
        durationSeconds: MIN_SAMPLE_ARRIVALS / MIN_SAMPLE_RATE_PER_SECOND,
        seed: 0,
      },
    });
    const high = pipeline({
      sloP99Ms: MAX_SLO_MS,
      surgeFactor: MAX_SURGE_FACTOR,
      sampleTrace: {
        kind: 'gamma',
        ratePerSecond: MAX_SAMPLE_RATE_PER_SECOND,
        cv: MAX_SAMPLE_CV,
        durationSeconds: MAX_SAMPLE_SECONDS,
        seed: MAX_SAMPLE_SEED,
      },
    });
    const longest = gamma({ ratePerSecond: 1, durationSeconds: MAX_SAMPLE_SECONDS });
    const shortest = gamma({ ratePerSecond: MIN_SAMPLE_ARRIVALS, durationSeconds: MIN_SAMPLE_SECONDS });
    const hour = MAX_SAMPLE_SECONDS * 1000;
    const fullRecording = recorded([0, MIN_RECORDED_GAP_MS, ...Array(MAX_RECORDED_GAPS - 2).fill(1)]);
    const hourRecording = recorded([hour / 2, hour / 2]);
    for (const spec of [low, high, longest, shortest, fullRecording, hourRecording])
      expect(issuesOf(PipelineSpecSchema, spec)).toEqual([]);
  });

  it('keeps every gamma sample it accepts within what the trace generator draws', () => {
    const extreme = {
      ratePerSecond: MAX_SAMPLE_RATE_PER_SECOND,
      cv: MAX_SAMPLE_CV,
      durationSeconds: MAX_SAMPLE_SECONDS,
    };
    expect(GammaSegmentSchema.safeParse(extreme).success).toBe(true);
    expect(
      GammaSegmentSchema.safeParse({
        ...extreme,
        ratePerSecond: MIN_SAMPLE_RATE_PER_SECOND,
        cv: MIN_SAMPLE_CV,
      }).success,
    ).toBe(true);
  });

  // [what is wrong, input, field path, message the user sees]
  const rejections: [string, unknown, string, string | RegExp][] = [
    [
      'the SLO is under a millisecond',
      pipeline({ sloP99Ms: 0.5 }),
      'sloP99Ms',
      'sloP99Ms must be at least 1 (a millisecond)',
    ],
    ['the SLO is negative', pipeline({ sloP99Ms: -5 }), 'sloP99Ms', 'sloP99Ms must be greater than 0'],
    [
      'an edge probability is vanishingly small',
      probability(1e-300),
      'edges.0.probability',
      'probability must be at least 0.000001 (one in a million)',
    ],
    [
      'the sample rate is unstorably large',
      gamma({ ratePerSecond: 1e300 }),
      'sampleTrace.ratePerSecond',
      'ratePerSecond must be at most 100,000',
    ],
    [
      'the sample rate is above 100,000 a second',
      gamma({ ratePerSecond: 100_001, durationSeconds: 1 }),
      'sampleTrace.ratePerSecond',
      'ratePerSecond must be at most 100,000',
    ],
    [
      'the sample rate is zero',
      gamma({ ratePerSecond: 0 }),
      'sampleTrace.ratePerSecond',
      'ratePerSecond must be greater than 0',
    ],
    [
      'the sample rate is vanishingly small',
      gamma({ ratePerSecond: 1e-200 }),
      'sampleTrace.ratePerSecond',
      'ratePerSecond must be at least 0.01',
    ],
    ['the sample cv is absurd', gamma({ cv: 1e9 }), 'sampleTrace.cv', 'cv must be at most 100'],
    ['the sample cv is zero', gamma({ cv: 0 }), 'sampleTrace.cv', 'cv must be greater than 0'],
    ['the sample cv is vanishingly small', gamma({ cv: 1e-9 }), 'sampleTrace.cv', 'cv must be at least 0.01'],
    [
      'the sample runs for 1e12 seconds',
      gamma({ durationSeconds: 1e12 }),
      'sampleTrace.durationSeconds',
      'durationSeconds must be at most 3,600 (an hour)',
    ],
    [
      'the sample runs under a second',
      gamma({ durationSeconds: 0.5 }),
      'sampleTrace.durationSeconds',
      'durationSeconds must be at least 1',
    ],
    [
      'the sample expects fewer than 30 arrivals',
      gamma({ ratePerSecond: 0.01, durationSeconds: 10 }),
      'sampleTrace.durationSeconds',
      'a sample of 0.01/s for 10 s expects 0.1 arrivals; it must expect at least 30 (ratePerSecond x durationSeconds): durationSeconds must be at least 3,000 at this rate',
    ],
    ['the seed is negative', gamma({ seed: -1 }), 'sampleTrace.seed', 'seed must be at least 0'],
    ['the seed is fractional', gamma({ seed: 1.5 }), 'sampleTrace.seed', 'seed must be a whole number'],
    [
      'the seed is past 32 bits',
      gamma({ seed: 2 ** 40 }),
      'sampleTrace.seed',
      'seed must be at most 4,294,967,295 (the generator keeps 32 bits)',
    ],
    [
      'a recorded sample lists more than 10,000 gaps',
      recorded(Array(MAX_RECORDED_GAPS + 1).fill(1)),
      'sampleTrace.interArrivalMs',
      'interArrivalMs must list at most 10,000 gaps, got 10,001',
    ],
    [
      'a recorded gap is negative',
      recorded([1, -1]),
      'sampleTrace.interArrivalMs.1',
      'interArrivalMs gaps must be at least 0',
    ],
    [
      'a recorded gap is unstorably small',
      recorded([1e-200]),
      'sampleTrace.interArrivalMs.0',
      'interArrivalMs gaps must be 0 or at least 0.000001 (a nanosecond), got 1e-200',
    ],
    [
      'a recorded gap is over an hour',
      recorded([1e300]),
      'sampleTrace.interArrivalMs.0',
      'interArrivalMs gaps must be at most 3,600,000 (an hour)',
    ],
    [
      'a recorded sample spans over an hour',
      recorded([3_000_000, 600_001]),
      'sampleTrace.interArrivalMs',
      'a recorded sample may span at most 3,600,000 ms (an hour); its gaps add up to 3,600,001 ms',
    ],
  ];

  it.each(rejections)('fails when %s', (_what, input, path, expected) => {
    expect(issuesOf(PipelineSpecSchema, input)).toEqual([{ path, message: message(expected) }]);
  });

  it('fails with each bad sample field named once, not again for the arrivals they imply', () => {
    const absurd = gamma({ ratePerSecond: 1e300, cv: 1e9, durationSeconds: 1e12 });
    expect(issuesOf(PipelineSpecSchema, absurd).map((i) => i.path)).toEqual([
      'sampleTrace.ratePerSecond',
      'sampleTrace.cv',
      'sampleTrace.durationSeconds',
    ]);
  });
});
