/** Options and option parsers shared by the `tetrafleet` commands. */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { isStackName } from '../aws/stack-name.ts';
import { ValidationError } from '../core/errors.ts';
import { findInstanceType, INSTANCE_CATALOG } from '../core/model/catalog.ts';
import { checkJobId, checkPipelineId } from '../sdk/client-validation.ts';
import type { ExitCode } from './errors.ts';
import type { CommonFlags } from './run.ts';
import { type CliSource, DEFAULT_STATE_FILE } from './source.ts';

export interface SourceFlags extends CommonFlags {
  readonly stack?: string;
  readonly endpoint?: string;
  readonly stateFile?: string;
}

export type Act = <A extends unknown[]>(
  fn: (...args: A) => Promise<ExitCode>,
) => (...args: A) => Promise<void>;
export type WithSource = (
  fn: (source: CliSource, flags: SourceFlags) => Promise<ExitCode>,
) => (flags: SourceFlags) => Promise<ExitCode>;

/** `--json`, `--debug` and `--no-color`, on every command so each one's --help lists them. */
export function common(cmd: Command): Command {
  return cmd
    .option('--json', 'print machine-readable JSON')
    .option('--debug', 'print stack traces on errors')
    .addOption(new Option('--no-color', 'plain output without colours'));
}

/** How a command finds the stack: the local cloud by default, or a deployed one. */
export function sourced(cmd: Command): Command {
  return cmd
    .option('--stack <name>', 'a deployed stack to use instead of the local cloud', stackName('--stack'))
    .option('--endpoint <url>', 'the AWS endpoint (emulator) holding the stack', endpointUrl('--endpoint'))
    .option(
      '--state-file <path>',
      'the local cloud record written by `up`',
      nonEmpty('--state-file'),
      DEFAULT_STATE_FILE,
    );
}

/** A whole number (a seed): not empty, no fraction, and within what a double holds exactly. */
export function int(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isSafeInteger(n))
      throw new InvalidArgumentError(`${flag} must be a whole number, got ${JSON.stringify(value)}`);
    return n;
  };
}

/** A whole number of at least 1 (a count to show), refused as the flag is parsed. */
export function count(flag: string) {
  const whole = int(flag);
  return (value: string): number => {
    const n = whole(value);
    if (n < 1) throw new InvalidArgumentError(`${flag} must be at least 1, got ${JSON.stringify(value)}`);
    return n;
  };
}

/** A number in [min, max] (a whole one where `whole`), refused at parse time, before anything starts. */
function inRange(flag: string, min: number, max: number, whole: boolean) {
  const what = whole ? 'a whole number' : 'a number';
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !(whole ? Number.isInteger(n) : Number.isFinite(n)) || n < min || n > max)
      throw new InvalidArgumentError(
        `${flag} must be ${what} from ${min} to ${max.toLocaleString('en-US')}, got ${JSON.stringify(value)}`,
      );
    return n;
  };
}

/** A whole number in [min, max], refused at parse time so that nothing starts with a value that fails later. */
export function wholeIn(flag: string, min: number, max: number) {
  return inRange(flag, min, max, true);
}

/** Any number in [min, max], e.g. a rate of 0.5 per second. */
export function numberIn(flag: string, min: number, max: number) {
  return inRange(flag, min, max, false);
}

/**
 * A number greater than 0, and at most `max` where given: a wait or a duration past what a timer holds
 * (about 24.8 days) would fire at once.
 */
export function positive(flag: string, max?: number) {
  const bound = max === undefined ? '' : ` and at most ${max.toLocaleString('en-US')}`;
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0 || (max !== undefined && n > max))
      throw new InvalidArgumentError(
        `${flag} must be a number greater than 0${bound}, got ${JSON.stringify(value)}`,
      );
    return n;
  };
}

/** A path or name that must not be empty: an empty one would quietly mean the current directory. */
export function nonEmpty(flag: string) {
  return (value: string): string => {
    if (value.trim() === '') throw new InvalidArgumentError(`${flag} must not be empty`);
    return value;
  };
}

/** `--stack`: refused as it is parsed, rather than by a deploy or a lookup that fails later. */
export function stackName(flag: string) {
  return (value: string): string => {
    if (!isStackName(value))
      throw new InvalidArgumentError(
        `${flag} must be a stack name: a letter, then letters, digits and "-", up to 128, got ${JSON.stringify(value)}`,
      );
    return value;
  };
}

/** `--endpoint`: an http(s) URL; an empty one would quietly mean the local cloud instead. */
export function endpointUrl(flag: string) {
  return (value: string): string => {
    let protocol = '';
    try {
      protocol = new URL(value).protocol;
    } catch {
      // not a URL: refused below
    }
    if (protocol !== 'http:' && protocol !== 'https:')
      throw new InvalidArgumentError(
        `${flag} must be an http or https URL, e.g. http://localhost:4566, got ${JSON.stringify(value)}`,
      );
    return value;
  };
}

/**
 * A flag or argument checked by `check` as it is parsed: a ValidationError's issues (with the value), or
 * another error's message, become commander's usage error.
 */
export function checked(check: (value: string) => unknown) {
  return (value: string): string => {
    try {
      check(value);
    } catch (error) {
      if (error instanceof ValidationError && error.issues.length > 0)
        throw new InvalidArgumentError(
          `${error.issues.map((i) => i.message).join('; ')}, got ${JSON.stringify(value)}`,
        );
      throw new InvalidArgumentError(error instanceof Error ? error.message : String(error));
    }
    return value;
  };
}

/** A job id as the SDK and admission accept it. */
export const jobId = checked(checkJobId);
/** A pipeline id as the SDK and admission accept it. */
export const pipelineId = checked(checkPipelineId);

export function csv(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * `--instance-types`: names from the instance catalog, checked as the option is parsed so that a typo is
 * refused before a deploy of minutes rather than after it. An empty list would silently mean the default.
 */
export function instanceTypes(flag: string) {
  return (value: string): string[] => {
    const names = csv(value);
    if (names.length === 0)
      throw new InvalidArgumentError(
        `${flag} must name at least one instance type, e.g. c7i.large,g5.xlarge, got ${JSON.stringify(value)}`,
      );
    const unknown = names.filter((n) => !findInstanceType(n));
    if (unknown.length > 0)
      throw new InvalidArgumentError(
        `${flag}: ${unknown.map((n) => `${n} is not in the instance catalog${hint(n)}`).join('; ')}`,
      );
    return names;
  };
}

function hint(name: string): string {
  const near = INSTANCE_CATALOG.map((t) => t.name).filter((n) => editDistance(n, name.toLowerCase()) <= 2);
  return near.length > 0 ? ` (did you mean ${near.slice(0, 3).join(', ')}?)` : '';
}

/** Levenshtein distance; names are short, so the quadratic table is nothing. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++)
      next.push(
        Math.min(
          (row[j] ?? 0) + 1,
          (next[j - 1] ?? 0) + 1,
          (row[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
        ),
      );
    row = next;
  }
  return row[b.length] ?? 0;
}
