#!/usr/bin/env -S node --import tsx
/**
 * The `tetrafleet` command. Wires the process (stdout, stderr, terminal size, Ctrl-C) to the CLI in
 * lib/cli and exits with its code: 0 ok, 1 failure, 2 usage or validation error, 3 not found,
 * 4 environment problem.
 */
import { runCli } from '../lib/cli/program.ts';

// The SDK's notice about future Node versions would print on every command; it is known and noisy.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

let controller: AbortController | undefined;

function onSignal(): void {
  // Short commands end at once; long-running ones (up, watch, demo) shut down cleanly first, and a
  // second Ctrl-C forces the exit.
  if (!controller || controller.signal.aborted) process.exit(130);
  process.stderr.write('\nshutting down cleanly (Ctrl-C again to force)\n');
  controller.abort();
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const code = await runCli(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  isTTY: Boolean(process.stdout.isTTY),
  columns: process.stdout.columns ?? 100,
  env: process.env,
  interrupts: () => {
    controller ??= new AbortController();
    return controller.signal;
  },
});
process.exit(code);
