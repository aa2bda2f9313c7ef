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
