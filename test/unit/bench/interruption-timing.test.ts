import { describe, expect, it } from 'vitest';
import { interruptionTiming } from '../../../bench/inference/spot-interruption.ts';

describe('spot interruption timing in the inference bench', () => {
  const grace = { spotServeForMs: 90_000 };

  it('asks for replacements at the warning and serves through its grace without a recommendation', () => {
    expect(interruptionTiming(grace, 100_000)).toEqual({ noticeAtMs: 100_000, serveForMs: 90_000 });
  });

  it('asks for them at a rebalance recommendation and serves until the warning grace ends', () => {
    const rebalance = { ...grace, spotRebalanceLeadMs: 60_000, spotRebalanceServeMs: 300_000 };
    // Recommendation at 40 s, warning at 100 s: serving ends at 190 s, 150 s after the recommendation.
    expect(interruptionTiming(rebalance, 100_000)).toEqual({ noticeAtMs: 40_000, serveForMs: 150_000 });
  });

  it("ends serving at the rebalance drain's grace when the warning comes much later", () => {
    const early = { ...grace, spotRebalanceLeadMs: 250_000, spotRebalanceServeMs: 300_000 };
    expect(interruptionTiming(early, 260_000)).toEqual({ noticeAtMs: 10_000, serveForMs: 300_000 });
  });

  it("keeps a recommendation that precedes the trace's start where it falls", () => {
    const rebalance = { ...grace, spotRebalanceLeadMs: 60_000, spotRebalanceServeMs: 300_000 };
    expect(interruptionTiming(rebalance, 15_000)).toEqual({ noticeAtMs: -45_000, serveForMs: 150_000 });
  });
});
