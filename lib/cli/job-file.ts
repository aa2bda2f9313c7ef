import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import {
  type Document,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseAllDocuments,
  type YAMLError,
} from 'yaml';
import type { z } from 'zod';
import { TetrafleetError } from '../core/errors.ts';
import { type JobSpec, type JobSpecInput, JobSpecSchema } from '../core/model/job.ts';
import { toFieldIssues, type UnknownField, unknownFields } from '../core/model/validate.ts';

/** One problem in a job file, placed at a line (1-based) when the file has one for it. */
export interface JobFileIssue {
  /** Dotted path from the spec's root, e.g. `alternatives.0.durationSeconds`; empty for the whole spec. */
  readonly path: string;
  readonly message: string;
  /** Which spec of the file (0-based; shown 1-based) when the file holds several. */
  readonly spec?: number;
  readonly line?: number;
  readonly column?: number;
}

/** A job file that cannot be read, parsed or validated; every problem, each with its field and line. */
export class JobFileError extends TetrafleetError {
  readonly retryable = false;
  constructor(
    readonly file: string,
    readonly issues: readonly JobFileIssue[],
  ) {
    super(issues.map((i) => describeJobFileIssue(file, i)).join('\n'));
  }
}

/** `jobs.yaml:12:7: alternatives.0.durationSeconds: durationSeconds must be greater than 0`. */
export function describeJobFileIssue(file: string, issue: JobFileIssue): string {
  const where = issue.line !== undefined ? `${file}:${issue.line}:${issue.column ?? 1}` : file;
  const spec = issue.spec !== undefined ? `job #${issue.spec + 1}` : '';
  const field = [spec, issue.path].filter(Boolean).join(' ');
  return `${where}: ${field ? `${field}: ` : ''}${issue.message}`;
}

export interface ParsedJobFile {
  /** The specs as written (defaults not filled in), ready for `submitJob`. */
  readonly inputs: JobSpecInput[];
  /** The same specs validated, defaults filled in. */
  readonly specs: JobSpec[];
}

export async function readJobFile(path: string): Promise<ParsedJobFile> {
  return parseJobFile(await readSpecText(path, 'a JSON or YAML file of job specs'), basename(path));
}

/** The text of a spec file, or a JobFileError that says why it cannot be read and what to pass. */
export async function readSpecText(path: string, expected: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : String(code);
    throw new JobFileError(basename(path), [
      { path: '', message: `cannot read ${path}: ${why}; pass ${expected}` },
    ]);
  }
}

/** YAML syntax errors, each with its line, as one JobFileError (nothing when the text parsed). */
export function throwSyntaxErrors(file: string, errors: readonly YAMLError[], lines: LineCounter): void {
  if (errors.length === 0) return;
  throw new JobFileError(
    file,
    errors.map((e) => {
      const pos = lines.linePos(e.pos[0]);
      return { path: '', message: firstLine(e.message), line: pos.line, column: pos.col };
    }),
  );
}

/**
 * Parses JSON or YAML (YAML is a superset of JSON, so one parser serves both and gives line numbers for
 * either). The file holds one spec, a list of specs, `{ jobs: [...] }`, or several YAML documents.
 */
export function parseJobFile(text: string, file = 'jobs'): ParsedJobFile {
  refuseBinary(file, text);
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false });
  if (!Array.isArray(docs)) throw new JobFileError(file, [{ path: '', message: 'the file is empty' }]);
  throwSyntaxErrors(
    file,
    docs.flatMap((d) => d.errors),
    lines,
  );
  const entries = docs.flatMap((doc) => specsOf(file, doc));
  if (entries.length === 0)
    throw new JobFileError(file, [{ path: '', message: 'the file holds no job specs' }]);
  const many = entries.length > 1 || entries.some((e) => e.prefix.length > 0);
  const issues: JobFileIssue[] = [];
  const specs: JobSpec[] = [];
  entries.forEach((entry, index) => {
    const checked = checkSpec(JobSpecSchema, entry.doc, entry.prefix, entry.value, lines);
    issues.push(...checked.issues.map((issue) => ({ ...issue, spec: many ? index : undefined })));
    if (checked.spec) specs.push(checked.spec);
  });
  if (issues.length > 0) throw new JobFileError(file, issues);
  return { inputs: entries.map((e) => e.value as JobSpecInput), specs };
}

interface Entry {
  readonly doc: Document;
  /** Where the spec sits in its document: [] for a lone spec, [i] in a list, ['jobs', i] under `jobs`. */
  readonly prefix: (string | number)[];
  readonly value: unknown;
}

function specsOf(file: string, doc: Document): Entry[] {
  const value = toJsOf(file, doc);
  if (value === null || value === undefined) return [];
  if (typeof value !== 'object')
    throw new JobFileError(file, [
      { path: '', message: `not JSON or YAML job specs: the file holds one ${typeof value} value` },
    ]);
  if (Array.isArray(value)) return value.map((v, i) => ({ doc, prefix: [i], value: v }));
  const jobs = (value as { jobs?: unknown }).jobs;
  if (isMap(doc.contents) && Array.isArray(jobs) && Object.keys(value as object).length === 1)
    return jobs.map((v, i) => ({ doc, prefix: ['jobs', i], value: v }));
  return [{ doc, prefix: [], value }];
}

