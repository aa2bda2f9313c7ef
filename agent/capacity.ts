import { execFile } from 'node:child_process';
import os from 'node:os';
import { findInstanceType } from '../lib/core/model/catalog.ts';
import type { Resources } from '../lib/core/model/resources.ts';
import type { GpuInfo } from '../lib/core/protocol/heartbeat.ts';

/**
 * What this instance can run. vCPU and memory come from the OS; GPUs from nvidia-smi when the driver is
 * there, else from the catalog entry of the instance type. A declared dimension (local mode, where many
 * agents share one host) overrides whatever was detected.
 */

export interface DetectedCapacity {
  readonly capacity: Resources;
  readonly gpus: readonly GpuInfo[];
  /** Where the GPU count came from, for the start-up log. */
  readonly gpuSource: 'declared' | 'nvidia-smi' | 'instance-type' | 'none';
}

/** Runs nvidia-smi; resolves undefined when it is absent or fails (a CPU instance). */
export type RunNvidiaSmi = () => Promise<string | undefined>;

export const NVIDIA_SMI_ARGS = ['--query-gpu=index,name,memory.total', '--format=csv,noheader'];

export function nvidiaSmiRunner(command: string, timeoutMs = 10_000): RunNvidiaSmi {
  return () =>
    new Promise((resolve) => {
      execFile(command, NVIDIA_SMI_ARGS, { timeout: timeoutMs }, (error, stdout) => {
        resolve(error ? undefined : stdout);
      });
    });
}

/** Parse `0, NVIDIA A10G, 23028 MiB` lines; lines that do not parse are skipped. */
export function parseNvidiaSmi(csv: string): GpuInfo[] {
  const gpus: GpuInfo[] = [];
  for (const line of csv.split(/\r?\n/)) {
    const [index, name, memory] = line.split(',').map((f) => f.trim());
    if (!index || !/^\d+$/.test(index) || !name) continue;
    const mib = /^(\d+)\s*MiB$/i.exec(memory ?? '');
    gpus.push({ index: Number(index), name, ...(mib?.[1] ? { memoryMiB: Number(mib[1]) } : {}) });
  }
  return gpus.sort((a, b) => a.index - b.index);
}

export interface CapacityInputs {
  readonly declared: { vcpu?: number; memoryMiB?: number; gpus?: number };
  readonly instanceType?: string;
  readonly runNvidiaSmi: RunNvidiaSmi;
  readonly os?: { cpus(): unknown[]; totalmem(): number };
}

export async function detectCapacity(inputs: CapacityInputs): Promise<DetectedCapacity> {
  const host = inputs.os ?? os;
  const vcpu = inputs.declared.vcpu ?? host.cpus().length;
  const memoryMiB = inputs.declared.memoryMiB ?? Math.floor(host.totalmem() / (1024 * 1024));
  const found = parseNvidiaSmi((await inputs.runNvidiaSmi()) ?? '');
  const catalog = inputs.instanceType ? findInstanceType(inputs.instanceType) : undefined;

  if (inputs.declared.gpus !== undefined) {
    const count = inputs.declared.gpus;
    // Keep what nvidia-smi says about the GPUs we are allowed to use; name the rest after the catalog.
    const gpus = Array.from(
      { length: count },
      (_, index) => found.find((g) => g.index === index) ?? { index, name: catalog?.gpuModel ?? 'declared' },
    );
    return { capacity: { vcpu, memoryMiB, gpus: count }, gpus, gpuSource: 'declared' };
  }
  if (found.length > 0)
    return { capacity: { vcpu, memoryMiB, gpus: found.length }, gpus: found, gpuSource: 'nvidia-smi' };
  if (catalog && catalog.gpus > 0) {
    const gpus = Array.from({ length: catalog.gpus }, (_, index) => ({
      index,
      name: catalog.gpuModel ?? 'unknown',
      ...(catalog.gpuMemoryMiB ? { memoryMiB: catalog.gpuMemoryMiB } : {}),
    }));
    return { capacity: { vcpu, memoryMiB, gpus: catalog.gpus }, gpus, gpuSource: 'instance-type' };
  }
  return { capacity: { vcpu, memoryMiB, gpus: 0 }, gpus: [], gpuSource: 'none' };
}
