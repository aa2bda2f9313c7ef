/**
 * Loads the HiGHS WASM runtime once per wasm file and shares it. Loading compiles about 3.5 MB of
 * WASM (roughly 30-100 ms), so a Lambda container pays it once, not per schedule cycle.
 *
 * Where `highs.wasm` is found, in order:
 * 1. an explicit `wasmPath` (or the `TETRAFLEET_HIGHS_WASM` environment variable), and nothing else;
 * 2. next to the running bundle: when esbuild bundles `highs` into a Lambda handler, `import.meta.url`
 *    is the bundle file, and the build copies `highs.wasm` beside it (then `LAMBDA_TASK_ROOT`);
 * 3. the installed package (`highs/runtime`, i.e. `node_modules/highs/build/highs.wasm`).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import highsModule, { type Highs, type InitOptions } from 'highs';
import { TetrafleetError } from '../core/errors.ts';

export const HIGHS_WASM_ENV = 'TETRAFLEET_HIGHS_WASM';

/** Thrown when no highs.wasm can be found or it fails to load; the solver cannot run without it. */
export class HighsLoadError extends TetrafleetError {
  readonly retryable = false;
  constructor(
    message: string,
    readonly candidates: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The paths tried for highs.wasm, most specific first. */
export function wasmCandidates(explicit?: string, moduleUrl: string | undefined = import.meta.url): string[] {
  // A path the operator names is the only candidate: falling back silently would hide a broken deploy.
  const named = explicit ?? process.env[HIGHS_WASM_ENV];
  if (named) return [named];
  const candidates: string[] = [];
  // A CommonJS bundle has no import.meta.url; Lambda then still has its task root.
  if (moduleUrl) candidates.push(join(dirname(fileURLToPath(moduleUrl)), 'highs.wasm'));
  const taskRoot = process.env.LAMBDA_TASK_ROOT;
  if (taskRoot) candidates.push(join(taskRoot, 'highs.wasm'));
  try {
    if (moduleUrl) candidates.push(createRequire(moduleUrl).resolve('highs/runtime'));
  } catch {
    // Not installed as a package (e.g. inside a bundle): the earlier candidates must do.
  }
  return candidates;
}

/** The first existing candidate path for highs.wasm. */
export function resolveWasmPath(explicit?: string): string {
  const candidates = wasmCandidates(explicit);
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new HighsLoadError(`highs.wasm not found; tried ${candidates.join(', ')}`, candidates);
  return found;
}

type Loader = (options?: InitOptions) => Promise<Highs>;

// The package's types describe a CommonJS default export, while Node's ESM loader (and esbuild's
// `import` condition) hand over the function itself: accept either shape.
const highsLoader: Loader = ((highsModule as unknown as { default?: Loader }).default ??
  (highsModule as unknown as Loader)) as Loader;

const runtimes = new Map<string, Promise<Highs>>();

/** The shared runtime for `wasmPath` (resolved as above when omitted). */
export function loadHighs(wasmPath?: string): Promise<Highs> {
  const path = resolveWasmPath(wasmPath);
  const cached = runtimes.get(path);
  if (cached) return cached;
  const runtime = highsLoader({ locateFile: () => path }).catch((cause: unknown) => {
    runtimes.delete(path);
    throw new HighsLoadError(`highs.wasm at ${path} failed to load`, [path], { cause });
  });
  runtimes.set(path, runtime);
  return runtime;
}
