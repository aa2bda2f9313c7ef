import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { cancelCommand } from './commands/cancel.ts';
import { explainCommand } from './commands/explain.ts';
import { fleetCommand } from './commands/fleet.ts';
import { checkInstanceId, interruptCommand } from './commands/interrupt.ts';
import { jobCommand, jobsCommand, parseState } from './commands/jobs.ts';
import { toJson } from './commands/output.ts';
import { reportCommand, summaryText } from './commands/report.ts';
import { submitCommand } from './commands/submit.ts';
import { DEFAULT_PORT, startLocal, untilAborted } from './commands/up.ts';
import { watchCommand } from './commands/watch.ts';
import { addPipelineCommands } from './commands-pipeline.ts';
import { type DemoResult, runDemo } from './demo/index.ts';
import { EXIT, type ExitCode } from './errors.ts';
import { plural } from './format.ts';
import { readJobFile } from './job-file.ts';
import {
  checked,
  common,
  count,
  instanceTypes,
  int,
  jobId,
  nonEmpty,
  numberIn,
  positive,
  type SourceFlags,
  sourced,
  stackName,
  wholeIn,
} from './program-options.ts';
import { asksForJson, type CliIo, type CommonFlags, print, reportError } from './run.ts';
import { type CliSource, DEFAULT_STACK_NAME, DEFAULT_STATE_FILE, openSource } from './source.ts';

const CLEAR = `${String.fromCharCode(27)}[2J${String.fromCharCode(27)}[H`;

