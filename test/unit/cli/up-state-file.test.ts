import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startLocal } from '../../../lib/cli/commands/up.ts';
import { CliUsageError, EXIT } from '../../../lib/cli/errors.ts';
import { exitCodeOf } from '../../../lib/cli/run.ts';

const dir = mkdtempSync(join(tmpdir(), 'tf-cli-up-'));
/** No emulator on PATH and none named: had `up` got past its state file, it would fail on that instead. */
const env = { PATH: dir };

describe('up --state-file', () => {
  it('refuses a directory before starting anything', async () => {
    const folder = join(dir, 'state');
    mkdirSync(folder);
    const error = await startLocal({ port: 0, stateFile: folder, env }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CliUsageError);
    expect(exitCodeOf(error)).toBe(EXIT.usage);
    expect((error as Error).message).toBe(
      `--state-file ${folder} is a directory: name a file, e.g. ${join(folder, 'local.json')}`,
    );
  });

  it('refuses a path under a file before starting anything', async () => {
    const file = join(dir, 'plain');
    writeFileSync(file, 'x');
    const error = await startLocal({ port: 0, stateFile: join(file, 'local.json'), env }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CliUsageError);
    expect((error as Error).message).toBe(
      `--state-file ${join(file, 'local.json')} cannot be written: ${file} is not a directory`,
    );
  });
});
