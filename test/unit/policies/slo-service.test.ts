import { describe, expect, it } from 'vitest';
import { type JobSpecInput, JobSpecSchema } from '../../../lib/core/model/job.ts';
import type { PendingJob } from '../../../lib/core/placement/types.ts';
import { DEFAULT_POLICIES, jobToStrl, policiesFor } from '../../../lib/core/policies/registry.ts';
import {
  batchValueCeiling,
  SERVING_FLOOR,
  SERVING_MARGIN,
  servingValuePerSlot,
  sloServiceBasis,
  sloServicePolicy,
} from '../../../lib/core/policies/slo-service.ts';
import type { PolicyContext } from '../../../lib/core/policies/types.ts';
import { type ChooseExpr, leaves } from '../../../lib/core/strl/expr.ts';
import { C5_2XLARGE, G5_XLARGE, h, job, launchable, NOW, placementInput } from '../../support/builders.ts';

const SLOTS = 6;
const ctx = (pools: string[] = ['p']): PolicyContext => ({
  now: NOW,
  slotSeconds: 600,
  slots: SLOTS,
  poolsFor: () => pools,
});

const CPU_REPLICA = { vcpu: 4, memoryMiB: 14_336, gpus: 0, spot: false };

function replica(over: Partial<JobSpecInput> & { id?: string } = {}): PendingJob {
  const { id = 'replica', ...spec } = over;
  return {
    id,
    submittedAt: NOW,
    attempts: 0,
    spec: JobSpecSchema.parse({
      name: id,
      policy: 'slo-service',
      task: { kind: 'model', modelId: 'resnet', model: { uri: '/models/resnet.onnx' } },
      alternatives: [{ requirement: CPU_REPLICA, durationSeconds: 60 }],
      ...spec,
    }),
  };
}

function strlLeaves(res: ReturnType<typeof jobToStrl>): ChooseExpr[] {
  if (!res.ok) throw new Error(res.reason);
  return leaves(res.expr);
}

describe('slo-service policy: shape', () => {
  it('offers every start slot and holds the capacity to the end of the window, whatever durationSeconds says', () => {
    const ls = strlLeaves(sloServicePolicy().toStrl(replica(), ctx()));
    expect(ls.map((l) => [l.start, l.duration])).toEqual([
      [0, 6],
      [1, 5],
      [2, 4],
      [3, 3],
      [4, 2],
      [5, 1],
    ]);
    expect(ls.every((l) => l.op === 'nCk' && l.k === 1 && l.demand.vcpu === 4)).toBe(true);
    expect(ls[0]?.tag).toEqual({ jobId: 'replica', alternative: 0 });
  });

  it('is worth the same per slot held, so starting now is worth the most', () => {
    const ls = strlLeaves(sloServicePolicy().toStrl(replica(), ctx()));
    const perSlot = ls.map((l) => l.value / l.duration);
    expect(new Set(perSlot).size).toBe(1);
    for (let i = 1; i < ls.length; i++) expect(ls[i]!.value).toBeLessThan(ls[i - 1]!.value);
  });

  it('asks for the whole gang in every leaf and values each task', () => {
    const one = strlLeaves(sloServicePolicy().toStrl(replica(), ctx()));
    const two = strlLeaves(sloServicePolicy().toStrl(replica({ gang: 2 }), ctx()));
    expect(two[0]?.k).toBe(2);
    expect(two[0]?.value).toBeCloseTo(2 * one[0]!.value, 9);
  });

  it('serves a router task the same way', () => {
    const router = replica({ task: { kind: 'router', pipelineId: 'shop' } });
    expect(strlLeaves(sloServicePolicy().toStrl(router, ctx()))).toHaveLength(SLOTS);
  });

  it('fails when the task is a command, which ends on its own', () => {
    const res = sloServicePolicy().toStrl(replica({ task: { kind: 'command', command: 'serve' } }), ctx());
    expect(res).toEqual({
      ok: false,
      reason: 'the slo-service policy serves model and router tasks until cancelled, got task kind command',
    });
  });

  it('fails when no instance type fits the replica', () => {
    expect(sloServicePolicy().toStrl(replica(), ctx([]))).toEqual({
      ok: false,
      reason: 'no instance type in the fleet or catalog fits any alternative',
    });
  });
});

