import { describe, expect, it } from 'vitest';
import {
  createPolicyRegistry,
  DEFAULT_POLICIES,
  deadlinePolicy,
  fifoPolicy,
  jobToStrl,
} from '../../../lib/core/policies/index.ts';
import type { Policy, PolicyContext } from '../../../lib/core/policies/types.ts';
import { type ChooseExpr, isLeaf, leaves, nCk } from '../../../lib/core/strl/expr.ts';
import { gpuOrCpu, h, job, min, NOW } from '../../support/builders.ts';

const ctx = (over: Partial<PolicyContext> = {}): PolicyContext => ({
  now: NOW,
  slotSeconds: 600,
  slots: 12,
  poolsFor: (r) => (r.gpus > 0 ? ['gpu-pool'] : ['cpu-pool']),
  ...over,
});

function leavesOf(res: ReturnType<Policy['toStrl']>): ChooseExpr[] {
  if (!res.ok) throw new Error(res.reason);
  return leaves(res.expr);
}

describe('deadline policy', () => {
  it('offers every alternative at every start slot that can still earn value', () => {
    const j = job({ alternatives: gpuOrCpu(min(10), 8), deadline: h(1) });
    const ls = leavesOf(deadlinePolicy.toStrl(j, ctx()));
    const gpu = ls.filter((l) => l.tag?.alternative === 0);
    const cpu = ls.filter((l) => l.tag?.alternative === 1);
    // GPU: 10 minutes, must start by minute 50 -> slots 0..5. CPU: 80 minutes never meets a 1 h step deadline.
    expect(gpu.map((l) => l.start)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(cpu).toEqual([]);
    expect(gpu[0]?.partitions).toEqual(['gpu-pool']);
    expect(gpu[0]?.duration).toBe(1);
  });

  it('values a choice by the utility at its completion, times priority, earlier completion first', () => {
    const j = job({
      gpus: 1,
      duration: min(10),
      deadline: min(20),
      value: 10,
      priority: 3,
      decay: { shape: 'linear', overSeconds: min(60) },
    });
    const ls = leavesOf(deadlinePolicy.toStrl(j, ctx()));
    const at = (s: number) => ls.find((l) => l.start === s)!.value;
    expect(at(0)).toBeCloseTo(30, 2);
    // Starting in slot 2 completes at minute 30: 10 minutes late of a 60-minute linear decay.
    expect(at(2)).toBeCloseTo(30 * (5 / 6), 2);
    expect(at(0)).toBeGreaterThan(at(1));
  });

  it('scales the value of a run that spills past the window by the share inside it', () => {
    const j = job({ duration: h(3), deadline: h(10), value: 12 });
    const ls = leavesOf(deadlinePolicy.toStrl(j, ctx()));
    const last = ls.find((l) => l.start === 11)!;
    expect(last.value).toBeCloseTo(12 * (1 / 18), 2);
  });

  it('asks for the whole gang in one choice', () => {
    const ls = leavesOf(deadlinePolicy.toStrl(job({ gang: 4, gpus: 1 }), ctx()));
    expect(ls.every((l) => l.k === 4 && l.op === 'nCk')).toBe(true);
  });

  it('fails when no instance type fits any alternative', () => {
    const res = deadlinePolicy.toStrl(job({ gpus: 1 }), ctx({ poolsFor: () => [] }));
    expect(res).toEqual({
      ok: false,
      reason: 'no instance type in the fleet or catalog fits any alternative',
    });
  });

  it('fails when the deadline has passed', () => {
    const res = deadlinePolicy.toStrl(job({ deadline: min(30), submittedAt: NOW - h(1) * 1000 }), ctx());
    expect(res.ok).toBe(false);
  });
});

describe('fifo policy', () => {
  it('gives a small value that grows with waiting time', () => {
    const fresh = leavesOf(fifoPolicy.toStrl(job({ policy: 'fifo' }), ctx()));
    const old = leavesOf(fifoPolicy.toStrl(job({ policy: 'fifo', submittedAt: NOW - h(2) * 1000 }), ctx()));
    expect(fresh[0]!.value).toBeCloseTo(1, 1);
    expect(old[0]!.value).toBeCloseTo(3, 1);
    expect(fresh[0]!.value).toBeGreaterThan(fresh[5]!.value);
  });
});

describe('policy registry', () => {
  it('routes a job to the policy named in its spec', () => {
    const res = jobToStrl(DEFAULT_POLICIES, job({ policy: 'fifo' }), ctx());
    expect(res.ok && isLeaf(res.expr) === false).toBe(true);
  });

  it('fails when no policy is registered for the job', () => {
    const res = jobToStrl(DEFAULT_POLICIES, job({ policy: 'slo-service' }), ctx());
    expect(res).toEqual({ ok: false, reason: 'no policy registered for slo-service (have deadline, fifo)' });
  });

  it('lets an SLO-service policy plug in without changing the compiler', () => {
    const slo: Policy = {
      name: 'slo-service',
      toStrl: (j, c) => ({
        ok: true,
        expr: nCk(c.poolsFor(j.spec.alternatives[0]!.requirement), 2, 0, c.slots, 50, {
          vcpu: 1,
          memoryMiB: 1024,
          gpus: 0,
        }),
      }),
    };
    const res = jobToStrl(createPolicyRegistry([slo]), job({ policy: 'slo-service' }), ctx());
    expect(res.ok && leaves(res.expr)[0]?.k).toBe(2);
  });
});
