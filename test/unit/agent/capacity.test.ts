import { describe, expect, it } from 'vitest';
import { detectCapacity, parseNvidiaSmi } from '../../../agent/capacity.ts';

const host = { cpus: () => new Array(8).fill({}), totalmem: () => 32 * 1024 * 1024 * 1024 };
const smi = '0, NVIDIA A10G, 23028 MiB\n1, NVIDIA A10G, 23028 MiB\n';

describe('capacity detection', () => {
  it('parses nvidia-smi CSV lines into GPUs ordered by index', () => {
    expect(parseNvidiaSmi('1, NVIDIA L4, 23034 MiB\n0, NVIDIA L4, 23034 MiB\n\ngarbage\n')).toEqual([
      { index: 0, name: 'NVIDIA L4', memoryMiB: 23034 },
      { index: 1, name: 'NVIDIA L4', memoryMiB: 23034 },
    ]);
  });

  it('takes vCPU and memory from the OS and GPUs from nvidia-smi', async () => {
    const found = await detectCapacity({ declared: {}, runNvidiaSmi: async () => smi, os: host });
    expect(found.capacity).toEqual({ vcpu: 8, memoryMiB: 32768, gpus: 2 });
    expect(found.gpuSource).toBe('nvidia-smi');
  });

  it('falls back to the instance type when there is no nvidia-smi', async () => {
    const found = await detectCapacity({
      declared: {},
      instanceType: 'g5.12xlarge',
      runNvidiaSmi: async () => undefined,
      os: host,
    });
    expect(found.capacity.gpus).toBe(4);
    expect(found.gpuSource).toBe('instance-type');
    expect(found.gpus[0]?.name).toBe('A10G');
  });

  it('lets declared capacity override what it detects', async () => {
    const found = await detectCapacity({
      declared: { vcpu: 2, memoryMiB: 4096, gpus: 1 },
      runNvidiaSmi: async () => smi,
      os: host,
    });
    expect(found.capacity).toEqual({ vcpu: 2, memoryMiB: 4096, gpus: 1 });
    expect(found.gpus).toEqual([{ index: 0, name: 'NVIDIA A10G', memoryMiB: 23028 }]);
  });

  it('reports no GPUs on a CPU host of unknown type', async () => {
    const found = await detectCapacity({ declared: {}, runNvidiaSmi: async () => undefined, os: host });
    expect(found).toMatchObject({ capacity: { gpus: 0 }, gpus: [], gpuSource: 'none' });
  });
});
