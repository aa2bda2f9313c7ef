import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../../lib/cli/errors.ts';
import { runCli } from '../../../lib/cli/program.ts';
import { recordingIo } from './recording-io.ts';

const dir = mkdtempSync(join(tmpdir(), 'tf-cli-options-'));
/** A state file that does not exist: a command that got past its flags would look for a cloud and fail (4). */
const none = join(dir, 'none.json');

/**
 * An io with no emulator on PATH and no endpoint: a command that got past its flags and started anything
 * would fail with an environment error (4) at once, never with a usage error (2).
 */
const io = () => recordingIo({ PATH: dir });

describe('flags and arguments refused before anything is read or started', () => {
  it.each([
    [['jobs', '--limit', '0'], '--limit must be at least 1, got "0"'],
    [['jobs', '--limit', '-5'], '--limit must be at least 1, got "-5"'],
    [['jobs', '--limit', ''], '--limit must be a whole number, got ""'],
    [['status', '--state', 'DONE'], '--state must be one of PENDING, PLACED'],
    [['job', 'a b'], 'jobId must be 1-128 characters'],
    [['cancel', ''], 'jobId must be 1-128 characters'],
    [['explain', '../etc'], 'jobId must be 1-128 characters'],
    [['pipeline', 'status', 'Vision'], 'pipelineId must be lowercase letters'],
    [['pipeline', 'stop', 'a b'], 'pipelineId must be lowercase letters'],
    [['pipeline', 'infer', 'Vision', 'q.json'], 'pipelineId must be lowercase letters'],
    [['pipeline', 'load', 'Vision', 'q.json'], 'pipelineId must be lowercase letters'],
    [['pipeline', 'submit', 'p.yaml', '--id', 'My Pipeline'], 'pipelineId must be lowercase letters'],
    [['interrupt', 'foo'], 'instance id must look like i-0123456789abcdef0, got "foo"'],
    [['jobs', '--stack', ''], '--stack must be a stack name'],
    [['fleet', '--stack', 'my_stack'], '--stack must be a stack name'],
    [['jobs', '--state-file', ''], '--state-file must not be empty'],
    [['jobs', '--endpoint', ''], '--endpoint must be an http or https URL'],
    [['fleet', '--endpoint', 'localhost:4566'], '--endpoint must be an http or https URL, e.g.'],
    [['report', '--out', ''], '--out must not be empty'],
    [['watch', '--interval', '1e12'], '--interval must be a number from 0.1 to 3,600, got "1e12"'],
    [['watch', '--interval', '0.000001'], '--interval must be a number from 0.1 to 3,600'],
    [['pipeline', 'infer', 'p', 'q.json', '--timeout', '1e12'], '--timeout must be a number greater than 0'],
    [['pipeline', 'submit', 'p.yaml', '--timeout', '1e12'], 'and at most 86,400, got "1e12"'],
    [['pipeline', 'load', 'p', 'q.json', '--seed', ''], '--seed must be a whole number, got ""'],
  ])('fails with exit 2 for %j, naming the flag, without looking for a cloud', async (args, message) => {
    const run = io();
    expect(await runCli([...args, '--state-file', none], run.io)).toBe(EXIT.usage);
    expect(run.err.join('')).toContain(message);
    expect(run.out).toEqual([]);
  });

  it.each([
    [['up', '--budget', '0.001'], '--budget must be a number from 0.01 to 100,000, got "0.001"'],
    [['up', '--budget', '200000'], '--budget must be a number from 0.01 to 100,000'],
    [['up', '--stack', ''], '--stack must be a stack name'],
    [['up', '--stack', 'bad_name'], '--stack must be a stack name'],
    [['up', '--state-file', ''], '--state-file must not be empty'],
    [['demo', '--duration', '1e20'], '--duration must be a number greater than 0 and at most 86,400'],
    [['demo', '--seed', ''], '--seed must be a whole number, got ""'],
    [['demo', '--seed', '1e300'], '--seed must be a whole number'],
    [['demo', '--out', ''], '--out must not be empty'],
  ])('fails with exit 2 for %j before starting an emulator', async (args, message) => {
    const run = io();
    expect(await runCli(args, run.io)).toBe(EXIT.usage);
    expect(run.err.join('')).toContain(message);
    expect(run.out).toEqual([]);
  });

  it('still takes the flags it took: a large --limit, a lowercase --state, ids of every documented form', async () => {
    for (const args of [
      ['jobs', '--limit', '100000', '--state', 'running'],
      ['job', 'job-a4543770-a5b9-4530-9be0-0b263c8b809b'],
      ['explain', 'pl:vision:router:0'],
      ['pipeline', 'status', 'vision-1234abcd'],
      ['interrupt', 'i-1a04c52ef69be86b5'],
      ['watch', '--interval', '0.5'],
    ]) {
      const run = io();
      // Past the flags, the command looks for the cloud: none is running, an environment error.
      expect(await runCli([...args, '--state-file', none], run.io), args.join(' ')).toBe(EXIT.environment);
    }
    const deployed = io();
    const args = ['fleet', '--stack', 'Tetrafleet-2', '--endpoint', 'http://127.0.0.1:9'];
    expect(await runCli(args, deployed.io)).toBe(EXIT.environment);
    expect(deployed.err.join('')).toContain('nothing answers at http://127.0.0.1:9');
  });
});
