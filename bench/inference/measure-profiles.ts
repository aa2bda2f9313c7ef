/**
 * Measures every benchmark model on this machine with the agent's profile mode and writes
 * bench/inference/profiles.json, which the inference bench reads (re-run with `--measure` there, or
 * `tsx bench/inference/measure-profiles.ts`).
 *
 * This machine has 2 vCPUs of an x86-64 server CPU, and every model is profiled with 2 intra-op threads,
 * so the reports are labelled c7i.large (2 vCPUs): the catalog's smallest current-generation x86 CPU type
 * with the same vCPU count. Per-core speed is assumed comparable, not measured against a real c7i. Other
 * instance types are derived from these reports by deriveForType (lib/core/inference/derivation.ts) and
 * marked derived. The machine is shared, so tail latencies include other load; the P99 figures the
 * planner uses are therefore on the pessimistic side.
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { profileModelFile } from '../../agent/model-server/profile.ts';
import type { ModelProfile } from '../../lib/core/protocol/inference.ts';
import { modelTempDir, writeModel } from '../../lib/onnx/index.ts';
import { MODELS } from './pipelines.ts';

export const MEASURED_TYPE = 'c7i.large';
export const PROFILES_PATH = join(dirname(fileURLToPath(import.meta.url)), 'profiles.json');

export interface ProfilesFile {
  readonly measuredAs: string;
  readonly basis: string;
  readonly machine: { readonly cpu: string; readonly vcpus: number; readonly loadAverage: readonly number[] };
  readonly intraOpThreads: number;
  readonly latencyFigure: 'p99';
  readonly models: readonly { readonly id: string; readonly what: string }[];
  readonly reports: readonly ModelProfile[];
}

export async function measureProfiles(log: (m: string) => void): Promise<ProfilesFile> {
  const { dir, cleanup } = await modelTempDir('tetrafleet-bench-inference-');
  const reports: ModelProfile[] = [];
  const load = loadavg();
  try {
    for (const m of MODELS) {
      const path = await writeModel(join(dir, `${m.id}.onnx`), m.build());
      log(`profiling ${m.id} (${m.what})`);
      reports.push(
        await profileModelFile(path, {
          modelId: m.id,
          instanceType: MEASURED_TYPE,
          // A heavy model's batch of 16 takes seconds here: fewer samples keep the run to minutes.
          maxBatch: m.heavy ? 16 : 32,
          intraOpThreads: 2,
          provider: 'cpu',
          minSamples: m.heavy ? 10 : 40,
          minDurationMs: m.heavy ? 0 : 800,
          maxSamples: 400,
          log: (line) => log(`  ${line}`),
        }),
      );
    }
  } finally {
    await cleanup();
  }
  return {
    measuredAs: MEASURED_TYPE,
    basis:
      'measured with the agent profile mode (agent/model-server/profile.ts) on a 2-vCPU x86-64 machine with 2 intra-op threads; labelled c7i.large, the catalog type with the same vCPU count (per-core speed assumed comparable, not checked against a real c7i); every other type is derived by deriveForType and marked derived',
    machine: { cpu: cpus()[0]?.model ?? 'unknown', vcpus: cpus().length, loadAverage: load },
    intraOpThreads: 2,
    latencyFigure: 'p99',
    models: MODELS.map((m) => ({ id: m.id, what: m.what })),
    reports,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = await measureProfiles((m) => process.stderr.write(`${m}\n`));
  writeFileSync(PROFILES_PATH, `${JSON.stringify(file, null, 2)}\n`);
  process.stderr.write(`wrote ${PROFILES_PATH}\n`);
}

/** Per model: the measured P50 and P99 per batch size, as the bench reports them. */
export type MeasuredFigures = Record<string, { batch: number; p50Ms: number; p99Ms: number }[]>;
