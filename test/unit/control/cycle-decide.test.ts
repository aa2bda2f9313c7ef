import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildPlacementInput } from '../../../lib/core/control/capacity.ts';
import { parseCycleConfig } from '../../../lib/core/control/cycle-config.ts';
import { type CycleDecision, decideCycle, hostKey } from '../../../lib/core/control/cycle-decide.ts';
import {
  decideHousekeeping,
  planningView,
  REPORT_LAG_CREDIT_TIMEOUTS,
  reportLagMs,
} from '../../../lib/core/control/cycle-housekeeping.ts';
import type { CycleState } from '../../../lib/core/control/cycle-state.ts';
import { REBALANCE_SERVE_SECONDS } from '../../../lib/core/control/ingest.ts';
import type { TaskRecord } from '../../../lib/core/control/task-record.ts';
import { findInstanceType, INSTANCE_CATALOG } from '../../../lib/core/model/catalog.ts';
import type { Instance } from '../../../lib/core/model/instance.ts';
import type { Job } from '../../../lib/core/model/job.ts';
import { addResources, fits, type Resources, ZERO_RESOURCES } from '../../../lib/core/model/resources.ts';
import { planGreedy } from '../../../lib/core/placement/plan.ts';
import { cloudOf, storedInstance, storedTask } from '../../fakes/fake-stores.ts';
import { job, NOW } from '../../support/builders.ts';

const TYPES = ['c7i.large', 'm7i.xlarge', 'g5.xlarge', 'g5.12xlarge'];
const config = parseCycleConfig({
  slotSeconds: 600,
  slots: 6,
  allowedInstanceTypes: TYPES,
  maxInstances: 8,
  budgetPerHour: 30,
});

const demandArb = fc.record({
  vcpu: fc.constantFrom(0.5, 1, 2, 4, 8),
  memoryMiB: fc.constantFrom(512, 2048, 8192, 16_384),
  gpus: fc.constantFrom(0, 0, 1, 2),
});

const instanceArb = fc.record({
  type: fc.constantFrom(...TYPES),
  booting: fc.boolean(),
  tasks: fc.array(fc.record({ demand: demandArb, endMinutes: fc.integer({ min: -30, max: 180 }) }), {
    maxLength: 5,
  }),
});

const jobArb = fc.record({
  demand: demandArb,
  gang: fc.integer({ min: 1, max: 3 }),
  minutes: fc.integer({ min: 5, max: 50 }),
});

/** Packs tasks onto an instance while they fit, giving each the lowest free GPU indices, as a real fleet would be. */
function packTasks(
  inst: Instance,
  tasks: { demand: Resources; endMinutes: number }[],
  n: number,
): TaskRecord[] {
  let used: Resources = ZERO_RESOURCES;
  let nextGpu = 0;
  return tasks.flatMap((t, k) => {
    if (!fits(addResources(used, t.demand), inst.capacity)) return [];
    used = addResources(used, t.demand);
    const gpuIndices = Array.from({ length: t.demand.gpus }, (_, g) => nextGpu + g);
    nextGpu += t.demand.gpus;
    const owner = { id: `running-${n}-${k}`, attempts: 1 };
    return [
      storedTask(owner, inst, {
        now: NOW,
        resources: t.demand,
        gpuIndices,
        expectedEndAt: NOW + t.endMinutes * 60_000,
      }),
    ];
  });
}

const stateArb = fc
  .record({ instances: fc.array(instanceArb, { maxLength: 4 }), jobs: fc.array(jobArb, { maxLength: 6 }) })
  .map(({ instances, jobs }): CycleState => {
    const fleet = instances.map((i, n) =>
      storedInstance(i.type, {
        id: `i-${n}`,
        now: NOW,
        ...(i.booting
          ? {
              state: 'PENDING' as const,
              lastHeartbeatAt: undefined,
              launchedAt: NOW - 30_000,
              readyAt: NOW + 120_000,
            }
          : {}),
      }),
    );
    const tasks = fleet.flatMap((inst, n) => packTasks(inst, instances[n]!.tasks, n));
    const pending: Job[] = jobs.map((j, n) => {
      const p = job({
        id: `job-${n}`,
        vcpu: j.demand.vcpu,
        memoryMiB: j.demand.memoryMiB,
        gpus: j.demand.gpus,
        gang: j.gang,
        duration: j.minutes * 60,
      });
      return { ...p, status: 'PENDING', version: 1, updatedAt: NOW };
    });
    return {
      now: NOW,
      pending,
      instances: fleet,
      tasks,
      cloud: fleet.map((i) => cloudOf(i)),
      cancelRequested: [],
      untrackedRecords: [],
      placedJobs: [],
    };
  });

