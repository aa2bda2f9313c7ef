import { awsErrorCode } from './errors.ts';

/**
 * True when a conditional write failed its condition: a single-item ConditionalCheckFailedException, or
 * a transaction cancelled because one of its conditions failed (not for a conflict with another transaction).
 */
export function isConditionFailure(error: unknown): boolean {
  const code = awsErrorCode(error);
  if (code === 'ConditionalCheckFailedException') return true;
  if (code !== 'TransactionCanceledException') return false;
  const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
  return reasons.some((r) => r.Code === 'ConditionalCheckFailed');
}

/** The pieces of an UpdateItem expression, built up by several helpers. */
export interface UpdateParts {
  readonly sets: string[];
  readonly names: Record<string, string>;
  readonly values: Record<string, unknown>;
}

/** Adds `SET #prefix_field = :prefix_field` for every defined field of `patch`. */
export function addSets(
  parts: UpdateParts,
  patch: Readonly<Record<string, unknown>>,
  prefix: string,
): UpdateParts {
  for (const [field, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    parts.sets.push(`#${prefix}_${field} = :${prefix}_${field}`);
    parts.names[`#${prefix}_${field}`] = field;
    parts.values[`:${prefix}_${field}`] = value;
  }
  return parts;
}
