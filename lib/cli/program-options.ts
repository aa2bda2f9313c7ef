/** Options and option parsers shared by the `tetrafleet` commands. */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { findInstanceType, INSTANCE_CATALOG } from '../core/model/catalog.ts';
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
    .option('--stack <name>', 'a deployed stack to use instead of the local cloud')
    .option('--endpoint <url>', 'the AWS endpoint (emulator) holding the stack')
    .option('--state-file <path>', 'the local cloud record written by `up`', DEFAULT_STATE_FILE);
}

export function int(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n))
      throw new InvalidArgumentError(`${flag} must be a whole number, got ${JSON.stringify(value)}`);
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

export function positive(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0)
      throw new InvalidArgumentError(`${flag} must be a number greater than 0, got ${JSON.stringify(value)}`);
    return n;
  };
}

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