const emptyState: CycleState = {
  now: NOW,
  pending: [],
  instances: [],
  tasks: [],
  cloud: [],
  cancelRequested: [],
  untrackedRecords: [],
  placedJobs: [],
};

function decide(state: CycleState): CycleDecision {
  const housekeeping = decideHousekeeping(state, config);
  const view = planningView(state, housekeeping);
  const plan = planGreedy(buildPlacementInput(view, config, NOW), { catalog: INSTANCE_CATALOG });
  return decideCycle({ cycleId: 'prop', now: NOW, config, view, housekeeping, plan });
}

function capacityOf(key: string, state: CycleState): Resources {
  const inst = state.instances.find((i) => `existing:${i.id}` === key);
  if (inst) return inst.capacity;
  const type = findInstanceType(key.split(':')[1] ?? '');
  if (!type) throw new Error(`no capacity known for ${key}`);
  return { vcpu: type.vcpu, memoryMiB: type.memoryMiB, gpus: type.gpus };
}

describe('cycle decision', () => {
  it('never over-commits an instance with the tasks it commits plus those already active', () => {
    const seen = { existing: 0, new: 0, gpu: 0 };
    fc.assert(
      fc.property(stateArb, (state) => {
        const d = decide(state);
        for (const c of d.commits)
          for (const t of c.tasks) {
            seen[t.target.kind]++;
            if (t.gpuIndices.length > 0) seen.gpu++;
          }
        const held = new Map<string, Resources>();
        const gpus = new Map<string, number[]>();
        const add = (key: string, r: Resources, idx: readonly number[]) => {
          held.set(key, addResources(held.get(key) ?? ZERO_RESOURCES, r));
          gpus.set(key, [...(gpus.get(key) ?? []), ...idx]);
        };
        for (const t of state.tasks) add(`existing:${t.instanceId}`, t.resources, t.gpuIndices);
        for (const c of d.commits) for (const t of c.tasks) add(hostKey(t.target), t.resources, t.gpuIndices);
        for (const [key, r] of held) {
          const cap = capacityOf(key, state);
          expect(fits(r, cap), `${key} holds ${JSON.stringify(r)} of ${JSON.stringify(cap)}`).toBe(true);
          const idx = gpus.get(key) ?? [];
          expect(new Set(idx).size).toBe(idx.length);
          expect(idx.every((g) => g < cap.gpus)).toBe(true);
        }
        for (const c of d.commits) {
          expect(c.tasks).toHaveLength(c.job.spec.gang);
          for (const t of c.tasks) expect(t.runTask.gpuIndices).toEqual(t.gpuIndices);
        }
      }),
      { numRuns: 150 },
    );
    // The property means something only if commits to both kinds of host, GPU ones included, occurred.
    expect(seen.existing).toBeGreaterThan(0);
    expect(seen.new).toBeGreaterThan(0);
    expect(seen.gpu).toBeGreaterThan(0);
  });

  it('launches only as many instances as the committed tasks use', () => {
    fc.assert(
      fc.property(stateArb, (state) => {
        const d = decide(state);
        const used = new Set(
          d.commits.flatMap((c) =>
            c.tasks.flatMap((t) => (t.target.kind === 'new' ? [hostKey(t.target)] : [])),
          ),
        );
        const launched = d.launches.reduce((n, l) => n + l.request.count, 0);
        expect(launched).toBe(used.size);
      }),
      { numRuns: 100 },
    );
  });
});

