import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { HighsLoadError, resolveWasmPath, wasmCandidates } from '../../../lib/solver/highs-loader.ts';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../../..');

describe('highs.wasm location', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tetrafleet-highs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds the installed package when nothing else is given', () => {
    expect(resolveWasmPath()).toMatch(/highs[\\/]build[\\/]highs\.wasm$/);
  });

  it('uses only the path it is given', () => {
    expect(wasmCandidates('/opt/x/highs.wasm')).toEqual(['/opt/x/highs.wasm']);
  });

  it('fails naming the paths it tried when highs.wasm is not there', () => {
    const missing = join(dir, 'nope', 'highs.wasm');
    expect(() => resolveWasmPath(missing)).toThrow(HighsLoadError);
    expect(() => resolveWasmPath(missing)).toThrow(`highs.wasm not found; tried ${missing}`);
  });

  it('solves from an esbuild bundle with highs.wasm beside it and no node_modules', async () => {
    const entry = join(dir, 'entry.ts');
    writeFileSync(
      entry,
      [
        `import { HighsSolver } from ${JSON.stringify(join(root, 'lib/solver/highs-solver.ts'))};`,
        "const model = { sense: 'maximize', vars: [{ name: 'x', kind: 'integer', lb: 0, ub: 3, obj: 1 }], rows: [] };",
        'const s = await new HighsSolver().solve(model, { timeLimitMs: 5000, relGap: 0 });',
        'console.log(JSON.stringify({ status: s.status, objective: s.objective }));',
      ].join('\n'),
    );
    const out = join(dir, 'dist', 'index.mjs');
    await build({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: out,
      logLevel: 'silent',
    });
    copyFileSync(join(root, 'node_modules/highs/build/highs.wasm'), join(dir, 'dist', 'highs.wasm'));
    const { stdout } = await run(process.execPath, [out], { cwd: dir, timeout: 60_000 });
    expect(JSON.parse(stdout.trim())).toEqual({ status: 'optimal', objective: 3 });
  }, 90_000);
});