/**
 * Runs the CLI on `argv` (the arguments after the program name) and resolves with the exit code:
 * 0 ok, 1 failure, 2 usage or validation error, 3 not found, 4 environment problem.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<ExitCode> {
  let code: ExitCode = EXIT.ok;
  let flags: CommonFlags = {};
  const program = buildProgram(
    io,
    (c) => {
      code = c;
    },
    (f) => {
      flags = f;
    },
  );
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (error) {
    return reportError(io, { ...flags, json: flags.json || asksForJson(argv) }, error);
  }
}

function buildProgram(
  io: CliIo,
  setCode: (c: ExitCode) => void,
  setFlags: (f: CommonFlags) => void,
): Command {
  const program = new Command('tetrafleet')
    .description('Schedule heterogeneous AI work on a serverless fleet: a local cloud, or a deployed stack.')
    .version(version(), '-V, --version')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err });
  program.addHelpText(
    'after',
    '\nExit codes: 0 ok, 1 failure, 2 usage or validation error, 3 not found, 4 environment problem.\n' +
      'Start with `tetrafleet up` (a local cloud) or `tetrafleet demo` (a whole run with a report).',
  );

  /** Runs an action with its flags recorded (for error output) and its exit code kept. */
  const act =
    <A extends unknown[]>(fn: (...args: A) => Promise<ExitCode>) =>
    async (...args: A) => {
      const cmd = args.at(-1) as Command;
      setFlags(cmd.opts<CommonFlags>());
      setCode(await fn(...args));
    };
  const withSource =
    (fn: (source: CliSource, flags: SourceFlags) => Promise<ExitCode>) => async (flags: SourceFlags) => {
      const source = await openSource({
        stack: flags.stack,
        endpoint: flags.endpoint,
        stateFile: flags.stateFile,
        env: io.env,
      });
      try {
        return await fn(source, flags);
      } finally {
        source.close();
      }
    };
  const colour = (flags: CommonFlags) => io.isTTY && flags.color !== false && !io.env.NO_COLOR;

  common(program.command('up'))
    .description('start a local cloud (emulator, stack, scheduler, agents) and keep it running until Ctrl-C')
    .option('--stack <name>', 'stack name', stackName('--stack'), DEFAULT_STACK_NAME)
    .option(
      '--port <port>',
      'emulator port; 0 for any free port (ignored with AWS_ENDPOINT_URL)',
      wholeIn('--port', 0, 65_535),
      DEFAULT_PORT,
    )
    .option(
      '--state-file <path>',
      'where to record the running cloud',
      nonEmpty('--state-file'),
      DEFAULT_STATE_FILE,
    )
    .option(
      '--instance-types <list>',
      'comma-separated instance types the fleet may launch',
      instanceTypes('--instance-types'),
    )
    .option('--max-fleet <n>', 'most instances at once (1-1,000)', wholeIn('--max-fleet', 1, 1000))
    .option(
      '--budget <dollars>',
      'most $/h the fleet may cost (0.01-100,000)',
      numberIn('--budget', 0.01, 100_000),
    )
    .action(act((f: UpFlags, _c: Command) => up(io, f)));

  common(program.command('demo'))
    .description('run a whole local demo: a seeded workload, the live view, then an HTML report')
    .option(
      '--duration <seconds>',
      'seconds over which jobs are submitted, up to 86,400 (the run waits a little longer)',
      positive('--duration', 86_400),
      150,
    )
    .option('--seed <n>', 'workload seed', int('--seed'), 7)
    .option('--jobs <n>', 'how many jobs (1-1,000; 60 by default)', wholeIn('--jobs', 1, 1000))
    .option('--out <dir>', 'report directory', nonEmpty('--out'), 'tetrafleet-report')
    .action(act((f: DemoFlags, _c: Command) => demo(io, f, colour(f))));

  common(
    sourced(
      program
        .command('submit')
        .argument('<file>', 'JSON or YAML: a job spec, a list of specs, or {jobs: [...]}'),
    ),
  )
    .description('validate and submit the job specs in a file')
    .action(
      act(async (file: string, f: SourceFlags, _c: Command) => {
        // Check the file before connecting, so a bad spec is reported even with no cloud running.
        const parsed = await readJobFile(file);
        return withSource(async (s) => print(io, f, await submitCommand(s, parsed)))(f);
      }),
    );

  for (const name of ['jobs', 'status'] as const) {
    common(sourced(program.command(name)))
      .description(name === 'jobs' ? 'list jobs, newest first' : 'list jobs (same as `jobs`)')
      .option('--state <state>', 'only jobs in this state, e.g. RUNNING', checked(parseState))
      .option('--limit <n>', 'at most this many', count('--limit'), 100)
      .action(
        act((f: SourceFlags & { state?: string; limit: number }, _c: Command) =>
          withSource(async (s) => print(io, f, await jobsCommand(s, { state: f.state, limit: f.limit })))(f),
        ),
      );
  }

  common(sourced(program.command('job').argument('<id>', 'job id', jobId)))
    .description('show one job: its spec, state and task placements')
    .action(
      act((id: string, f: SourceFlags, _c: Command) =>
        withSource(async (s) => print(io, f, await jobCommand(s, id)))(f),
      ),
    );

  common(sourced(program.command('cancel').argument('<id>', 'job id', jobId)))
    .description('cancel a job (tasks already running are stopped by the next schedule cycle)')
    .action(
      act((id: string, f: SourceFlags, _c: Command) =>
        withSource(async (s) => print(io, f, await cancelCommand(s, id)))(f),
      ),
    );

  common(sourced(program.command('explain').argument('<id>', 'job id', jobId)))
    .description('say why a job waits, or why it runs where it runs')
    .action(
      act((id: string, f: SourceFlags, _c: Command) =>
        withSource(async (s) => print(io, f, await explainCommand(s, id)))(f),
      ),
    );

  common(sourced(program.command('fleet')))
    .description('instances by type, market and state, with utilisation and cost per hour')
    .option('--all', 'include terminated instances')
    .action(
      act((f: SourceFlags & { all?: boolean }, _c: Command) =>
        withSource(async (s) => print(io, f, await fleetCommand(s, { all: f.all })))(f),
      ),
    );

  common(
    sourced(
      program
        .command('interrupt')
        .argument('<instance-id>', 'a spot instance of the fleet', checked(checkInstanceId)),
    ),
  )
    .description(
      'a drill: send the spot interruption warning EC2 would send for an instance (or, with --rebalance, its rebalance recommendation) and let the control plane react',
    )
    .option('--rebalance', 'send a rebalance recommendation instead of the two-minute warning')
    .action(
      act((id: string, f: SourceFlags & { rebalance?: boolean }, _c: Command) =>
        withSource(async (s) => print(io, f, await interruptCommand(s, id, { rebalance: f.rebalance })))(f),
      ),
    );

  common(sourced(program.command('watch')))
    .description('a live view of jobs, fleet, solver and events; refreshes until Ctrl-C')
    .option('--once', 'print one frame and exit')
    .option(
      '--interval <seconds>',
      'seconds between refreshes (0.1-3,600)',
      numberIn('--interval', 0.1, 3600),
      1,
    )
    .action(
      act((f: SourceFlags & { once?: boolean; interval: number }, _c: Command) =>
        withSource(async (s) => {
          await watchCommand(s, {
            once: f.once,
            json: f.json,
            intervalMs: f.interval * 1000,
            width: io.columns,
            color: colour(f),
            clear: io.isTTY && !f.once && !f.json,
            signal: f.once ? undefined : io.interrupts(),
            write: io.out,
          });
          return EXIT.ok;
        })(f),
      ),
    );

  addPipelineCommands(program, io, act, withSource);

  common(sourced(program.command('report')))
    .description('write a self-contained HTML report with charts, and summary.json')
    .option('--out <dir>', 'directory to write', nonEmpty('--out'), 'tetrafleet-report')
    .option('--title <title>', 'report title')
    .action(
      act((f: SourceFlags & { out: string; title?: string }, _c: Command) =>
        withSource(async (s) => print(io, f, await reportCommand(s, { out: f.out, title: f.title })))(f),
      ),
    );

  return program;
}

