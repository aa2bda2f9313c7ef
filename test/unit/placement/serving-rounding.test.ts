import { describe, expect, it } from 'vitest';
import { JobSpecSchema } from '../../../lib/core/model/job.ts';
import { compile } from '../../../lib/core/placement/compile.ts';
import { roundedOutcome } from '../../../lib/core/placement/greedy.ts';
import { lpCounts, lpGuide, planContext } from '../../../lib/core/placement/plan.ts';
import type { PendingJob } from '../../../lib/core/placement/types.ts';
import { policiesFor } from '../../../lib/core/policies/registry.ts';
import { HighsSolver } from '../../../lib/solver/highs-solver.ts';
import { C5_2XLARGE, existing, launchable, NOW, placementInput } from '../../support/builders.ts';

const SLOTS = 8;
const highs = new HighsSolver();

function replica(id: string): PendingJob {
  return {
    id,
    submittedAt: NOW,
    attempts: 0,
    spec: JobSpecSchema.parse({
      name: id,
      policy: 'slo-service',
      task: { kind: 'model', modelId: 'detector', model: { uri: '/models/detector.onnx' } },
      alternatives: [{ requirement: { vcpu: 4, memoryMiB: 8192 }, durationSeconds: 60 }],
    }),
  };
}

describe('rounding the LP for a group of identical replicas', () => {
  it('hands each replica its own share of the split between capacity now and instances launched for it', async () => {
    // Room for two replicas now; the other three need new instances, which serve from the boot slot.
    const ids = ['r-0', 'r-1', 'r-2', 'r-3', 'r-4'];
    const input = placementInput({
      slots: SLOTS,
      instances: [existing(SLOTS, { id: 'i-1', type: C5_2XLARGE })],
      launchable: [launchable(C5_2XLARGE)],
      jobs: ids.map(replica),
    });
    const ctx = planContext(input, { policies: policiesFor(input) });
    expect(ctx.prepared.groups).toHaveLength(1);
    const compiled = compile(ctx.fleet, ctx.prepared.groups, ctx.input.now);
    const lp = await highs.solve(compiled.model, { timeLimitMs: 20_000, relGap: 0, relaxIntegrality: true });
    expect(lp.status).toBe('optimal');

    const guide = lpGuide(compiled, lp.values);
    const refs = compiled.groups[0]!.leafRefs;
    const hintedStarts = ids.map((id) =>
      refs.filter((r) => guide.poolHints(id, r.leafIndex) !== undefined).map((r) => r.leaf.start),
    );
    // Every replica gets exactly one leaf: two start now, three at the boot slot of new instances.
    expect(hintedStarts.map((s) => s.length)).toEqual([1, 1, 1, 1, 1]);
    expect(hintedStarts.flat().sort()).toEqual([0, 0, 1, 1, 1]);

    const rounded = roundedOutcome(ctx, guide, lpCounts(compiled, lp.values));
    expect(new Set(rounded.tasks.map((t) => t.jobId))).toEqual(new Set(ids));
    expect(rounded.tasks.filter((t) => t.host.kind === 'existing' && t.start === 0)).toHaveLength(2);
  });
});
