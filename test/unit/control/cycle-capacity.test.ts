/** The capacity a cycle plans with (held slots, booting instances) and the cycle's configuration. */
import { describe, expect, it } from 'vitest';
import { buildPlacementInput, freeBySlot, heldSlots } from '../../../lib/core/control/capacity.ts';
import { parseCycleConfig } from '../../../lib/core/control/cycle-config.ts';
import { storedInstance, storedTask } from '../../fakes/fake-stores.ts';
import { NOW } from '../../support/builders.ts';

const TYPES = ['c7i.large', 'm7i.xlarge', 'g5.xlarge'];
const config = parseCycleConfig({ slotSeconds: 600, slots: 6, allowedInstanceTypes: TYPES });

describe('capacity', () => {
  const grid = { now: NOW, slotSeconds: 600, slots: 4 };
  const inst = storedInstance('m7i.xlarge', { id: 'i-1', now: NOW });

  it('holds a task past its expected end for one more slot', () => {
    const late = storedTask({ id: 'j', attempts: 1 }, inst, { now: NOW, expectedEndAt: NOW - 60_000 });
    expect(heldSlots(late, grid)).toEqual([0, 1]);
    expect(freeBySlot(inst.capacity, [late], grid).map((r) => r.vcpu)).toEqual([3, 4, 4, 4]);
  });

  it('holds a task until the slot its expected end falls in', () => {
    const task = storedTask({ id: 'j', attempts: 1 }, inst, { now: NOW, expectedEndAt: NOW + 15 * 60_000 });
    expect(heldSlots(task, grid)).toEqual([0, 2]);
  });

  it('makes a booting instance available from the slot its ready time falls in', () => {
    const booting = storedInstance('m7i.xlarge', {
      id: 'i-2',
      now: NOW,
      state: 'PENDING',
      lastHeartbeatAt: undefined,
      readyAt: NOW + 700_000,
    });
    const input = buildPlacementInput({ instances: [booting], tasks: [], jobs: [] }, config, NOW);
    expect(input.instances[0]?.availableFromSlot).toBe(1);
    expect(input.launchable.map((l) => l.type.name).sort()).toEqual([...TYPES].sort());
  });
});

describe('cycle config', () => {
  it('fills in documented defaults', () => {
    expect(parseCycleConfig({})).toMatchObject({ slotSeconds: 300, slots: 24, leaseTtlSeconds: 90 });
  });

  it('fails when fields are bad, naming every one with what is allowed', () => {
    expect(() =>
      parseCycleConfig({
        slots: 0,
        allowedInstanceTypes: ['z9.huge'],
        leaseTtlSeconds: 1,
        solveTimeLimitMs: 5000,
      }),
    ).toThrow(/slots: slots must be at least 1.*allowedInstanceTypes\.0: unknown instance type z9\.huge/);
    expect(() => parseCycleConfig({ leaseTtlSeconds: 1, solveTimeLimitMs: 5000 })).toThrow(
      'leaseTtlSeconds must outlast the solve budget (5s), got 1',
    );
  });
});
