import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommanderError } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocal } from '../../../lib/cli/commands/up.ts';
import { CliEnvironmentError, CliUsageError, EXIT } from '../../../lib/cli/errors.ts';
import { JobFileError } from '../../../lib/cli/job-file.ts';
import { runCli } from '../../../lib/cli/program.ts';
import { exitCodeOf, reportError } from '../../../lib/cli/run.ts';
import { openSource } from '../../../lib/cli/source.ts';
import { NotFoundError, TransientError, ValidationError } from '../../../lib/core/errors.ts';
import { PipelineRejectedError } from '../../../lib/sdk/errors.ts';
import { recordingIo } from './recording-io.ts';

const io = recordingIo;

const dir = mkdtempSync(join(tmpdir(), 'tf-cli-unit-'));

describe('exit codes', () => {
  it.each([
    ['a usage error', new CliUsageError('x'), EXIT.usage],
    ['a validation error', new ValidationError('job spec', []), EXIT.usage],
    ['a bad job file', new JobFileError('f', []), EXIT.usage],
    ['a commander parse error', new CommanderError(1, 'commander.unknownOption', 'x'), EXIT.usage],
    ['help shown', new CommanderError(0, 'commander.helpDisplayed', ''), EXIT.ok],
    ['a missing job', new NotFoundError('job', 'j'), EXIT.notFound],
    ['an environment problem', new CliEnvironmentError('x'), EXIT.environment],
    ['a refused connection', Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }), EXIT.environment],
    ['a refused pipeline', new PipelineRejectedError('p', 'bad', []), EXIT.usage],
    ['anything else', new TransientError('throttled'), EXIT.failure],
  ])('maps %s to its exit code', (_what, error, code) => {
    expect(exitCodeOf(error)).toBe(code);
  });

  it('prints one line, and with --json also a JSON error, never a stack trace', () => {
    const { io: sink, out, err } = io();
    const code = reportError(sink, { json: true }, new NotFoundError('job', 'job-1'));
    expect(code).toBe(EXIT.notFound);
    expect(err).toEqual(['tetrafleet: job job-1 not found: check the id with `tetrafleet jobs`\n']);
    expect(JSON.parse(out.join(''))).toEqual({
      error: {
        exitCode: 3,
        kind: 'NotFoundError',
        message: 'job job-1 not found: check the id with `tetrafleet jobs`',
      },
    });
  });

  it('says why a pipeline was refused on one line per field, without the class name of the cause', () => {
    const { io: sink, err } = io();
    const raw = 'ValidationError: invalid pipeline submission: sloP99Ms: must be positive';
    expect(reportError(sink, {}, new PipelineRejectedError('up1', raw, []))).toBe(EXIT.usage);
    expect(err).toEqual(['tetrafleet: pipeline up1 was refused: sloP99Ms: must be positive\n']);
    const fields = io();
    const issues = [
      { path: 'sloP99Ms', message: 'must be positive' },
      { path: 'stages.0.id', message: 'is required' },
    ];
    reportError(fields.io, {}, new PipelineRejectedError('up1', raw, issues));
    expect(fields.err.join('').split('\n')).toEqual([
      'tetrafleet: pipeline up1 was refused:',
      'tetrafleet:   sloP99Ms: must be positive',
      'tetrafleet:   stages.0.id: is required',
      '',
    ]);
  });

  it('adds the stack trace with --debug', () => {
    const { io: sink, err } = io();
    reportError(sink, { debug: true }, new Error('boom'));
    expect(err[0]).toBe('tetrafleet: boom\n');
    expect(err[1]).toMatch(/^Error: boom\n\s+at /);
  });
});

