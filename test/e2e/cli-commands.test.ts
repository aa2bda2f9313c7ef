import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { cancelCommand } from '../../lib/cli/commands/cancel.ts';
import { explainCommand } from '../../lib/cli/commands/explain.ts';
import { fleetCommand } from '../../lib/cli/commands/fleet.ts';
import { jobCommand, jobsCommand } from '../../lib/cli/commands/jobs.ts';
import { reportCommand } from '../../lib/cli/commands/report.ts';
import { submitCommand } from '../../lib/cli/commands/submit.ts';
import { type RunningLocal, startLocal } from '../../lib/cli/commands/up.ts';
import { watchCommand, type watchData } from '../../lib/cli/commands/watch.ts';
import { CliEnvironmentError, CliUsageError, EXIT } from '../../lib/cli/errors.ts';
import { JobFileError } from '../../lib/cli/job-file.ts';
import { runCli } from '../../lib/cli/program.ts';
import { exitCodeOf } from '../../lib/cli/run.ts';
import { type CliSource, fromLocalCloud, openSource } from '../../lib/cli/source.ts';
import { NotFoundError } from '../../lib/core/errors.ts';
import { findInstanceType } from '../../lib/core/model/catalog.ts';
import type { JobSpecInput } from '../../lib/core/model/job.ts';

/**
 * Every CLI command against one local cloud, started the way `tetrafleet up` starts it. Commands are
 * called in-process (their data is what `--json` prints); a few go through the real binary.
 */

const BIN = resolve('bin/tetrafleet.mjs');
const dir = mkdtempSync(join(tmpdir(), 'tf-cli-e2e-'));
const stateFile = join(dir, 'local.json');
let running: RunningLocal;
let source: CliSource;

