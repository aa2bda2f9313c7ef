import type { PlannerPipeline } from '../../lib/core/inference/planner.ts';
import { buildConvNet, buildMlp } from '../../lib/onnx/index.ts';

/**
 * The benchmark's models and pipelines, shaped like the InferLine paper's. Models are generated ONNX
 * graphs whose sizes give per-stage latencies of the same order as the paper's models on CPUs: light
 * pre/postprocessing MLPs (well under a millisecond), mid-size conv nets (tens of ms at batch 1 on
 * 2 vCPUs) and heavy ones (hundreds of ms, like ResNet/YOLO-class CPU inference), so that the heavy
 * stages need several replicas at 150-250 qps even on the derived GPU types.
 */

export interface BenchModel {
  readonly id: string;
  readonly what: string;
  /** Heavy models (hundreds of ms per query on 2 vCPUs) are profiled up to batch 16 with fewer samples. */
  readonly heavy?: boolean;
  build(): Uint8Array;
}

const conv = (size: number, channels: [number, number, number], classes: number, seed: number) => () =>
  buildConvNet({ channels: 3, height: size, width: size, convChannels: channels, classes, seed }).bytes;

export const MODELS: readonly BenchModel[] = [
  {
    id: 'preprocess',
    what: 'MLP 3072 -> 1024 -> 3072 (image normalisation / resize stand-in)',
    build: () => buildMlp({ inputSize: 3072, hiddenSizes: [1024], outputSize: 3072, seed: 11 }).bytes,
  },
  {
    id: 'classifier',
    what: 'conv net 3x224x224, channels 64-128-256, 1000 classes (AlexNet/ResNet-class)',
    heavy: true,
    build: conv(224, [64, 128, 256], 1000, 12),
  },
  {
    id: 'postprocess',
    what: 'MLP 1000 -> 256 -> 100 (top-k / label mapping stand-in)',
    build: () => buildMlp({ inputSize: 1000, hiddenSizes: [256], outputSize: 100, seed: 13 }).bytes,
  },
  {
    id: 'detector',
    what: 'conv net 3x288x288, channels 64-128-256, 1000 outputs (YOLO-class detector)',
    heavy: true,
    build: conv(288, [64, 128, 256], 1000, 14),
  },
  {
    id: 'identifier',
    what: 'conv net 3x224x224, channels 32-64-128, 100 classes (vehicle identifier)',
    build: conv(224, [32, 64, 128], 100, 15),
  },
  {
    id: 'human',
    what: 'conv net 3x160x160, channels 32-64-128, 10 classes (person classifier)',
    build: conv(160, [32, 64, 128], 10, 16),
  },
  {
    id: 'fast-model',
    what: 'conv net 3x128x128, channels 32-64-128, 1000 classes (cascade: cheap first model)',
    build: conv(128, [32, 64, 128], 1000, 17),
  },
  {
    id: 'slow-model',
    what: 'conv net 3x320x320, channels 64-128-256, 1000 classes (cascade: accurate second model)',
    heavy: true,
    build: conv(320, [64, 128, 256], 1000, 18),
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