interface UpFlags extends CommonFlags {
  readonly stack: string;
  readonly port: number;
  readonly stateFile: string;
  readonly instanceTypes?: string[];
  readonly maxFleet?: number;
  readonly budget?: number;
}

async function up(io: CliIo, f: UpFlags): Promise<ExitCode> {
  const signal = io.interrupts();
  const t0 = Date.now();
  const running = await startLocal({
    stackName: f.stack,
    port: f.port,
    stateFile: f.stateFile,
    instanceTypes: f.instanceTypes,
    maxFleetSize: f.maxFleet,
    budgetPerHour: f.budget,
    env: io.env,
    onProgress: (step) => io.err(`  ${stepText(step)} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`),
  });
  try {
    const ready = {
      endpoint: running.state.endpoint,
      stackName: running.state.stackName,
      stateFile: running.stateFile,
      pid: running.state.pid,
    };
    if (f.json) io.out(`${toJson(ready)}\n`);
    else
      io.out(
        `local cloud ready at ${ready.endpoint} (stack ${ready.stackName}) in ${((Date.now() - t0) / 1000).toFixed(1)} s\n` +
          `other commands find it through ${ready.stateFile}; try \`tetrafleet submit FILE\` or \`tetrafleet watch\`\n` +
          'press Ctrl-C to stop\n',
      );
    await untilAborted(signal);
    io.err('stopping the local cloud...\n');
  } finally {
    await running.stop();
  }
  io.err('stopped\n');
  return EXIT.ok;
}

function stepText(step: string): string {
  const steps: Record<string, string> = {
    emulator: 'starting the AWS emulator',
    synth: 'synthesising the stack',
    bootstrap: 'bootstrapping the environment',
    deploy: 'deploying the stack',
    runtime: 'starting the scheduler and the fleet',
  };
  return steps[step] ?? step;
}

interface DemoFlags extends CommonFlags {
  readonly duration: number;
  readonly seed: number;
  readonly jobs?: number;
  readonly out: string;
}

/** Frames shown when output is not a terminal: one every this many, so a log stays readable. */
const PIPED_FRAME_EVERY = 15;

async function demo(io: CliIo, f: DemoFlags, color: boolean): Promise<ExitCode> {
  let frames = 0;
  const result: DemoResult = await runDemo({
    duration: f.duration,
    seed: f.seed,
    jobs: f.jobs,
    outDir: f.out,
    signal: io.interrupts(),
    frame: { width: io.columns, color },
    onProgress: (line) => io.err(`${line}\n`),
    onFrame: (frame) => {
      if (f.json) return;
      if (io.isTTY) io.out(`${CLEAR}${frame}\n`);
      else if (frames++ % PIPED_FRAME_EVERY === 0) io.out(`${frame}\n\n`);
    },
    env: io.env,
  });
  const { reportPath, summary, submitted, interrupted, timedOut } = result;
  if (f.json) io.out(`${toJson({ reportPath, summary, submitted, interrupted, timedOut })}\n`);
  else {
    const how = interrupted ? ' (interrupted)' : timedOut ? ' (time ran out before every job finished)' : '';
    io.out(
      `\ndemo finished${how}: ${plural(submitted, 'job')} submitted\nreport: ${reportPath}\n${summaryText(summary)}\n`,
    );
  }
  return EXIT.ok;
}

function version(): string {
  try {
    return (
      JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
    ).version;
  } catch {
    return 'unknown';
  }
}