describe('slo-service policy: value', () => {
  it('is worth the floor per slot when nothing competes and nothing can be bought', () => {
    const ls = strlLeaves(sloServicePolicy().toStrl(replica(), ctx()));
    expect(ls[0]?.value).toBe(SERVING_FLOOR * SLOTS);
  });

  it('outbids, per slot, every batch task that the replica capacity could hold instead', () => {
    // 4 one-vCPU tasks fit in the replica's 4 vCPUs (+1 for a fraction already free): 5 x 50.
    const batch = job({ id: 'batch', vcpu: 1, memoryMiB: 2048, value: 50, deadline: h(1) });
    const input = placementInput({ slots: SLOTS, jobs: [batch, replica()] });
    const v = servingValuePerSlot(CPU_REPLICA, sloServiceBasis(input));
    expect(v).toBe(SERVING_MARGIN * 5 * 50 + SERVING_FLOOR);
    // A batch job bigger than the replica can be displaced at most once per slot.
    const big = job({ id: 'big', vcpu: 8, memoryMiB: 16_384, value: 70, deadline: h(1) });
    const vBig = servingValuePerSlot(CPU_REPLICA, sloServiceBasis(placementInput({ jobs: [big] })));
    expect(vBig).toBe(SERVING_MARGIN * 70 + SERVING_FLOOR);
  });

  it('pays for the dearest instance that could host it, boot included, and ignores types that cannot', () => {
    const input = placementInput({
      slots: SLOTS,
      launchable: [launchable(C5_2XLARGE), launchable(G5_XLARGE)],
      jobs: [replica()],
    });
    const basis = sloServiceBasis(input);
    // Both fit a 4-vCPU CPU replica; the g5 is dearer. Boot 120 s is one 600 s slot.
    const slotHours = 600 / 3600;
    expect(servingValuePerSlot(CPU_REPLICA, basis)).toBeCloseTo(
      SERVING_MARGIN * G5_XLARGE.onDemandPerHour * slotHours * 2 + SERVING_FLOOR,
      9,
    );
    const onlyC5 = { ...CPU_REPLICA, families: ['c5'] };
    expect(servingValuePerSlot(onlyC5, basis)).toBeCloseTo(
      SERVING_MARGIN * C5_2XLARGE.onDemandPerHour * slotHours * 2 + SERVING_FLOOR,
      9,
    );
  });

  it('caps the instance price at the budget, since nothing dearer can be bought', () => {
    const input = placementInput({
      launchable: [launchable(G5_XLARGE)],
      limits: { maxInstances: 5, budgetPerHour: 0.5, idleTimeoutSeconds: 600 },
    });
    expect(servingValuePerSlot(CPU_REPLICA, sloServiceBasis(input))).toBeCloseTo(
      SERVING_MARGIN * 0.5 * (600 / 3600) * 2 + SERVING_FLOOR,
      9,
    );
  });

  it('reads a fifo job at its aged value now and a deadline job at its priority times value', () => {
    const fifo = job({ id: 'f', policy: 'fifo', submittedAt: NOW - 3600_000, priority: 2 });
    expect(batchValueCeiling(fifo, NOW)).toBe(2 * 1 * 2);
    expect(batchValueCeiling(job({ value: 30, priority: 3 }), NOW)).toBe(90);
    expect(batchValueCeiling(replica(), NOW)).toBeUndefined();
  });

  it('scales with the job priority but never drops below the unprioritised value', () => {
    const base = strlLeaves(sloServicePolicy().toStrl(replica(), ctx()))[0]!.value;
    const high = strlLeaves(sloServicePolicy().toStrl(replica({ priority: 3 }), ctx()))[0]!.value;
    const low = strlLeaves(sloServicePolicy().toStrl(replica({ priority: 0.1 }), ctx()))[0]!.value;
    expect(high).toBeCloseTo(3 * base, 9);
    expect(low).toBe(base);
  });
});

describe('slo-service policy: registry', () => {
  it('is among the policies a cycle plans with, valued for that cycle', () => {
    const batch = job({ id: 'batch', value: 50, deadline: h(1) });
    const registry = policiesFor(placementInput({ slots: SLOTS, jobs: [batch, replica()] }));
    expect([...registry.keys()].sort()).toEqual(['deadline', 'fifo', 'slo-service']);
    const ls = strlLeaves(jobToStrl(registry, replica(), ctx()));
    expect(ls[0]!.value / SLOTS).toBeGreaterThan(50);
  });

  it('is not among the context-free default policies', () => {
    expect(DEFAULT_POLICIES.has('slo-service')).toBe(false);
  });
});
