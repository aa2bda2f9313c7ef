import type { z } from 'zod';
import { type FieldIssue, ValidationError } from '../errors.ts';

/** Turn zod issues into field-level issues with dotted paths (`alternatives.0.vcpu`). */
export function toFieldIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.map((issue) => ({
    path: issue.path.map(String).join('.'),
    message: issueMessage(issue),
  }));
}

/**
 * zod reports a bad record key as a bare "Invalid key in record" and keeps the key schema's own message
 * (e.g. what env names must look like) nested; surface that message with the offending key.
 */
function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code !== 'invalid_key') return issue.message;
  const inner = issue.issues[0]?.message ?? issue.message;
  return `${inner}, got ${JSON.stringify(String(issue.path.at(-1)))}`;
}

/** Parse `input` with `schema`, or throw a ValidationError naming every bad field at once. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw new ValidationError(what, toFieldIssues(result.error));
  return result.data;
}

/** Parse as data: `{ ok: true, value }` or `{ ok: false, issues }`, for callers that report rather than throw. */
export function parseResult<S extends z.ZodType>(
  schema: S,
  input: unknown,
): { ok: true; value: z.output<S> } | { ok: false; issues: FieldIssue[] } {
  const result = schema.safeParse(input);
  return result.success
    ? { ok: true, value: result.data }
    : { ok: false, issues: toFieldIssues(result.error) };
}

/** A field of an input that its schema does not declare, with its path from the input's root. */
export interface UnknownField {
  readonly path: (string | number)[];
  readonly message: string;
}

/** What the walk reads of a zod schema's definition; every other definition type is opaque to it. */
interface SchemaDef {
  readonly type: string;
  readonly shape?: Record<string, z.ZodType>;
  readonly catchall?: z.ZodType;
  readonly innerType?: z.ZodType;
  readonly element?: z.ZodType;
  readonly valueType?: z.ZodType;
  readonly in?: z.ZodType;
  readonly options?: readonly z.ZodType[];
  readonly discriminator?: string;
  readonly getter?: () => z.ZodType;
  readonly values?: readonly unknown[];
}

const defOf = (schema: z.ZodType): SchemaDef => schema._zod.def as unknown as SchemaDef;

/**
 * JSON.parse keeps a `__proto__` key as an ordinary own key, but zod skips it when it builds the parsed
 * object or map (assigning it would set the prototype), so an env variable or label of that name would
 * silently vanish. It is refused wherever it appears, records included.
 */
const PROTO_KEY = '__proto__';
const PROTO_KEY_MESSAGE = '__proto__ cannot be used as a key: it would be dropped';

/** Definition types that wrap one schema and accept what it accepts (or also undefined, null, ...). */
const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional']);

/**
 * Fields of `input` that `schema` does not declare, each with a likely intended name, and keys named
 * `__proto__` (in records too). A zod object drops such fields silently, so a typo (`gpu: 1` for `gpus`, `deadline` for `deadlineSeconds`) would submit a
 * job that quietly lacks what its author asked for. The submission boundaries (the SDK, the CLI's spec
 * files and admit) refuse them. Stored records and agent messages are not checked this way, so that an
 * older reader does not refuse what a newer writer added.
 *
 * Objects with a catch-all (loose or strict) are left to zod; a union is walked through the option the
 * input selects (by discriminator, else the first option that accepts it).
 */
export function unknownFields(schema: z.ZodType, input: unknown): UnknownField[] {
  const found: Found[] = [];
  walk(schema, input, [], found);
  const all = found.length <= MAX_LISTED_UNKNOWN + 1;
  const listed = found.slice(0, all ? found.length : MAX_LISTED_UNKNOWN).map((f) => ({
    path: f.path,
    message: f.message ?? unknownFieldMessage(f.key ?? '', f.shape ?? {}),
  }));
  const next = found[MAX_LISTED_UNKNOWN];
  if (!all && next) {
    const rest = found.length - MAX_LISTED_UNKNOWN - 1;
    listed.push({ path: next.path, message: `unknown field, and ${rest} more after it not listed` });
  }
  return listed;
}

/**
 * Unknown fields listed one by one, each with its suggestion; the rest are counted. Finding a suggestion
 * costs a fraction of a millisecond, so a body of thousands of made-up fields would otherwise take
 * seconds to refuse, and its refusal would outgrow what can be stored with it.
 */
const MAX_LISTED_UNKNOWN = 50;

/** An unknown field found by the walk; its message is worked out only if it is listed. */
interface Found {
  readonly path: (string | number)[];
  readonly message?: string;
  readonly key?: string;
  readonly shape?: Record<string, z.ZodType>;
}

function walk(schema: z.ZodType, value: unknown, path: (string | number)[], out: Found[]): void {
  const def = defOf(schema);
  if (WRAPPERS.has(def.type) && def.innerType) {
    walk(def.innerType, value, path, out);
    return;
  }
  switch (def.type) {
    case 'lazy':
      if (def.getter) walk(def.getter(), value, path, out);
      return;
    case 'pipe':
      if (def.in) walk(def.in, value, path, out);
      return;
    case 'array':
      if (Array.isArray(value) && def.element) {
        const element = def.element;
        value.forEach((v, i) => {
          walk(element, v, [...path, i], out);
        });
      }
      return;
    case 'record':
      if (isPlainObject(value) && def.valueType) {
        const valueType = def.valueType;
        for (const [k, v] of Object.entries(value)) {
          if (k === PROTO_KEY) out.push({ path: [...path, k], message: PROTO_KEY_MESSAGE });
          else walk(valueType, v, [...path, k], out);
        }
      }
      return;
    case 'object':
      if (isPlainObject(value) && def.shape) walkObject(def, def.shape, value, path, out);
      return;
    case 'union': {
      const option = chosenOption(def, value);
      if (option) walk(option, value, path, out);
      return;
    }
    default:
      return;
  }
}

