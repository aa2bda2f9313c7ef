import type { PipelineRecord } from '../../core/model/pipeline-serving.ts';
import type { PipelineRejection } from '../../core/ports.ts';
import { ago, formatTable, truncate } from '../format.ts';
import { refusalOf } from '../refusal.ts';
import type { CliSource } from '../source.ts';
import type { CommandOutput } from './output.ts';

/** A reason cell longer than this is cut: `pipeline status ID` shows it whole. */
const REASON_WIDTH = 60;

export interface PipelineRow {
  readonly id: string;
  /** Absent for a pipeline refused at admission: only its refusal is kept, not its spec. */
  readonly name?: string;
  readonly status: string;
  readonly sloP99Ms?: number;
  readonly stages?: number;
  readonly costPerHour?: number;
  /** When it was submitted; for a refusal at admission, when it was refused (admission runs on receipt). */
  readonly createdAt: number;
  /** Why a REFUSED pipeline was refused, one line per problem as `pipeline status` shows them. */
  readonly reasons?: readonly string[];
}

/**
 * Every pipeline, newest first: the records, and the submissions admission refused, which have no record
 * (the store keeps their refusal for a week).
 */
export async function pipelineListCommand(
  source: CliSource,
  now = Date.now(),
): Promise<CommandOutput<{ pipelines: PipelineRow[] }>> {
  const [records, rejections] = await Promise.all([
    source.client.listPipelines(),
    source.client.listPipelineRejections(),
  ]);
  const rows: PipelineRow[] = [...records.map(recordRow), ...rejections.map(rejectionRow)].sort(
    (a, b) => b.createdAt - a.createdAt || a.id.localeCompare(b.id),
  );
  if (rows.length === 0) return { data: { pipelines: rows }, text: 'no pipelines' };
  return { data: { pipelines: rows }, text: pipelineTable(rows, now) };
}

function recordRow(r: PipelineRecord): PipelineRow {
  return {
    id: r.pipelineId,
    name: r.spec.name,
    status: r.status,
    sloP99Ms: r.spec.sloP99Ms,
    stages: r.spec.stages.length,
    costPerHour: r.plan?.costPerHour,
    createdAt: r.createdAt,
    ...(r.status === 'REFUSED' && r.reason ? { reasons: [r.reason] } : {}),
  };
}

function rejectionRow(r: PipelineRejection): PipelineRow {
  return { id: r.pipelineId, status: 'REFUSED', createdAt: r.at, reasons: refusalOf(r).reasons };
}

/** The first reason, and how many more `pipeline status ID` would show. */
function reasonCell(reasons: readonly string[] | undefined): string {
  const [first, ...rest] = reasons ?? [];
  if (first === undefined) return '';
  return `${truncate(first, REASON_WIDTH)}${rest.length > 0 ? ` (+${rest.length} more)` : ''}`;
}

/** The REASON column appears only when a row has one, so a list with no refusal reads as it always has. */
function pipelineTable(rows: readonly PipelineRow[], now: number): string {
  const withReasons = rows.some((r) => r.reasons !== undefined);
  return formatTable<PipelineRow>(
    [
      { header: 'ID', value: (r) => r.id },
      { header: 'NAME', value: (r) => r.name ?? '-' },
      { header: 'STATUS', value: (r) => r.status },
      { header: 'SLO', value: (r) => (r.sloP99Ms === undefined ? '-' : `${r.sloP99Ms} ms`), right: true },
      { header: 'STAGES', value: (r) => (r.stages === undefined ? '-' : String(r.stages)), right: true },
      {
        header: '$/H',
        value: (r) => (r.costPerHour === undefined ? '-' : r.costPerHour.toFixed(3)),
        right: true,
      },
      { header: 'SUBMITTED', value: (r) => ago(r.createdAt, now) },
      ...(withReasons ? [{ header: 'REASON', value: (r: PipelineRow) => reasonCell(r.reasons) }] : []),
    ],
    rows,
  );
}
