import type { CliIo } from '../../../lib/cli/run.ts';

/** A CLI io that records what a command prints, not a terminal, with `env` as its environment. */
export function recordingIo(env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
    isTTY: false,
    columns: 100,
    env,
    interrupts: () => new AbortController().signal,
  };
  return { io, out, err };
}
