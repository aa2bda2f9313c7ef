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
