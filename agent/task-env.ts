import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * What the agent adds to every command task's environment: the instance type (profiling jobs stamp
 * their profile with it) and TETRAFLEET_PROFILE_CLI, a shell command line that runs the profile CLI of
 * this agent's own code, so a profiling job runs `$TETRAFLEET_PROFILE_CLI --model ...` on any instance.
 */

/**
 * `node --import <tsx loader> <this checkout>/agent/model-server/profile-cli.ts`, with absolute paths so it
 * runs from a task's working directory. The deployed bundle sets TETRAFLEET_PROFILE_CLI instead.
 */
export function defaultProfileCli(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const tsxDir = dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  const loader = pathToFileURL(join(tsxDir, 'dist', 'loader.mjs')).href;
  const cli = join(here, 'model-server', 'profile-cli.ts');
  // Tasks expand it unquoted (`$TETRAFLEET_PROFILE_CLI --model ...`): the shell splits it on spaces but
  // does not remove quotes, so the words go in plain (an install path with spaces cannot be used).
  return [process.execPath, '--import', loader, cli].join(' ');
}

export function agentTaskEnv(settings: {
  readonly instanceType: string;
  readonly profileCli?: string;
}): Record<string, string> {
  return {
    TETRAFLEET_INSTANCE_TYPE: settings.instanceType,
    TETRAFLEET_PROFILE_CLI: settings.profileCli ?? defaultProfileCli(),
  };
}