describe('cycle decision guard', () => {
  it('skips a job whose plan would over-commit an instance the planner saw as empty', () => {
    const inst = storedInstance('g5.xlarge', { id: 'i-1', now: NOW });
    const holder = storedTask({ id: 'old', attempts: 1 }, inst, {
      now: NOW,
      resources: { vcpu: 2, memoryMiB: 4096, gpus: 1 },
      gpuIndices: [0],
    });
    const gpu = {
      ...job({ id: 'gpu', gpus: 1, vcpu: 1 }),
      status: 'PENDING' as const,
      version: 1,
      updatedAt: NOW,
    };
    const view = { instances: [inst], tasks: [holder], jobs: [gpu], skipped: [] };
    // A plan made without the active task, as a stale or buggy planner would make it.
    const plan = planGreedy(buildPlacementInput({ ...view, tasks: [] }, config, NOW), {
      catalog: INSTANCE_CATALOG,
    });
    expect(plan.placements.some((p) => p.jobId === 'gpu' && p.target.kind === 'existing')).toBe(true);
    const hk = decideHousekeeping(
      { ...emptyState, instances: [inst], tasks: [holder], cloud: [cloudOf(inst)] },
      config,
    );

    const d = decideCycle({ cycleId: 'g', now: NOW, config, view, housekeeping: hk, plan });

    expect(d.commits.map((c) => c.job.id)).not.toContain('gpu');
    expect(d.skipped).toContainEqual({
      jobId: 'gpu',
      reason: expect.stringContaining('would over-commit existing:i-1'),
    });
  });
});

