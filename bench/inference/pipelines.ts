import type { PlannerPipeline } from '../../lib/core/inference/planner.ts';
import {
  buildConvNet,
  buildMlp,
  type ConvNetSpec,
  type ConvNetSpecInput,
  ConvNetSpecSchema,
  type MlpSpec,
  type MlpSpecInput,
  MlpSpecSchema,
} from '../../lib/onnx/index.ts';

/**
 * The benchmark's models and pipelines, shaped like the InferLine paper's. Models are generated ONNX
 * graphs whose sizes give per-stage latencies of the same order as the paper's models on CPUs: light
 * pre/postprocessing MLPs (about 1-5 ms at batch 1 on 2 vCPUs), mid-size conv nets (a few ms) and
 * heavy compute-bound conv nets sized by MACs like the paper's models (ResNet-152-class 11 GMAC,
 * YOLOv3-320-class 23 GMAC, Inception-V3-class 7 GMAC), so that at 150-250 qps a heavy stage needs
 * several GPUs (or dozens of CPU replicas) while the light stages fit on small CPU types.
 */

/** A model's architecture: what `build` turns into ONNX, and what a GPU profiling run rebuilds layer for layer. */
export type BenchModelSpec =
  | ({ readonly kind: 'conv' } & ConvNetSpecInput)
  | ({ readonly kind: 'mlp' } & MlpSpecInput);

/** The spec with every default filled in, as the builders read it. */
export type ResolvedModelSpec = ({ kind: 'conv' } & ConvNetSpec) | ({ kind: 'mlp' } & MlpSpec);

export interface BenchModel {
  readonly id: string;
  readonly what: string;
  /** Heavy models (over 100 ms per query on 2 vCPUs) are profiled up to batch 8 with fewer samples. */
  readonly heavy?: boolean;
  readonly spec: BenchModelSpec;
}

export function resolveSpec(spec: BenchModelSpec): ResolvedModelSpec {
  const { kind, ...rest } = spec;
  return kind === 'conv'
    ? { kind, ...ConvNetSpecSchema.parse(rest) }
    : { kind, ...MlpSpecSchema.parse(rest) };
}

/** Bytes of one query's fp32 input and output: what a GPU replica copies to the GPU and back per query. */
export function ioBytesOf(spec: BenchModelSpec): { inputBytesPerItem: number; outputBytesPerItem: number } {
  const r = resolveSpec(spec);
  return r.kind === 'conv'
    ? { inputBytesPerItem: 4 * r.channels * r.height * r.width, outputBytesPerItem: 4 * r.classes }
    : { inputBytesPerItem: 4 * r.inputSize, outputBytesPerItem: 4 * r.outputSize };
}

/** The model's ONNX bytes. */
export function buildModel(m: BenchModel): Uint8Array {
  const { kind, ...rest } = m.spec;
  return kind === 'conv'
    ? buildConvNet(rest as ConvNetSpecInput).bytes
    : buildMlp(rest as MlpSpecInput).bytes;
}

const conv = (size: number, convChannels: number[], classes: number, seed: number): BenchModelSpec => ({
  kind: 'conv',
  channels: 3,
  height: size,
  width: size,
  convChannels,
  classes,
  seed,
});

export const MODELS: readonly BenchModel[] = [
  {
    id: 'preprocess',
    what: 'conv net 3x224x224, channels 8-16-32, 10 outputs (image normalisation / resize stand-in, about 1 ms)',
    spec: conv(224, [8, 16, 32], 10, 11),
  },
  {
    id: 'classifier',
    what: 'conv net 3x224x224, six 3x3 conv blocks 64-256-512-1024-1024-256, 1000 classes (about 11.3 GMAC per image, ResNet-152-class)',
    heavy: true,
    spec: conv(224, [64, 256, 512, 1024, 1024, 256], 1000, 12),
  },
  {
    id: 'postprocess',
    what: 'MLP 4096 -> 2048 -> 2048 -> 1000 (top-k / label mapping stand-in, about a ms)',
    spec: { kind: 'mlp', inputSize: 4096, hiddenSizes: [2048, 2048], outputSize: 1000, seed: 13 },
  },
  {
    id: 'detector',
    what: 'conv net 3x320x320, six 3x3 conv blocks 64-256-512-1024-1024-256, 100 outputs (about 23 GMAC per image, YOLOv3-320-class detector)',
    heavy: true,
    spec: conv(320, [64, 256, 512, 1024, 1024, 256], 100, 14),
  },
  {
    id: 'identifier',
    what: 'conv net 3x224x224, channels 32-64-128, 100 classes (vehicle identifier)',
    spec: conv(224, [32, 64, 128], 100, 15),
  },
  {
    id: 'human',
    what: 'conv net 3x160x160, channels 32-64-128, 10 classes (person classifier)',
    spec: conv(160, [32, 64, 128], 10, 16),
  },
  {
    id: 'fast-model',
    what: 'conv net 3x128x128, channels 32-64-128, 1000 classes (cascade: cheap first model)',
    spec: conv(128, [32, 64, 128], 1000, 17),
  },
  {
    id: 'slow-model',
    what: 'conv net 3x320x320, five 3x3 conv blocks 64-128-256-512-512, 1000 classes (about 6.8 GMAC per image, cascade: accurate second model)',
    heavy: true,
    spec: conv(320, [64, 128, 256, 512, 512], 1000, 18),
  },
];

/** A benchmark pipeline: the planner's shape plus which model each stage serves. */
export interface BenchPipeline {
  readonly name: string;
  readonly stages: readonly { readonly id: string; readonly model: string }[];
  readonly edges: readonly { readonly from: string; readonly to: string; readonly probability?: number }[];
}

export const PIPELINES: readonly BenchPipeline[] = [
  {
    name: 'image-processing',
    stages: [
      { id: 'preprocess', model: 'preprocess' },
      { id: 'classify', model: 'classifier' },
      { id: 'postprocess', model: 'postprocess' },
    ],
    edges: [
      { from: 'preprocess', to: 'classify' },
      { from: 'classify', to: 'postprocess' },
    ],
  },
  {
    name: 'video-monitoring',
    stages: [
      { id: 'detect', model: 'detector' },
      { id: 'identify', model: 'identifier' },
      { id: 'human', model: 'human' },
    ],
    edges: [
      { from: 'detect', to: 'identify', probability: 0.3 },
      { from: 'detect', to: 'human', probability: 0.6 },
    ],
  },
  {
    name: 'cascade',
    stages: [
      { id: 'fast', model: 'fast-model' },
      { id: 'slow', model: 'slow-model' },
    ],
    edges: [{ from: 'fast', to: 'slow', probability: 0.25 }],
  },
];

export function plannerPipeline(p: BenchPipeline, sloMs: number): PlannerPipeline {
  return { sloP99Ms: sloMs, stages: p.stages.map((s) => ({ id: s.id })), edges: p.edges };
}
