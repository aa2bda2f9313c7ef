/**
 * Keys and item shapes of the pipeline items in the control table (the layout is drawn in tables.ts).
 */

import { type PipelineRecord, PipelineRecordSchema } from '../core/model/pipeline-serving.ts';
import { parseOrThrow } from '../core/model/validate.ts';
import type { EndpointKey, PipelineRejection } from '../core/ports.ts';
import { TABLE_KEYS } from './tables.ts';

const K = TABLE_KEYS.pipelines;

/** What every pipeline's partition key starts with; the scans that list pipelines filter on it. */
export const PIPELINE_PREFIX = 'PIPELINE#';
/** What a refused pipeline submission's partition key starts with. */
export const REJECTED_PREFIX = 'REJECTED#pipeline#';
/** The sort key of a refusal, beside REJECTED_PREFIX. */
export const REJECTED_SORT = 'REJECTED';

export function pipelineKey(pipelineId: string): string {
  return `${PIPELINE_PREFIX}${pipelineId}`;
}

export function profileKey(modelId: string): string {
  return `PROFILE#${modelId}`;
}

export function idemKey(key: string): string {
  return `IDEM#pipeline#${key}`;
}

export function rejectedKey(pipelineId: string): string {
  return `${REJECTED_PREFIX}${pipelineId}`;
}

export function endpointSort(k: Pick<EndpointKey, 'stageId' | 'jobId' | 'taskIndex' | 'attempt'>): string {
  const pad = (n: number) => String(n).padStart(3, '0');
  return `${K.endpointPrefix}${k.stageId}#${k.jobId}#${pad(k.taskIndex)}#${pad(k.attempt)}`;
}

/** The record nests under `record`, with status and version beside it for conditions and scans. */
export function recordItem(record: PipelineRecord): Record<string, unknown> {
  return {
    pk: pipelineKey(record.pipelineId),
    sk: K.recordSort,
    version: record.version,
    status: record.status,
    record,
  };
}

export function fromRecordItem(item: Record<string, unknown>): PipelineRecord {
  return parseOrThrow(PipelineRecordSchema, item.record, 'stored pipeline record');
}

export function fromRejectionItem(pipelineId: string, item: Record<string, unknown>): PipelineRejection {
  const { reason, issues, at } = item as {
    reason: string;
    issues: PipelineRejection['issues'];
    at: number;
  };
  return { pipelineId, reason, issues, at };
}

/**
 * The refusals among scanned refusal and record items, oldest first, less those whose pipeline has a
 * record: a corrected spec admitted later under a refused id supersedes the refusal, as in `getPipeline`.
 */
export function unadmittedRejections(items: readonly Record<string, unknown>[]): PipelineRejection[] {
  const admitted = new Set(
    items
      .filter((i) => i.sk === K.recordSort && String(i.pk).startsWith(PIPELINE_PREFIX))
      .map((i) => String(i.pk).slice(PIPELINE_PREFIX.length)),
  );
  return items
    .filter((i) => i.sk === REJECTED_SORT && String(i.pk).startsWith(REJECTED_PREFIX))
    .map((i) => fromRejectionItem(String(i.pk).slice(REJECTED_PREFIX.length), i))
    .filter((r) => !admitted.has(r.pipelineId))
    .sort((a, b) => a.at - b.at || a.pipelineId.localeCompare(b.pipelineId));
}
