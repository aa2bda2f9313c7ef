import { z } from 'zod';
import type { FieldIssue } from '../errors.ts';
import { parseInputResult, parseResult, toFieldIssues } from '../model/validate.ts';

/**
 * Every wire message (SDK -> scheduler, scheduler <-> agent) is a versioned envelope:
 * `{ version: 1, kind: 'SubmitJob', ...fields }`. The version lets a reader refuse a message it does not
 * understand instead of misreading it; the kind picks the schema. Keep this file small and stable:
 * other protocol files build on it.
 */
export const PROTOCOL_VERSION = 1;

const VersionSchema = z.literal(PROTOCOL_VERSION, {
  error: (issue) => `version must be ${PROTOCOL_VERSION}, got ${JSON.stringify(issue.input)}`,
});

/** Schema of one message kind: the envelope fields plus `shape`. */
export function envelope<const K extends string, S extends z.core.$ZodLooseShape>(kind: K, shape: S) {
  return z.object({
    version: VersionSchema,
    kind: z.literal(kind, {
      error: (issue) => `kind must be ${kind}, got ${JSON.stringify(issue.input)}`,
    }),
    ...shape,
  });
}

/** The fields every message has; used to route a message before its full schema is known. */
export const EnvelopeHeaderSchema = z.looseObject({
  version: z.number({ error: 'version must be a number' }),
  kind: z.string({ error: 'kind must be a string' }).min(1, { error: 'kind must not be empty' }),
});

/** Result of decoding: the typed message, or every field problem at once. */
export type Decoded<T> = { ok: true; value: T } | { ok: false; issues: FieldIssue[] };

export interface DecodeOptions {
  /**
   * Also refuse fields the schema does not declare (see unknownFields). For what users write
   * (submissions); messages between the control plane and agents are read leniently, so that an older
   * reader accepts what a newer writer added.
   */
  readonly refuseUnknownFields?: boolean;
}

/**
 * Decode a message (a JSON string or an already-parsed value) against the schema for its kind.
 * Never throws: bad JSON, a foreign version, an unknown kind and bad fields all come back as issues.
 */
export function decodeMessage<M extends Record<string, z.ZodType>>(
  schemas: M,
  input: unknown,
  options: DecodeOptions = {},
): Decoded<z.output<M[keyof M]>> {
  const parsed = typeof input === 'string' ? parseJson(input) : { ok: true as const, value: input };
  if (!parsed.ok) return parsed;
  const header = EnvelopeHeaderSchema.safeParse(parsed.value);
  if (!header.success) return { ok: false, issues: toFieldIssues(header.error) };
  const { version, kind } = header.data;
  if (version !== PROTOCOL_VERSION) {
    return {
      ok: false,
      issues: [{ path: 'version', message: `version must be ${PROTOCOL_VERSION}, got ${version}` }],
    };
  }
  const schema = Object.hasOwn(schemas, kind) ? schemas[kind] : undefined;
  if (!schema) {
    const allowed = Object.keys(schemas).join(', ');
    return { ok: false, issues: [{ path: 'kind', message: `kind must be one of ${allowed}, got ${kind}` }] };
  }
  const read = options.refuseUnknownFields ? parseInputResult : parseResult;
  return read(schema, parsed.value) as Decoded<z.output<M[keyof M]>>;
}

function parseJson(text: string): Decoded<unknown> {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { ok: false, issues: [{ path: '', message: `body must be JSON, got ${reason}` }] };
  }
}

/** One line that names every issue, for logs and DLQ reasons. */
export function describeIssues(issues: readonly FieldIssue[]): string {
  return issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
}