function walkObject(
  def: SchemaDef,
  shape: Record<string, z.ZodType>,
  value: Record<string, unknown>,
  path: (string | number)[],
  out: Found[],
): void {
  for (const [key, v] of Object.entries(value)) {
    const field = Object.hasOwn(shape, key) ? shape[key] : undefined;
    if (key === PROTO_KEY) out.push({ path: [...path, key], message: PROTO_KEY_MESSAGE });
    else if (field) walk(field, v, [...path, key], out);
    else if (def.catchall === undefined && v !== undefined) out.push({ path: [...path, key], key, shape });
  }
}

/** The shape of an object schema under its wrappers, or undefined for any other schema. */
function objectShape(schema: z.ZodType): Record<string, z.ZodType> | undefined {
  const def = defOf(schema);
  if (WRAPPERS.has(def.type) && def.innerType) return objectShape(def.innerType);
  return def.type === 'object' ? def.shape : undefined;
}

function chosenOption(def: SchemaDef, value: unknown): z.ZodType | undefined {
  const options = def.options ?? [];
  const discriminator = def.discriminator;
  if (discriminator !== undefined) {
    if (!isPlainObject(value)) return undefined;
    return options.find((o) => {
      const tag = defOf(o).shape?.[discriminator];
      return tag !== undefined && (defOf(tag).values ?? []).includes(value[discriminator]);
    });
  }
  return options.find((o) => o.safeParse(value).success);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * `unknown field; did you mean gpus?`; a field one level down when it is the one meant (`spot` next to
 * `requirement`: `did you mean requirement.spot?`); else the fields the object has.
 */
function unknownFieldMessage(key: string, shape: Record<string, z.ZodType>): string {
  const known = Object.keys(shape);
  const near =
    closest(key, known) ??
    closest(
      key,
      known.flatMap((k) => {
        const inner = objectShape(shape[k] as z.ZodType);
        return inner ? Object.keys(inner).map((sub) => `${k}.${sub}`) : [];
      }),
      (name) => name.slice(name.indexOf('.') + 1),
    );
  if (near !== undefined) return `unknown field; did you mean ${near}?`;
  return known.length > 0 ? `unknown field; the fields here are ${known.join(', ')}` : 'unknown field';
}

/**
 * The known name closest to `key` (compared by `leaf` of each name): equal but for case, within 2 edits
 * for names of 6+ letters (1 for 3+), one a prefix of the other (`deadline` for `deadlineSeconds`), or
 * the one name the key abbreviates.
 */
function closest(
  key: string,
  known: readonly string[],
  leaf: (name: string) => string = (name) => name,
): string | undefined {
  const lower = key.toLowerCase();
  const leaves = known.map((k) => leaf(k).toLowerCase());
  const same = leaves.indexOf(lower);
  if (same >= 0) return known[same];
  let best = -1;
  let bestDistance = Number.POSITIVE_INFINITY;
  leaves.forEach((l, i) => {
    const d = editDistance(lower, l);
    if (d < bestDistance) {
      best = i;
      bestDistance = d;
    }
  });
  const limit = Math.min(2, Math.floor(Math.min(lower.length, leaves[best]?.length ?? 0) / 3));
  if (best >= 0 && bestDistance <= limit) return known[best];
  if (lower.length < 3) return undefined;
  const i = leaves.findIndex((l) => l.startsWith(lower) || lower.startsWith(l));
  if (i >= 0) return known[i];
  // An abbreviation (`sloMs` for `sloP99Ms`): the only name that starts with the key's first letter,
  // holds all its letters in order and is at most twice as long.
  const abbreviates = (l: string) =>
    l[0] === lower[0] && l.length <= 2 * lower.length && isSubsequence(lower, l);
  const holding = lower.length >= 4 ? known.filter((_, k) => abbreviates(leaves[k] as string)) : [];
  return holding.length === 1 ? holding[0] : undefined;
}

function isSubsequence(short: string, long: string): boolean {
  let at = 0;
  for (const ch of long) if (ch === short[at]) at++;
  return at === short.length;
}

/**
 * Edit distance between two short strings, a swap of two neighbouring letters counting as one edit
 * (`gnag` for `gang`), as typing slips do.
 */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number) => d[i]?.[j] as number;
  for (let i = 1; i <= a.length; i++) {
    const row = d[i] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        row[j] = Math.min(at(i, j), at(i - 2, j - 2) + 1);
    }
  }
  return at(a.length, b.length);
}

/**
 * Parse user input as data: like parseResult, but a field the schema does not declare is an issue too
 * (see unknownFields), reported after the schema's own issues.
 */
export function parseInputResult<S extends z.ZodType>(
  schema: S,
  input: unknown,
): { ok: true; value: z.output<S> } | { ok: false; issues: FieldIssue[] } {
  const result = parseResult(schema, input);
  const unknown = unknownFields(schema, input).map((f) => ({ path: f.path.join('.'), message: f.message }));
  if (unknown.length === 0) return result;
  return { ok: false, issues: [...(result.ok ? [] : result.issues), ...unknown] };
}

/** Parse user input with `schema`, or throw a ValidationError naming every bad and every unknown field. */
export function parseInputOrThrow<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = parseInputResult(schema, input);
  if (!result.ok) throw new ValidationError(what, result.issues);
  return result.value;
}
