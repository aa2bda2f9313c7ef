import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { InferenceSession } from 'onnxruntime-node';
import type { ExecutionProvider, ProviderPreference } from '../../lib/core/protocol/inference.ts';

/**
 * Loading a model into onnxruntime. With `auto` we try CUDA only where a GPU device node exists, with
 * `cuda` always; either way a CUDA failure (no GPU, no CUDA provider library) falls back to CPU and the
 * reason is logged and kept, so reports say which provider really runs.
 *
 * onnxruntime-node's npm package holds no CUDA provider: its install step fetches the CUDA 12 provider
 * libraries, except when the package is installed inside its own project or with
 * ONNXRUNTIME_NODE_INSTALL=skip. Where they are missing the reason says so, and CUDA is not tried.
 */

export interface TensorInfo {
  readonly name: string;
  readonly type: string;
  /** Numbers are fixed sizes; strings are symbolic (the batch dimension is one). */
  readonly shape: readonly (number | string)[];
}

export interface LoadedModel {
  readonly session: InferenceSession;
  readonly provider: ExecutionProvider;
  readonly fallbackReason?: string;
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
}

/** The batch size a model fixes (a number as its inputs' first dimension), or undefined when it is free. */
export function fixedBatchSize(model: Pick<LoadedModel, 'inputs'>): number | undefined {
  for (const input of model.inputs) {
    const first = input.shape[0];
    if (typeof first === 'number' && first > 0) return first;
  }
  return undefined;
}

export interface LoadOptions {
  readonly provider: ProviderPreference;
  /** 0 lets onnxruntime pick. */
  readonly intraOpThreads: number;
  /** Let idle intra-op threads spin-wait for the next run (onnxruntime's own default). @default false */
  readonly allowSpinning?: boolean;
  readonly log: (message: string) => void;
  readonly gpuPresent?: () => boolean;
  /** Why the CUDA provider cannot load, or undefined if it may (see cudaProviderMissing). */
  readonly cudaProviderMissing?: () => string | undefined;
}

export function nvidiaGpuPresent(): boolean {
  return existsSync('/dev/nvidiactl') || existsSync('/dev/nvidia0');
}

const CUDA_PROVIDER_FILE: Partial<Record<NodeJS.Platform, string>> = {
  linux: 'libonnxruntime_providers_cuda.so',
  win32: 'onnxruntime_providers_cuda.dll',
};

/** The folder of onnxruntime-node's native binding for this platform, where its providers must sit. */
export function bindingDir(): string | undefined {
  try {
    const entry = createRequire(import.meta.url).resolve('onnxruntime-node');
    return join(dirname(entry), '..', 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return undefined;
  }
}

/**
 * Why onnxruntime-node cannot load its CUDA provider here, or undefined when it may: the provider library
 * is beside the binding, or the binding's folder is not where this version keeps it (then CUDA is tried).
 */
export function cudaProviderMissing(dir = bindingDir(), platform = process.platform): string | undefined {
  const file = CUDA_PROVIDER_FILE[platform];
  if (!file) return `onnxruntime has no CUDA provider on ${platform}`;
  if (!dir || !existsSync(dir) || existsSync(join(dir, file))) return undefined;
  return `${file} is not in ${dir}; reinstall onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=cuda12 (it needs the CUDA 12 runtime and cuDNN 9)`;
}

export async function loadModel(path: string, options: LoadOptions): Promise<LoadedModel> {
  const base: InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    ...(options.intraOpThreads > 0 ? { intraOpNumThreads: options.intraOpThreads } : {}),
    // Idle intra-op threads sleep rather than spin between runs unless asked: replicas that share an
    // instance (the planner packs them) and the agent's own event loop then get the cores a spinning pool
    // would burn (bench/ort-spinning.ts).
    extra: { session: { intra_op: { allow_spinning: options.allowSpinning ? '1' : '0' } } },
  };
  const wantCuda =
    options.provider === 'cuda' ||
    (options.provider === 'auto' && (options.gpuPresent ?? nvidiaGpuPresent)());
  let fallbackReason: string | undefined;
  const notInstalled = wantCuda ? (options.cudaProviderMissing ?? cudaProviderMissing)() : undefined;
  if (notInstalled) {
    fallbackReason = `cuda provider not installed: ${notInstalled}`;
    options.log(`${fallbackReason}; falling back to cpu`);
  } else if (wantCuda) {
    try {
      const session = await InferenceSession.create(path, { ...base, executionProviders: ['cuda', 'cpu'] });
      return describe(session, 'cuda');
    } catch (error) {
      fallbackReason = `cuda provider failed to load: ${firstLine(error)}`;
      options.log(`${fallbackReason}; falling back to cpu`);
    }
  } else if (options.provider === 'auto') {
    fallbackReason = 'no gpu device found';
  }
  const session = await InferenceSession.create(path, { ...base, executionProviders: ['cpu'] });
  return describe(session, 'cpu', fallbackReason);
}

function describe(
  session: InferenceSession,
  provider: ExecutionProvider,
  fallbackReason?: string,
): LoadedModel {
  const info = (m: InferenceSession.ValueMetadata): TensorInfo =>
    m.isTensor
      ? { name: m.name, type: m.type, shape: [...m.shape] }
      : { name: m.name, type: 'non-tensor', shape: [] };
  return {
    session,
    provider,
    ...(fallbackReason ? { fallbackReason } : {}),
    inputs: session.inputMetadata.map(info),
    outputs: session.outputMetadata.map(info),
  };
}

const ANSI_COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  // onnxruntime appends ANSI-coloured native logs; the first line, uncoloured, is the useful part.
  return (text.split('\n')[0] ?? text).replace(ANSI_COLOUR, '').slice(0, 300);
}
