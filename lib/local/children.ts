import type { ChildProcess } from 'node:child_process';

/**
 * Children of the local runtime (the emulator, agents) run in their own process group, so that a Ctrl-C
 * in the terminal reaches only the CLI, which then shuts them down in order (agents drain, the final
 * state is read, the emulator stops last). In exchange they must never outlive this process: each is
 * killed when it exits, whatever the reason.
 */
const live = new Set<ChildProcess>();
let hooked = false;

export function ownChild(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    });
  }
  return child;
}

/** Options for spawning an owned child in its own process group. */
export const OWN_GROUP = { detached: true } as const;