describe('housekeeping', () => {
  /** A RUNNING instance whose last heartbeat was sent `sentAgo` s before NOW and applied `appliedAgo` s before. */
  const heard = (id: string, sentAgo: number, appliedAgo: number) =>
    storedInstance('m7i.xlarge', {
      id,
      now: NOW,
      lastHeartbeatAt: NOW - sentAgo * 1000,
      heartbeatAppliedAt: NOW - appliedAgo * 1000,
    });

  it('measures how late reports arrive: the median over fresh heartbeats, capped at four timeouts', () => {
    const timeout = config.heartbeatTimeoutSeconds;
    expect(timeout).toBe(180);
    // One agent with a skewed clock (170 s) does not set it; a heartbeat applied longer ago than the
    // timeout says nothing about now.
    const fleet = [heard('i-1', 11, 10), heard('i-2', 52, 2), heard('i-3', 61, 1), heard('i-4', 171, 1)];
    expect(reportLagMs([...fleet, heard('i-old', 900, 600)], NOW, config)).toBe(55_000);
    expect(reportLagMs(fleet.slice(0, 3), NOW, config)).toBe(50_000);
    expect(reportLagMs([heard('i-5', 500, 1)], NOW, config)).toBe(499_000);
    expect(reportLagMs([heard('i-5', 2_000, 1)], NOW, config)).toBe(
      REPORT_LAG_CREDIT_TIMEOUTS * timeout * 1000,
    );
    expect(reportLagMs([heard('i-old', 900, 600)], NOW, config)).toBe(0);
    expect(reportLagMs([storedInstance('m7i.xlarge', { id: 'i-6', now: NOW })], NOW, config)).toBe(0);
    // A clock ahead of the control plane's counts as no lag, not a negative one.
    expect(reportLagMs([heard('i-7', 1, 3)], NOW, config)).toBe(0);
  });

  it('does not retire a live fleet when its reports arrive late, but does retire a dead instance', () => {
    const live = ['i-a', 'i-b', 'i-c'].map((id) => heard(id, 200, 1));
    const dead = heard('i-dead', 400, 399);
    const hk = decideHousekeeping(
      { ...emptyState, instances: [...live, dead], cloud: [...live, dead].map((i) => cloudOf(i)) },
      config,
    );
    expect(hk.reportLagMs).toBe(199_000);
    expect(hk.retirements).toEqual([
      expect.objectContaining({
        instanceId: 'i-dead',
        reason: 'no heartbeat for 400s (timeout 180s; reports reach the control plane 199s late)',
      }),
    ]);
    // The same silences with reports applied as they are sent: every instance is silent past the timeout.
    const prompt = [...live, dead].map((i) => ({ ...i, heartbeatAppliedAt: i.lastHeartbeatAt }));
    const without = decideHousekeeping(
      { ...emptyState, instances: prompt, cloud: prompt.map((i) => cloudOf(i)) },
      config,
    );
    expect(without.reportLagMs).toBe(0);
    expect(without.retirements.map((r) => r.instanceId)).toEqual(['i-a', 'i-b', 'i-c', 'i-dead']);
    expect(without.retirements[0]?.reason).toBe('no heartbeat for 200s (timeout 180s)');
  });

  it('terminates, without recording, cloud instances the fleet cannot use', () => {
    const written = storedInstance('m7i.xlarge', { id: 'i-old', now: NOW, state: 'TERMINATED' });
    const terminating = storedInstance('m7i.xlarge', { id: 'i-term', now: NOW, state: 'TERMINATING' });
    const hk = decideHousekeeping(
      {
        ...emptyState,
        instances: [terminating],
        untrackedRecords: [written],
        cloud: [
          cloudOf(written),
          cloudOf(terminating),
          { ...cloudOf(written), id: 'i-odd', type: 'x9.weird' },
        ],
      },
      config,
    );
    expect(hk.cloudTerminations.map((t) => t.instanceId).sort()).toEqual(['i-odd', 'i-old', 'i-term']);
    expect(hk.adoptions).toEqual([]);
    expect(hk.retirements).toEqual([]);
  });

  it('retires a cordoned instance once its work has moved or finished and its moved tasks have served on', () => {
    const cordoned = (id: string, agoMs: number, over: Partial<Instance> = {}) =>
      storedInstance('g5.xlarge', {
        id,
        now: NOW,
        market: 'spot',
        state: 'DRAINING',
        rebalanceRecommendedAt: NOW - agoMs,
        ...over,
      });
    const done = cordoned('i-done', REBALANCE_SERVE_SECONDS * 1000);
    const serving = cordoned('i-serving', REBALANCE_SERVE_SECONDS * 1000 - 1);
    const busy = cordoned('i-busy', 3_600_000);
    const warned = cordoned('i-warned', 3_600_000, { interruptionWarnedAt: NOW - 10_000 });
    const scaleIn = storedInstance('g5.xlarge', { id: 'i-scale-in', now: NOW, state: 'DRAINING' });
    const all = [done, serving, busy, warned, scaleIn];
    const hk = decideHousekeeping(
      {
        ...emptyState,
        instances: all,
        tasks: [storedTask({ id: 'batch', attempts: 1 }, busy, { now: NOW })],
        cloud: all.map((i) => cloudOf(i)),
      },
      config,
    );
    expect(hk.retirements).toEqual([
      {
        instanceId: 'i-done',
        version: done.version,
        queueUrl: done.queueUrl,
        terminate: true,
        reason: `rebalance recommended ${REBALANCE_SERVE_SECONDS}s ago; its work has moved or finished`,
      },
    ]);
    expect(hk.requeues).toEqual([]);
  });

  it('retires a stopped instance and one the cloud lost, but not one launched moments ago', () => {
    const stopped = storedInstance('m7i.xlarge', { id: 'i-stopped', now: NOW });
    const lost = storedInstance('m7i.xlarge', { id: 'i-lost', now: NOW });
    const fresh = storedInstance('m7i.xlarge', {
      id: 'i-fresh',
      now: NOW,
      state: 'PENDING',
      launchedAt: NOW - 5000,
    });
    const hk = decideHousekeeping(
      { ...emptyState, instances: [stopped, lost, fresh], cloud: [cloudOf(stopped, 'stopped')] },
      config,
    );
    expect(hk.retirements.map((r) => [r.instanceId, r.terminate])).toEqual([
      ['i-stopped', true],
      ['i-lost', false],
    ]);
  });
});
