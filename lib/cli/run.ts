import { CommanderError } from 'commander';
import { NotFoundError, ValidationError } from '../core/errors.ts';
import { PipelineRejectedError, SubmissionRejectedError } from '../sdk/errors.ts';
import type { CommandOutput } from './commands/output.ts';
import { toJson } from './commands/output.ts';
import { CliEnvironmentError, CliUsageError, EXIT, type ExitCode, SubmitInterruptedError } from './errors.ts';
import { JobFileError } from './job-file.ts';
import { refusalOf } from './refusal.ts';

/** The process around the CLI: where output goes and what the terminal is. Tests pass their own. */
export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly isTTY: boolean;
  readonly columns: number;
  readonly env: NodeJS.ProcessEnv;
  /**
   * Long-running commands (up, watch, demo) call this: from then on Ctrl-C aborts the returned signal so
   * they shut down cleanly, instead of ending the process at once.
   */
  readonly interrupts: () => AbortSignal;
}

/** Flags every command takes. */
export interface CommonFlags {
  readonly json?: boolean;
  readonly debug?: boolean;
  readonly color?: boolean;
}

/** Prints a command's result: JSON with `--json`, else its text. */
export function print(io: CliIo, flags: CommonFlags, output: CommandOutput<unknown>): ExitCode {
  io.out(`${flags.json ? toJson(output.data) : output.text}\n`);
  return output.exitCode ?? EXIT.ok;
}

/** The exit code an error means: usage 2, not found 3, environment 4, anything else 1. */
export function exitCodeOf(error: unknown): ExitCode {
  if (error instanceof SubmitInterruptedError) return exitCodeOf(error.cause);
  if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (
    error instanceof CliUsageError ||
    error instanceof ValidationError ||
    error instanceof JobFileError ||
    error instanceof SubmissionRejectedError ||
    error instanceof PipelineRejectedError
  )
    return EXIT.usage;
  if (error instanceof NotFoundError) return EXIT.notFound;
  if (error instanceof CliEnvironmentError || isEnvironmentProblem(error)) return EXIT.environment;
  return EXIT.failure;
}

/** The emulator or AWS cannot be reached, or the local runtime could not start. */
function isEnvironmentProblem(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'EmulatorError' || error.name === 'HandlerConfigError') return true;
  const code =
    (error as NodeJS.ErrnoException).code ?? (error.cause as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EADDRINUSE';
}

/**
 * Reports an error as one line per problem with its fix (a job file may have several), never a stack
 * trace unless `--debug`. With `--json` the error is also printed as JSON on stdout for scripts.
 */
export function reportError(io: CliIo, flags: CommonFlags, error: unknown): ExitCode {
  const code = exitCodeOf(error);
  if (error instanceof CommanderError) {
    // Commander already printed its message on stderr; a script asked for JSON still gets the document.
    if (flags.json && code !== EXIT.ok) printJsonError(io, code, error, [commanderMessage(error)]);
    return code;
  }
  const message = messageOf(error);
  io.err(`${message.map((l) => `tetrafleet: ${l}`).join('\n')}\n`);
  if (flags.debug && error instanceof Error && error.stack) io.err(`${error.stack}\n`);
  if (flags.json) printJsonError(io, code, error, message);
  return code;
}

function printJsonError(io: CliIo, code: ExitCode, error: unknown, message: readonly string[]): void {
  const submitted = error instanceof SubmitInterruptedError ? { submitted: error.submitted } : {};
  const doc = { exitCode: code, kind: nameOf(error), message: message.join('\n'), ...submitted };
  io.out(`${toJson({ error: doc })}\n`);
}

/** `error: option '--limit <n>' argument 'x' is invalid. ...` without commander's `error: `. */
function commanderMessage(error: CommanderError): string {
  return firstLine(error.message).replace(/^error: /, '');
}

/**
 * Whether the arguments ask for JSON, for errors raised while commander parses them (before any action
 * has recorded its flags). Arguments after `--` are operands, not flags.
 */
export function asksForJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}

function nameOf(error: unknown): string {
  return error instanceof Error ? error.name : 'Error';
}

/** The command that lists each kind of thing a NotFoundError can name. */
const LISTED_BY: Readonly<Record<string, string>> = {
  job: 'tetrafleet jobs',
  pipeline: 'tetrafleet pipeline list',
  instance: 'tetrafleet fleet',
};

function messageOf(error: unknown): string[] {
  if (error instanceof SubmitInterruptedError) {
    const { submitted, names, failedAt } = error;
    const [why, ...more] = messageOf(error.cause);
    const notSent = names.slice(failedAt).map((name, k) => `job #${failedAt + k + 1} (${name})`);
    return [
      `submitted ${submitted.length} of ${names.length} jobs, then job #${failedAt + 1} (${names[failedAt]}) failed: ${why}`,
      ...more,
      ...submitted.map((j) => `  sent      ${j.jobId}  ${j.name}`),
      `  not sent  ${notSent.join(', ')}`,
    ];
  }
  if (error instanceof SubmissionRejectedError)
    return [error.message, ...error.issues.map((i) => `  ${i.path}: ${i.message}`)];
  if (error instanceof PipelineRejectedError) {
    const { reasons } = refusalOf(error);
    const head = `pipeline ${error.pipelineId} was refused`;
    return reasons.length === 1 ? [`${head}: ${reasons[0]}`] : [`${head}:`, ...reasons.map((r) => `  ${r}`)];
  }
  if (error instanceof ValidationError)
    return [`invalid ${error.what}:`, ...error.issues.map((i) => `  ${i.path}: ${i.message}`)];
  if (error instanceof NotFoundError) {
    const list = LISTED_BY[error.entity];
    return [list ? `${error.message}: check the id with \`${list}\`` : error.message];
  }
  const text = error instanceof Error ? error.message : String(error);
  if (error instanceof JobFileError) return text.split('\n');
  if (
    isEnvironmentProblem(error) &&
    !(error instanceof CliEnvironmentError) &&
    /ECONNREFUSED|fetch failed/.test(text)
  )
    return [
      `cannot reach the AWS endpoint (${firstLine(text)}): is the emulator or \`tetrafleet up\` still running?`,
    ];
  return [firstLine(text), ...reasonBelow(text).map((l) => `  ${l}`)];
}

/** Stack frames, and the end of Node's error print-out, below an error headline. */
const NOT_REASON = /^\s+at |^\s*[{}[\]]|^\s*\w+: \[|^Node\.js v/;

/**
 * The reason a message announces with a first line ending in a colon and gives below it, as a child
 * process's output (`cdk synth exited with 1:` and the synth's own error): the last error headline there
 * and the lines that go with it, up to the stack trace; or, without a headline, the last few lines.
 */
function reasonBelow(text: string): string[] {
  const [first, ...rest] = text.split('\n');
  if (!first?.trimEnd().endsWith(':')) return [];
  const lines = rest.map((l) => l.trimEnd());
  let head = -1;
  lines.forEach((l, i) => {
    if (/^[A-Z]\w*Error\b.*: /.test(l)) head = i;
  });
  if (head < 0) return lines.filter((l) => l.trim() !== '' && !NOT_REASON.test(l)).slice(-3);
  const reason: string[] = [];
  for (const line of lines.slice(head)) {
    if (line.trim() === '' || NOT_REASON.test(line) || reason.length === 5) break;
    reason.push(line);
  }
  return reason;
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
