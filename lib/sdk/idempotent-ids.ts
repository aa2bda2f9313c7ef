/**
 * The ids a submission gets from its idempotency key: the same key always names the same job or pipeline,
 * so a retried submit finds the one the first created.
 */

import { createHash } from 'node:crypto';

/**
 * The job id a submission with idempotency key `key` gets when it names none: `job-` and 32 hex digits
 * of the key's SHA-256, shaped like a UUID. Every retry with the key names the same job.
 */
export function jobIdForKey(key: string): string {
  const hex = createHash('sha256').update(`job\n${key}`).digest('hex');
  return `job-${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * The pipeline id a submission with idempotency key `key` gets when it names none: `pipeline-` and 24
 * hex digits of the key's SHA-256. It does not depend on the spec: admission dedupes on the key alone, so
 * the id must be the one the first submission with the key got.
 */
export function pipelineIdForKey(key: string): string {
  return `pipeline-${createHash('sha256').update(`pipeline\n${key}`).digest('hex').slice(0, 24)}`;
}
