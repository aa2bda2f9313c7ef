import { existsSync } from 'node:fs';
import { InferenceSession } from 'onnxruntime-node';
import type { ExecutionProvider, ProviderPreference } from '../../lib/core/protocol/inference.ts';

/**
 * Loading a model into onnxruntime. With `auto` we try CUDA only where a GPU device node exists, with
 * `cuda` always; either way a CUDA failure (no GPU, no CUDA provider library) falls back to CPU and the
 * reason is logged and kept, so reports say which provider really runs.
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

export interface LoadOptions {
  readonly provider: ProviderPreference;
  /** 0 lets onnxruntime pick. */
  readonly intraOpThreads: number;
  readonly log: (message: string) => void;
  readonly gpuPresent?: () => boolean;
}

export function nvidiaGpuPresent(): boolean {
  return existsSync('/dev/nvidiactl') || existsSync('/dev/nvidia0');
}

export async function loadModel(path: string, options: LoadOptions): Promise<LoadedModel> {
  const base: InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    ...(options.intraOpThreads > 0 ? { intraOpNumThreads: options.intraOpThreads } : {}),
  };
  const wantCuda =
    options.provider === 'cuda' ||
    (options.provider === 'auto' && (options.gpuPresent ?? nvidiaGpuPresent)());
  let fallbackReason: string | undefined;
  if (wantCuda) {
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