describe('runCli', () => {
  it('prints help with exit 0 and fails with exit 2 on an unknown command or flag', async () => {
    const help = io();
    expect(await runCli(['--help'], help.io)).toBe(EXIT.ok);
    expect(help.out.join('')).toContain('Usage: tetrafleet');
    const bad = io();
    expect(await runCli(['frobnicate'], bad.io)).toBe(EXIT.usage);
    expect(bad.err.join('')).toContain("unknown command 'frobnicate'");
    expect(await runCli(['jobs', '--limit', 'many'], io().io)).toBe(EXIT.usage);
    expect(await runCli(['demo', '--duration', '-1'], io().io)).toBe(EXIT.usage);
  });

  it.each([
    [['demo', '--jobs', '0'], '--jobs must be a whole number from 1 to 1,000, got "0"'],
    [['demo', '--jobs', '2.5'], '--jobs must be a whole number from 1 to 1,000, got "2.5"'],
    [['up', '--max-fleet', '0'], '--max-fleet must be a whole number from 1 to 1,000, got "0"'],
    [['up', '--port', '70000'], '--port must be a whole number from 0 to 65,535, got "70000"'],
    [['up', '--port', ''], '--port must be a whole number from 0 to 65,535, got ""'],
    [
      ['pipeline', 'load', 'p', 'q.json', '--rate', '0'],
      '--rate must be a number from 0.1 to 1,000, got "0"',
    ],
    [
      ['pipeline', 'load', 'p', 'q.json', '--seconds', '1.5'],
      '--seconds must be a whole number from 1 to 3,600',
    ],
    [
      ['pipeline', 'load', 'p', 'q.json', '--cv', 'high'],
      '--cv must be a number from 0.1 to 100, got "high"',
    ],
    [
      ['pipeline', 'submit', 'p.yaml', '--upload-models', 'my-models'],
      '--upload-models must be s3://BUCKET or s3://BUCKET/PREFIX with a valid bucket name',
    ],
  ])('fails with exit 2 for %j before starting anything', async (args, message) => {
    const run = io();
    expect(await runCli(args, run.io)).toBe(EXIT.usage);
    expect(run.err.join('')).toContain(message);
    expect(run.out).toEqual([]);
  });

  it.each([
    [['jobs', '--json', '--limit', 'abc'], '--limit must be a whole number, got "abc"'],
    [['submit', '--json'], "missing required argument 'file'"],
    [['jobs', '--json', '--bogus'], "unknown option '--bogus'"],
  ])('prints the JSON error document with --json for a usage error in %j', async (args, message) => {
    const run = io();
    expect(await runCli(args, run.io)).toBe(EXIT.usage);
    const doc = JSON.parse(run.out.join('')) as { error: { exitCode: number; message: string } };
    expect(doc.error.exitCode).toBe(EXIT.usage);
    expect(doc.error.message).toContain(message);
    expect(doc.error.message).not.toMatch(/^error: /);
  });

  it.each([
    [['up', '--instance-types', 'zz.huge'], '--instance-types: zz.huge is not in the instance catalog'],
    [
      ['up', '--instance-types', 'c7i.larg'],
      'c7i.larg is not in the instance catalog (did you mean c7i.large',
    ],
    [['up', '--instance-types', ','], '--instance-types must name at least one instance type'],
  ])('fails with exit 2 for %j before starting anything', async (args, message) => {
    const run = io();
    expect(await runCli(args, run.io)).toBe(EXIT.usage);
    expect(run.err.join('')).toContain(message);
    expect(run.out).toEqual([]);
  });

  it('fails with exit 2 for a malformed job file before looking for a cloud', async () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, '{"name": "x"}');
    const run = io();
    expect(await runCli(['submit', file, '--state-file', join(dir, 'none.json')], run.io)).toBe(EXIT.usage);
    expect(run.err.join('')).toContain('bad.json:1:1: task: task is required');
  });

  it('fails with exit 4 and the fix when no local cloud is running', async () => {
    const run = io();
    expect(await runCli(['fleet', '--state-file', join(dir, 'none.json')], run.io)).toBe(EXIT.environment);
    expect(run.err).toEqual([
      'tetrafleet: no local cloud is running: start one with `tetrafleet up`, or pass --stack/--endpoint\n',
    ]);
  });
});

describe('openSource', () => {
  it('fails when the state file points at an endpoint that no longer answers', async () => {
    const file = join(dir, 'stale.json');
    writeFileSync(
      file,
      JSON.stringify({ version: 1, endpoint: 'http://127.0.0.1:9', stackName: 's', pid: 1, startedAt: 0 }),
    );
    await expect(openSource({ stateFile: file })).rejects.toThrow(/^no local cloud is running: start one/);
  });

  it('fails when --endpoint does not answer, saying what to fix', async () => {
    await expect(openSource({ endpoint: 'http://127.0.0.1:9' })).rejects.toThrow(
      'nothing answers at http://127.0.0.1:9: start the emulator (or `tetrafleet up`), or fix --endpoint',
    );
  });
});

describe('up', () => {
  let busy: Server;
  let port = 0;
  beforeAll(async () => {
    busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    const address = busy.address();
    port = typeof address === 'object' && address ? address.port : 0;
  });
  afterAll(() => new Promise<void>((r) => busy.close(() => r())));

  const bare = { ...process.env, AWS_ENDPOINT_URL: undefined };

  it('fails when the emulator port is taken, naming the port and the ways out', async () => {
    const error = await startLocal({ port, stateFile: join(dir, 'up1.json'), env: bare }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CliEnvironmentError);
    expect((error as Error).message).toBe(
      `port ${port} is already in use: stop what listens there, pick another with --port (0 for any free port), ` +
        `or set AWS_ENDPOINT_URL=http://localhost:${port} if it is an AWS emulator you want to use`,
    );
  });

  it('fails when moto_server is not installed and no AWS_ENDPOINT_URL is set', async () => {
    const env = { ...bare, PATH: dir };
    const error = await startLocal({ port: 0, stateFile: join(dir, 'up2.json'), env }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CliEnvironmentError);
    expect((error as Error).message).toMatch(
      /^moto_server was not found on PATH: install moto .* or set AWS_ENDPOINT_URL/,
    );
    expect(exitCodeOf(error)).toBe(EXIT.environment);
  });

  it('fails when --port is out of range', async () => {
    await expect(startLocal({ port: 70000, stateFile: join(dir, 'up3.json'), env: bare })).rejects.toThrow(
      '--port must be a whole number from 0 to 65535, got 70000',
    );
  });
});