/**
 * The document's plain value. The yaml library refuses a document whose aliases expand past a limit (an
 * "alias bomb" that would take the process's memory) by throwing; that is a bad file, reported as one.
 */
export function toJsOf(file: string, doc: Document): unknown {
  try {
    return doc.toJS();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new JobFileError(file, [
      {
        path: '',
        message: `cannot expand the YAML: ${firstLine(message).replace(/^\w/, (c) => c.toLowerCase())}`,
      },
    ]);
  }
}

/**
 * A binary file (a model, an archive) would parse as one odd YAML string; say what it is instead. NUL
 * never appears in text, and U+FFFD is what reading invalid UTF-8 leaves behind.
 */
export function refuseBinary(file: string, text: string): void {
  if (text.includes('\u0000') || text.includes('\uFFFD'))
    throw new JobFileError(file, [{ path: '', message: 'not JSON or YAML: the file is binary' }]);
}

/**
 * The line of the node at `path`, or, for a field that is missing, of the nearest enclosing node that
 * exists (the object that lacks it).
 */
export function positionOf(
  doc: Document,
  path: (string | number)[],
  lines: LineCounter,
): { line?: number; column?: number } {
  for (let n = path.length; n >= 0; n--) {
    const node = (n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true)) as Node | null | undefined;
    if (node && (isMap(node) || isSeq(node) || 'range' in node) && node.range) {
      const pos = lines.linePos(node.range[0]);
      return { line: pos.line, column: pos.col };
    }
  }
  return {};
}

/**
 * A spec of a file checked against `schema`: the parsed spec (when zod accepts it) and every issue, bad
 * fields and unknown ones (see unknownFields), each at its line and in file order. The spec is usable
 * only when there are no issues.
 */
export function checkSpec<S extends z.ZodType>(
  schema: S,
  doc: Document,
  prefix: readonly (string | number)[],
  value: unknown,
  lines: LineCounter,
): { spec?: z.output<S>; issues: JobFileIssue[] } {
  const parsed = schema.safeParse(value);
  const issues = byLine([
    ...(parsed.success ? [] : schemaIssues(doc, prefix, value, parsed.error, lines)),
    ...unknownFieldIssues(doc, prefix, unknownFields(schema, value), lines),
  ]);
  return parsed.success ? { spec: parsed.data, issues } : { issues };
}

/** Issues in file order (stable: issues on one line keep their order). */
function byLine(issues: readonly JobFileIssue[]): JobFileIssue[] {
  return [...issues].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
}

/** A spec's schema errors, each with its field, a plain message and the line of its node. */
function schemaIssues(
  doc: Document,
  prefix: readonly (string | number)[],
  value: unknown,
  error: z.ZodError,
  lines: LineCounter,
): JobFileIssue[] {
  // toFieldIssues keeps zod's order, so each field issue lines up with the raw issue and its path.
  const fieldIssues = toFieldIssues(error);
  return error.issues.map((issue, k) => {
    const path = [...prefix, ...issue.path.map((p) => (typeof p === 'number' ? p : String(p)))];
    return {
      path: fieldIssues[k]?.path ?? issue.path.join('.'),
      message: plainMessage(
        fieldIssues[k]?.message ?? issue.message,
        issue.path.length > 0 && valueAt(value, issue.path) === undefined ? issue.path.at(-1) : undefined,
      ),
      ...positionOf(doc, path, lines),
    };
  });
}

/** Fields no schema declares (see unknownFields), each at the line of its key. */
function unknownFieldIssues(
  doc: Document,
  prefix: readonly (string | number)[],
  fields: readonly UnknownField[],
  lines: LineCounter,
): JobFileIssue[] {
  return fields.map((f) => ({
    path: f.path.join('.'),
    message: f.message,
    ...keyPositionOf(doc, [...prefix, ...f.path], lines),
  }));
}

/** The line of the key that ends `path` (the key itself, not its value), else of its value. */
function keyPositionOf(
  doc: Document,
  path: (string | number)[],
  lines: LineCounter,
): { line?: number; column?: number } {
  const parent = (path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true)) as
    | Node
    | null
    | undefined;
  if (isMap(parent)) {
    const key = path.at(-1);
    const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === String(key));
    const range = isScalar(pair?.key) ? pair.key.range : undefined;
    if (range) {
      const pos = lines.linePos(range[0]);
      return { line: pos.line, column: pos.col };
    }
  }
  return positionOf(doc, path, lines);
}

/**
 * zod words a missing field as a type mismatch ("expected array, received undefined", or for `task` the
 * union's own message); say plainly that the field is required.
 */
function plainMessage(message: string, missing: PropertyKey | undefined): string {
  if (missing === undefined) return message;
  const expected = /expected (\w+), received undefined$/.exec(message)?.[1];
  return `${String(missing)} is required${expected ? ` (expected ${expected})` : ''}`;
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let at: unknown = value;
  for (const key of path) {
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<PropertyKey, unknown>)[key];
  }
  return at;
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}
