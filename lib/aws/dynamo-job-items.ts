/**
 * How a job is laid out in the jobs table, and the page cursors `list` hands out: DynamoDB's
 * LastEvaluatedKey as base64url JSON, so a caller can resume a listing without seeing the key schema.
 */

import { type Job, JobSchema } from '../core/model/job.ts';
import { parseOrThrow } from '../core/model/validate.ts';
import { TABLE_KEYS } from './tables.ts';

export function idemKey(key: string): string {
  return `IDEM#${key}`;
}

/** Items keep the job's fields flat so the GSI can index `status` and `submittedAt`. */
export function toItem(job: Job): Record<string, unknown> {
  return { ...job, [TABLE_KEYS.jobs.partitionKey]: job.id };
}

export function fromItem(item: Record<string, unknown>): Job {
  const { [TABLE_KEYS.jobs.partitionKey]: _key, ...rest } = item;
  return parseOrThrow(JobSchema, rest, 'stored job');
}

export function encodeCursor(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor(cursor: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (typeof value === 'object' && value !== null) return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new RangeError(`cursor is not one this store returned, got ${cursor.slice(0, 40)}`);
}
