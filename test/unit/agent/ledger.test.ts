import { describe, expect, it } from 'vitest';
import { CapacityLedger } from '../../../agent/ledger.ts';

describe('capacity ledger', () => {
  const capacity = { vcpu: 4, memoryMiB: 4096, gpus: 2 };

  it('admits tasks until a dimension runs out and frees it on release', () => {
    const ledger = new CapacityLedger(capacity);
    expect(ledger.tryReserve('a', { vcpu: 3, memoryMiB: 1024, gpus: 0 }, [])).toBe(true);
    expect(ledger.tryReserve('b', { vcpu: 2, memoryMiB: 1024, gpus: 0 }, [])).toBe(false);
    expect(ledger.free()).toEqual({ vcpu: 1, memoryMiB: 3072, gpus: 2 });
    ledger.release('a');
    expect(ledger.tryReserve('b', { vcpu: 2, memoryMiB: 1024, gpus: 0 }, [])).toBe(true);
  });

  it('never gives one GPU index to two tasks', () => {
    const ledger = new CapacityLedger(capacity);
    const oneGpu = { vcpu: 1, memoryMiB: 1, gpus: 1 };
    expect(ledger.tryReserve('a', oneGpu, [1])).toBe(true);
    expect(ledger.tryReserve('b', oneGpu, [1])).toBe(false);
    expect(ledger.tryReserve('c', oneGpu, [0])).toBe(true);
    expect(ledger.freeGpuIndices()).toEqual([]);
  });

  it('says why a task can never run here', () => {
    const ledger = new CapacityLedger(capacity);
    expect(ledger.whyNever({ vcpu: 8, memoryMiB: 1, gpus: 0 }, [])).toBe(
      'needs 8 vCPU, 1 MiB, 0 GPU but this instance has 4 vCPU, 4096 MiB, 2 GPU',
    );
    expect(ledger.whyNever({ vcpu: 1, memoryMiB: 1, gpus: 1 }, [2])).toContain('gpuIndices [2] do not exist');
    expect(ledger.whyNever({ vcpu: 4, memoryMiB: 4096, gpus: 2 }, [0, 1])).toBeUndefined();
  });
});