const exec = promisify(execFile);

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [BIN, ...args], { cwd: dir, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

async function eventually<T>(
  probe: () => Promise<T | undefined | false>,
  what: string,
  ms = 120_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A task doing a little real CPU work, then a pause, so it runs for a second or two. */
function quick(name: string, pauseMs = 500): JobSpecInput {
  const script = `let s=0;for(let i=0;i<2e6;i++)s+=i%7;setTimeout(()=>{},${pauseMs})`;
  return {
    name,
    task: { kind: 'command', command: process.execPath, args: ['-e', script] },
    alternatives: [{ requirement: { vcpu: 1, memoryMiB: 512 }, durationSeconds: 10 }],
    utility: { deadlineSeconds: 600, value: 10 },
  };
}

function writeSpecs(file: string, specs: unknown): string {
  const path = join(dir, file);
  writeFileSync(path, file.endsWith('.json') ? JSON.stringify(specs, null, 2) : stringify(specs));
  return path;
}

const finished = (jobId: string) => source.client.waitForJob(jobId, { timeoutMs: 180_000 });

beforeAll(async () => {
  running = await startLocal({
    stackName: 'tetrafleet-cli-e2e',
    port: 0,
    stateFile,
    instanceTypes: ['c7i.large', 'c7i.xlarge'],
    maxFleetSize: 3,
    budgetPerHour: 10,
    cycle: { idleTimeoutSeconds: 600, heartbeatTimeoutSeconds: 15, solveTimeLimitMs: 1500 },
  });
  source = fromLocalCloud(running.cloud);
}, 600_000);

afterAll(async () => {
  source?.close();
  await running?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe('up', () => {
  it('records the running cloud in the state file, where other commands find it', async () => {
    const state = JSON.parse(readFileSync(stateFile, 'utf8'));
    expect(state).toMatchObject({ version: 1, stackName: 'tetrafleet-cli-e2e', pid: process.pid });
    expect(state.endpoint).toBe(running.cloud.endpoint);
    const viaFile = await openSource({ stateFile });
    try {
      expect(viaFile.stackName).toBe('tetrafleet-cli-e2e');
      await expect(viaFile.client.listJobs({ limit: 1 })).resolves.toHaveProperty('jobs');
    } finally {
      viaFile.close();
    }
  });

  it('fails when a second cloud would take over the same state file', async () => {
    await expect(startLocal({ stateFile, port: 0 })).rejects.toThrow(/already running/);
  });
});

describe('submit, jobs, job', () => {
  let ids: string[] = [];

  it('submits every spec of a YAML list and of a single JSON spec', async () => {
    const yamlOut = await submitCommand(source, writeSpecs('two.yaml', [quick('cli-a'), quick('cli-b')]));
    const jsonOut = await submitCommand(source, writeSpecs('one.json', quick('cli-c')));
    expect(yamlOut.data.submitted.map((s) => s.name)).toEqual(['cli-a', 'cli-b']);
    expect(jsonOut.data.submitted.map((s) => s.name)).toEqual(['cli-c']);
    expect(yamlOut.text).toMatch(/^submitted 2 jobs/);
    ids = [...yamlOut.data.submitted, ...jsonOut.data.submitted].map((s) => s.jobId);
    const done = await Promise.all(ids.map(finished));
    expect(done.map((j) => j.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
  });

  it('fails when a job file is malformed, naming the field and its line, and sends nothing', async () => {
    const before = (await jobsCommand(source)).data.total;
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      [
        'name: broken',
        'task: { kind: command, command: /bin/true }',
        'alternatives:',
        '  - requirement: { vcpu: 1, memoryMiB: 512 }',
        '    durationSeconds: -5',
        'utility: { deadlineSeconds: 60, value: 1 }',
      ].join('\n'),
    );
    const error = await submitCommand(source, file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JobFileError);
    expect((error as Error).message).toBe(
      'bad.yaml:5:22: alternatives.0.durationSeconds: durationSeconds must be greater than 0',
    );
    expect(exitCodeOf(error)).toBe(EXIT.usage);
    expect((await jobsCommand(source)).data.total).toBe(before);
  });

  it('lists jobs newest first, filtered by state, as a table and as JSON', async () => {
    const all = await jobsCommand(source, { now: Date.now() });
    const names = all.data.jobs.map((j) => j.name);
    expect(names).toEqual(expect.arrayContaining(['cli-a', 'cli-b', 'cli-c']));
    const submitted = all.data.jobs.map((j) => j.submittedAt);
    expect(submitted).toEqual([...submitted].sort((a, b) => b - a));
    expect(all.text.split('\n')[0]).toMatch(/^ID\s+NAME\s+POLICY\s+STATUS\s+SUBMITTED\s+RUNTIME\s+MARKET$/);
    expect(all.text).toContain('cli-c');
    const ok = await jobsCommand(source, { state: 'succeeded' });
    expect(ok.data.jobs.every((j) => j.status === 'SUCCEEDED')).toBe(true);
    expect(ok.data.jobs.map((j) => j.id)).toEqual(expect.arrayContaining(ids));
    // None of these jobs allows spot, so each ran on on-demand, and the table says so.
    expect(ok.data.jobs.map((j) => j.market)).toEqual(ok.data.jobs.map(() => 'on-demand'));
    expect(ok.text.split('\n')[1]).toMatch(/\son-demand$/);
    const limited = await jobsCommand(source, { limit: 1 });
    expect(limited.data.jobs).toHaveLength(1);
    expect(limited.text).toMatch(/1 of \d+ jobs; raise --limit/);
  });

  it('fails when --state is not a job state', async () => {
    await expect(jobsCommand(source, { state: 'DONE' })).rejects.toBeInstanceOf(CliUsageError);
  });

  it('shows one job with the instance its task ran on', async () => {
    const out = await jobCommand(source, ids[0] as string);
    expect(out.data.job.status).toBe('SUCCEEDED');
    expect(out.data.tasks).toHaveLength(1);
    expect(out.data.tasks[0]).toMatchObject({ state: 'SUCCEEDED', exitCode: 0 });
    expect(['c7i.large', 'c7i.xlarge']).toContain(out.data.tasks[0]?.instanceType);
    expect(out.text).toContain(`job ${ids[0]} (cli-a)`);
    expect(out.text).toMatch(/status\s+SUCCEEDED/);
    expect(out.text).toContain(out.data.tasks[0]?.instanceId);
    expect(out.text).toMatch(/market\s+on-demand/);
    expect(out.text).toMatch(/TYPE\s+MARKET\s+ALT/);
  });

  it('fails with not found (exit 3) for an unknown job', async () => {
    const error = await jobCommand(source, 'job-nope').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(exitCodeOf(error)).toBe(EXIT.notFound);
  });
});

describe('explain', () => {
  it('says where a finished job ran', async () => {
    const [job] = (await jobsCommand(source, { state: 'SUCCEEDED', limit: 1 })).data.jobs;
    const out = await explainCommand(source, job?.id as string);
    expect(out.data.status).toBe('SUCCEEDED');
    expect(out.data.summary).toMatch(/^finished as SUCCEEDED after .* on c7i\.(x)?large i-/);
    expect(out.data.tasks).toHaveLength(1);
  });

  it("gives the scheduler's reason for a job that cannot be placed", async () => {
    const spec: JobSpecInput = {
      ...quick('cli-unplaceable'),
      alternatives: [
        { requirement: { vcpu: 1, memoryMiB: 512, instanceTypes: ['m7i.large'] }, durationSeconds: 10 },
      ],
    };
    const { jobId } = await source.client.submitJob(spec);
    const out = await eventually(async () => {
      const e = await explainCommand(source, jobId).catch(() => undefined);
      return e?.data.scheduler ? e : undefined;
    }, 'a schedule cycle to explain the job');
    expect(out.data.status).toBe('PENDING');
    expect(out.data.scheduler?.reason).toMatch(/^not placed: /);
    expect(out.data.summary).toMatch(/^waiting for .*: not placed: /);
    expect(out.text).toContain('scheduler (cycle at');
    const cancelled = await cancelCommand(source, jobId);
    expect(cancelled.data.outcome).toBe('cancelled');
    expect(cancelled.data.job.status).toBe('CANCELLED');
  });

  it('explains a submission refused at admission with its field issues', async () => {
    const sqs = new SQSClient(running.cloud.config.adapters.aws);
    try {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: running.cloud.config.queues.submissions,
          MessageBody: JSON.stringify({
            version: 1,
            kind: 'SubmitJob',
            jobId: 'job-cli-refused',
            spec: { name: 'x' },
          }),
        }),
      );
    } finally {
      sqs.destroy();
    }
    const out = await eventually(
      () => explainCommand(source, 'job-cli-refused').catch(() => undefined),
      'the refusal to be recorded',
    );
    expect(out.data.status).toBe('REJECTED');
    expect(out.data.issues?.length).toBeGreaterThan(0);
    expect(out.text).toContain('job job-cli-refused REJECTED');
  });
});

describe('cancel', () => {
  it('asks the scheduler to stop a running job, which then ends CANCELLED', async () => {
    const { jobId } = await source.client.submitJob(quick('cli-long', 120_000));
    await eventually(async () => (await source.client.getJob(jobId))?.status === 'RUNNING', 'the job to run');
    const out = await cancelCommand(source, jobId);
    expect(out.data.outcome).toBe('cancel-requested');
    expect(out.text).toContain('cancel requested');
    const job = await finished(jobId);
    expect(job.status).toBe('CANCELLED');
    const again = await cancelCommand(source, jobId);
    expect(again.data.outcome).toBe('already-finished');
  });

  it('fails with not found for an unknown job', async () => {
    await expect(cancelCommand(source, 'job-nope')).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('fleet, watch, report', () => {
  it('lists the live instances with their catalog price', async () => {
    const out = await fleetCommand(source, { now: Date.now() });
    expect(out.data.totals.count).toBeGreaterThan(0);
    const expected = out.data.instances.reduce((sum, i) => {
      const t = findInstanceType(i.type);
      return sum + ((i.market === 'spot' ? t?.spotPerHour : t?.onDemandPerHour) ?? Number.NaN);
    }, 0);
    expect(out.data.totals.costPerHour).toBeCloseTo(expected, 4);
    expect(out.data.byType.reduce((n, g) => n + g.count, 0)).toBe(out.data.totals.count);
    expect(out.text).toMatch(/total: \d+ live instances?, \$/);
  });

  it('prints one frame with --once, and JSON lines until stopped', async () => {
    const frames: string[] = [];
    await watchCommand(source, {
      once: true,
      width: 100,
      color: false,
      clear: false,
      write: (t) => frames.push(t),
    });
    expect(frames).toHaveLength(1);
    expect(frames[0]).toMatch(/^tetrafleet {2}\d\d:\d\d:\d\d UTC {2}\d+ jobs/);
    for (const title of ['JOBS', 'FLEET', 'SOLVER', 'EVENTS']) expect(frames[0]).toContain(`\n${title}\n`);

    const lines: string[] = [];
    const stop = new AbortController();
    const count = await watchCommand(source, {
      json: true,
      intervalMs: 100,
      width: 100,
      color: false,
      clear: false,
      signal: stop.signal,
      write: (t) => {
        lines.push(t);
        if (lines.length === 2) stop.abort();
      },
    });
    expect(count).toBe(2);
    const data = JSON.parse(lines[1] as string) as ReturnType<typeof watchData>;
    expect(data.jobs.total).toBe((await jobsCommand(source)).data.total);
    expect(data.jobs.byState.SUCCEEDED).toBeGreaterThanOrEqual(3);
    expect(data.lastCycle?.at).toBeGreaterThan(0);
  });

  it('writes the HTML report and its summary', async () => {
    const out = await reportCommand(source, { out: join(dir, 'report') });
    expect(out.data.path).toBe(join(dir, 'report', 'index.html'));
    expect(existsSync(out.data.path)).toBe(true);
    const summary = JSON.parse(readFileSync(join(dir, 'report', 'summary.json'), 'utf8'));
    expect(summary.jobs.total).toBe((await jobsCommand(source)).data.total);
    expect(out.text).toContain(`report written to ${out.data.path}`);
    expect(out.text).toMatch(/jobs {8}\d+ \(/);
  });
});

describe('the tetrafleet binary', () => {
  it('prints help and exits 0', async () => {
    const out = await cli(['--help']);
    expect(out.code).toBe(0);
    for (const cmd of [
      'submit',
      'jobs',
      'status',
      'job',
      'cancel',
      'explain',
      'fleet',
      'watch',
      'report',
      'up',
      'demo',
    ])
      expect(out.stdout).toMatch(new RegExp(`\\n  ${cmd} `));
  });

  it('finds the local cloud through the state file and prints JSON', async () => {
    const out = await cli(['jobs', '--json', '--state-file', stateFile]);
    expect(out.code).toBe(0);
    const data = JSON.parse(out.stdout) as { jobs: { name: string }[] };
    expect(data.jobs.map((j) => j.name)).toEqual(expect.arrayContaining(['cli-a', 'cli-b', 'cli-c']));
  });

  it('exits 3 for an unknown job and 4 with no local cloud, with one line each', async () => {
    const missing = await cli(['job', 'job-nope', '--state-file', stateFile]);
    expect(missing.code).toBe(EXIT.notFound);
    expect(missing.stderr.trim().split('\n')).toEqual([
      'tetrafleet: job job-nope not found: check the id with `tetrafleet jobs`',
    ]);
    const none = await cli(['jobs', '--state-file', join(dir, 'absent.json')]);
    expect(none.code).toBe(EXIT.environment);
    expect(none.stderr.trim()).toBe(
      'tetrafleet: no local cloud is running: start one with `tetrafleet up`, or pass --stack/--endpoint',
    );
  });

  it('exits 2 for a malformed job file, and 4 for an unknown stack', async () => {
    const lines: string[] = [];
    const io = {
      out: () => {},
      err: (t: string) => lines.push(t),
      isTTY: false,
      columns: 100,
      env: process.env,
      interrupts: () => new AbortController().signal,
    };
    writeFileSync(
      join(dir, 'typo.json'),
      '{"name": "x",\n "task": {"kind": "command", "command": "/bin/true"},\n "alternatives": 3\n}',
    );
    expect(await runCli(['submit', join(dir, 'typo.json'), '--state-file', stateFile], io)).toBe(EXIT.usage);
    expect(lines.join('')).toContain('typo.json:3:18: alternatives:');
    const code = await runCli(['jobs', '--stack', 'no-such-stack', '--endpoint', running.cloud.endpoint], io);
    expect(code).toBe(EXIT.environment);
    expect(lines.at(-1)).toContain('stack no-such-stack was not found');
    expect(exitCodeOf(new CliEnvironmentError('x'))).toBe(EXIT.environment);
  });
});
