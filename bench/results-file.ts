/** Where benchmarks keep their JSON: bench/results/, one file per benchmark, checked in. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'results');

/** Writes `json` (a newline added) to bench/results/NAME and returns the path written. */
export function writeResultFile(name: string, json: string): string {
  const out = join(RESULTS_DIR, name);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${json}\n`);
  return out;
}
