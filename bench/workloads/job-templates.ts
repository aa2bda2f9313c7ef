/**
 * Seeded job templates for placement workloads: mixed CPU and GPU jobs with 1-4 alternatives, GPU
 * speed-ups of 2-10x over the CPU alternative, deadlines at a slack of 1.2-3x the fastest alternative,
 * and a value that pays for the cheapest way to run the job a few times over. Alternatives are
 * listed in random order, as users would list them: nothing here favours one scheduler.
 */
import type { InstanceType } from '../../lib/core/model/instance-type.ts';
import { type Alternative, type JobSpec, JobSpecSchema, type Requirement } from '../../lib/core/model/job.ts';
import { mulberry32 } from '../../lib/core/random.ts';

/** mulberry32: a small, fast, seeded PRNG; good enough for synthetic workloads. */
export const rng: (seed: number) => () => number = mulberry32;

export type Random = () => number;

export const uniform = (r: Random, lo: number, hi: number): number => lo + (hi - lo) * r();
export const logUniform = (r: Random, lo: number, hi: number): number =>
  Math.exp(uniform(r, Math.log(lo), Math.log(hi)));
export const pick = <T>(r: Random, items: readonly T[]): T => {
  const item = items[Math.floor(r() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
};

function shuffle<T>(r: Random, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    const a = items[i] as T;
    items[i] = items[j] as T;
    items[j] = a;
  }
  return items;
}

const GIB = 1024;
/** Relative speed of GPU models against the A10G, for a job whose A10G speed-up is s. */
const GPU_SPEED: Readonly<Record<string, number>> = { A10G: 1, L4: 1.1, T4: 0.55 };

function requirement(vcpu: number, memoryGiB: number, gpus = 0, gpuModel?: string): Requirement {
  return {
    vcpu,
    memoryMiB: Math.round(memoryGiB * GIB),
    gpus,
    ...(gpuModel ? { gpuModel } : {}),
    spot: false,
  };
}

function cpuAlternatives(r: Random, cpuSeconds: number): Alternative[] {
  const vcpu = pick(r, [2, 4, 8, 16]);
  const alts: Alternative[] = [
    {
      name: 'cpu',
      requirement: requirement(vcpu, vcpu * pick(r, [2, 4, 8])),
      durationSeconds: Math.round(cpuSeconds),
    },
  ];
  // Some jobs scale out: twice the cores for a little more than half the time.
  if (r() < 0.5) {
    alts.push({
      name: 'cpu-wide',
      requirement: requirement(vcpu * 2, vcpu * 2 * pick(r, [2, 4])),
      durationSeconds: Math.round(cpuSeconds * uniform(r, 0.52, 0.7)),
    });
  }
  return alts;
}

function gpuAlternatives(r: Random, cpuSeconds: number, room: number): Alternative[] {
  const speedup = uniform(r, 2, 10);
  const models = shuffle(r, Object.keys(GPU_SPEED));
  const count = Math.min(room, 1 + (r() < 0.4 ? 1 : 0));
  const alts: Alternative[] = [];
  for (let k = 0; k < count; k++) {
    const model = models[k] ?? 'A10G';
    const pinned = r() < 0.6;
    const s = Math.min(10, Math.max(2, speedup * (pinned ? (GPU_SPEED[model] ?? 1) : 0.55)));
    alts.push({
      name: pinned ? `gpu-${model.toLowerCase()}` : 'gpu-any',
      requirement: requirement(pick(r, [2, 4]), pick(r, [8, 12, 16]), 1, pinned ? model : undefined),
      durationSeconds: Math.max(60, Math.round(cpuSeconds / s)),
    });
  }
  return alts;
}

/** The cheapest $ to run one task of `alt` on the cheapest type that fits it (its share of that type). */
export function alternativeCost(alt: Alternative, types: readonly InstanceType[]): number {
  let best = Number.POSITIVE_INFINITY;
  const q = alt.requirement;
  for (const t of types) {
    if (t.vcpu < q.vcpu || t.memoryMiB < q.memoryMiB || t.gpus < q.gpus) continue;
    if (q.gpuModel && t.gpuModel !== q.gpuModel) continue;
    const share = Math.max(q.vcpu / t.vcpu, q.memoryMiB / t.memoryMiB, t.gpus > 0 ? q.gpus / t.gpus : 0);
    best = Math.min(best, share * t.onDemandPerHour * (alt.durationSeconds / 3600));
  }
  return best;
}

/** The cheapest way to run the whole job (all gang members), over its alternatives. */
export function nominalJobCost(spec: JobSpec, types: readonly InstanceType[]): number {
  return spec.gang * Math.min(...spec.alternatives.map((a) => alternativeCost(a, types)));
}

export interface TemplateOptions {
  /** Share of templates that have GPU alternatives. @default 0.6 */
  readonly gpuShare?: number;
}

/** One job template (a validated JobSpec). */
export function makeTemplate(
  r: Random,
  index: number,
  types: readonly InstanceType[],
  options: TemplateOptions = {},
): JobSpec {
  const gpu = r() < (options.gpuShare ?? 0.6);
  const cpuSeconds = gpu ? logUniform(r, 1200, 4 * 3600) : logUniform(r, 600, 2 * 3600);
  const cpu = cpuAlternatives(r, cpuSeconds);
  const alternatives = shuffle(r, gpu ? [...cpu, ...gpuAlternatives(r, cpuSeconds, 4 - cpu.length)] : cpu);
  const fastest = Math.min(...alternatives.map((a) => a.durationSeconds));
  const deadlineSeconds = Math.round(fastest * uniform(r, 1.2, 3));
  const gangDraw = r();
  const gang = gangDraw < 0.85 ? 1 : gangDraw < 0.95 ? 2 : 4;
  const draft: JobSpec = {
    name: `tpl-${index}`,
    owner: 'bench',
    policy: 'deadline',
    priority: 1,
    task: { kind: 'command', command: 'train', args: [], env: {} },
    gang,
    alternatives,
    utility: { deadlineSeconds, value: 1, decay: { shape: 'linear', overSeconds: deadlineSeconds } },
    maxAttempts: 3,
    labels: { template: String(index) },
  };
  const value = Math.max(0.05, Math.round(nominalJobCost(draft, types) * uniform(r, 2, 6) * 100) / 100);
  return JobSpecSchema.parse({ ...draft, utility: { ...draft.utility, value } });
}
