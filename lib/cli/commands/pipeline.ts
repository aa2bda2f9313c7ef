import { basename } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { NotFoundError } from '../../core/errors.ts';
import { type PipelineSpec, PipelineSpecSchema } from '../../core/model/pipeline.ts';
import type { PipelineRecord } from '../../core/model/pipeline-serving.ts';
import { inWords, newestRouter, ROUTER_STAGE } from '../../core/model/pipeline-serving.ts';
import type { SubmitPipelineInput } from '../../core/protocol/pipeline.ts';
import type { PipelineView } from '../../sdk/client-options.ts';
import { PipelineWaitTimeoutError } from '../../sdk/errors.ts';
import { CliUsageError, WaitGaveUpError } from '../errors.ts';
import { ago, formatTable, plural } from '../format.ts';
import {
  checkSpec,
  JobFileError,
  readSpecText,
  refuseBinary,
  throwSyntaxErrors,
  toJsOf,
} from '../job-file.ts';
import { isRefusal, lookUpPipeline, type PipelineRefusal, refusalText } from '../refusal.ts';
import type { CliSource } from '../source.ts';
import type { CommandOutput } from './output.ts';
import {
  localModels,
  type ModelUpload,
  type UploadDestination,
  uploadLocalModels,
} from './pipeline-upload.ts';

/** A pipeline file: one spec, as written (for the SDK) and validated (defaults filled in). */
export interface ParsedPipelineFile {
  readonly input: SubmitPipelineInput['spec'];
  readonly spec: PipelineSpec;
  /** The file's name, for later errors about its fields. */
  readonly file: string;
}

/**
 * Reads a JSON or YAML pipeline spec. Every problem is reported at once with its field and line, the way
 * `submit` reports job files, so nothing is sent until the whole spec is valid.
 */
export async function readPipelineFile(path: string): Promise<ParsedPipelineFile> {
  return parsePipelineFile(await readSpecText(path, 'a JSON or YAML pipeline spec'), basename(path));
}

export function parsePipelineFile(text: string, file = 'pipeline'): ParsedPipelineFile {
  refuseBinary(file, text);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  throwSyntaxErrors(file, doc.errors, lines);
  const value = toJsOf(file, doc);
  if (value === null || value === undefined || typeof value !== 'object' || Array.isArray(value))
    throw new JobFileError(file, [{ path: '', message: 'the file must hold one pipeline spec (a mapping)' }]);
  const { spec, issues } = checkSpec(PipelineSpecSchema, doc, [], value, lines);
  if (spec && issues.length === 0) return { input: value as SubmitPipelineInput['spec'], spec, file };
  throw new JobFileError(file, issues);
}

export interface PipelineSubmitOptions {
  readonly pipelineId?: string;
  /** Wait until the pipeline is SERVING (or refused). */
  readonly wait?: boolean;
  /** @default 600000 */
  readonly timeoutMs?: number;
  /** Status changes while waiting, and model uploads, for stderr. */
  readonly onProgress?: (line: string) => void;
  /** Upload the spec's local model files here first and submit their s3:// URIs (pipeline-upload.ts). */
  readonly uploadModelsTo?: UploadDestination;
}

export async function pipelineSubmitCommand(
  source: CliSource,
  file: string | ParsedPipelineFile,
  opts: PipelineSubmitOptions = {},
): Promise<
  CommandOutput<{ pipelineId: string; name: string; uploads?: ModelUpload[]; record?: PipelineRecord }>
> {
  const parsed = typeof file === 'string' ? await readPipelineFile(file) : file;
  if (opts.pipelineId !== undefined) await refuseTakenId(source, opts.pipelineId);
  let uploads: ModelUpload[] | undefined;
  let sending = parsed;
  if (opts.uploadModelsTo) {
    const up = await uploadLocalModels(parsed, opts.uploadModelsTo, source.adapters.modelUploads, {
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    });
    uploads = up.uploads;
    sending = up.file;
  } else if (source.endpoint === undefined) refuseLocalModels(parsed);
  const { input, spec } = sending;
  const { pipelineId } = await source.client.submitPipeline(input, { pipelineId: opts.pipelineId });
  if (!opts.wait)
    return {
      data: { pipelineId, name: spec.name, ...(uploads ? { uploads } : {}) },
      text: `submitted pipeline ${pipelineId} (${spec.name}); follow it with \`tetrafleet pipeline status ${pipelineId}\``,
    };
  // Serving means answering: the replicas and the router are listed, so a query sent next gets through.
  const record = await source.client
    .waitForPipeline(pipelineId, {
      status: 'SERVING',
      answering: true,
      timeoutMs: opts.timeoutMs,
      onProgress: (r, waitingFor) =>
        opts.onProgress?.(
          waitingFor
            ? `${pipelineId}: ${r.status}, waiting for ${inWords(waitingFor)}`
            : `${pipelineId}: ${r.status}${r.reason ? ` (${r.reason})` : ''}`,
        ),
    })
    .catch((error: unknown) => {
      throw error instanceof PipelineWaitTimeoutError ? gaveUp(error) : error;
    });
  return {
    data: { pipelineId, name: spec.name, ...(uploads ? { uploads } : {}), record },
    text: `pipeline ${pipelineId} (${spec.name}) is SERVING\n${planText(record)}`,
  };
}

/**
 * Admission keeps the first pipeline under an id and drops a later submission as a duplicate, so sending
 * one under a taken id would report success for a spec that is never served. A refusal without a record
 * does not hold the id: a corrected spec may be sent under it.
 */
async function refuseTakenId(source: CliSource, pipelineId: string): Promise<void> {
  const found = await lookUpPipeline(source, pipelineId);
  if (!found || isRefusal(found)) return;
  const { status } = found.record;
  const ended = status === 'STOPPED' || status === 'REFUSED';
  throw new CliUsageError(
    `pipeline ${pipelineId} already exists (${status}); choose another --id${ended ? '' : ', or stop it and submit under a new id'}`,
  );
}

/** The SDK's timeout in the flag's unit (seconds), and what was last seen in words. */
function gaveUp(error: PipelineWaitTimeoutError): WaitGaveUpError {
  const seconds = `${Number((error.timeoutMs / 1000).toFixed(1))} s`;
  const message =
    error.waitingFor.length > 0
      ? `pipeline ${error.pipelineId} was ${error.wanted} but not answering within ${seconds}: still waiting for ${inWords(error.waitingFor)}`
      : `pipeline ${error.pipelineId} was not ${error.wanted} within ${seconds} (${error.lastStatus ? `last seen ${error.lastStatus}` : 'not admitted yet'}); it goes on: follow it with \`tetrafleet pipeline status ${error.pipelineId}\``;
  return new WaitGaveUpError(message, { cause: error });
}

/**
 * A stack on AWS runs its replicas on EC2 instances, which cannot read a path on the machine the CLI runs
 * on: such a spec is stopped here, with how to send the models, rather than refused by admission later.
 */
function refuseLocalModels(parsed: ParsedPipelineFile): void {
  const issues = [...localModels(parsed.spec)]
    .flatMap(([path, { indices }]) => indices.map((i) => ({ i, path })))
    .sort((a, b) => a.i - b.i)
    .map(({ i, path }) => ({
      path: `stages.${i}.model.uri`,
      message: `${path} is a path on this machine, which the stack's instances cannot read: pass --upload-models s3://BUCKET/PREFIX (a bucket the stack may read, its modelBuckets), or give an s3:// URI`,
    }));
  if (issues.length > 0) throw new JobFileError(parsed.file, issues);
}

export async function pipelineStatusCommand(
  source: CliSource,
  pipelineId: string,
  now = Date.now(),
): Promise<CommandOutput<PipelineView | PipelineRefusal>> {
  const found = await lookUpPipeline(source, pipelineId);
  if (!found) throw new NotFoundError('pipeline', pipelineId);
  if (isRefusal(found)) return { data: found, text: refusalText(found) };
  return { data: found, text: pipelineText(found, now) };
}

export function pipelineText(view: PipelineView, now: number): string {
  const { record, report, endpoints } = view;
  const s = record.spec;
  const lines = [
    `pipeline ${record.pipelineId} (${s.name})`,
    `  status      ${record.status}${record.reason ? `: ${record.reason}` : ''}`,
    `  slo         p99 ${s.sloP99Ms} ms, ${plural(s.stages.length, 'stage')}, ${plural(s.edges.length, 'edge')}, owner ${s.owner}`,
    `  submitted   ${ago(record.createdAt, now)}, updated ${ago(record.updatedAt, now)}`,
  ];
  if (record.plan) lines.push(planText(record));
  if (report) {
    const seconds = Math.max(0.001, (report.intervalEndMs - report.intervalStartMs) / 1000);
    lines.push(
      `  live        ${(report.arrivals / seconds).toFixed(1)} arrivals/s, p99 ${report.latency.p99Ms.toFixed(1)} ms, ` +
        `${report.completed} done, ${report.late} late, ${report.shed} shed, ${report.errors} errors ` +
        `(${seconds.toFixed(0)} s ending ${ago(report.intervalEndMs, now)})`,
    );
  } else lines.push('  live        no router report yet');
  const router = newestRouter(endpoints);
  lines.push(`  router      ${router ? inferUrl(router, record.pipelineId) : 'not running'}`);
  const replicas = endpoints.filter((e) => e.stageId !== ROUTER_STAGE);
  lines.push(`  endpoints   ${plural(replicas.length, 'replica')} serving`);
  return lines.join('\n');
}

/** Where a pipeline's queries go: its router's infer route. */
export function inferUrl(routerUrl: string, pipelineId: string): string {
  return `${routerUrl}/v1/pipelines/${encodeURIComponent(pipelineId)}/infer`;
}

/** A stage's warm replicas, marked where they may run on spot. */
function headroomCell(n: number, spot: boolean | undefined): string {
  return spot && n > 0 ? `${n} spot` : String(n);
}

/**
 * The plan per stage, with each profile marked measured or derived, the tuner's targets and the serving
 * headroom (warm replicas that serve scale-ups above the plan first), and how far live traffic may beat
 * the sample before the tuner scales up.
 */
export function planText(record: PipelineRecord): string {
  const plan = record.plan;
  if (!plan) return '  plan        none yet';
  const derived = new Set(plan.derivedStages);
  const rows = record.spec.stages.map((stage) => {
    const c = plan.config[stage.id];
    return {
      stage: stage.id,
      type: c?.instanceType ?? '-',
      profile: derived.has(stage.id) ? 'derived' : 'measured',
      batch: c ? String(c.maxBatch) : '-',
      planned: c ? String(c.replicas) : '-',
      target: String(record.targets[stage.id] ?? c?.replicas ?? '-'),
      headroom: plan.headroom ? headroomCell(plan.headroom[stage.id] ?? 0, record.spec.spotHeadroom) : '-',
      visits: `${Math.round((plan.visitFractions[stage.id] ?? 0) * 100)}%`,
    };
  });
  const table = formatTable<(typeof rows)[number]>(
    [
      { header: 'STAGE', value: (r) => r.stage },
      { header: 'TYPE', value: (r) => r.type },
      { header: 'PROFILE', value: (r) => r.profile },
      { header: 'BATCH', value: (r) => r.batch, right: true },
      { header: 'PLANNED', value: (r) => r.planned, right: true },
      { header: 'TARGET', value: (r) => r.target, right: true },
      { header: 'HEADROOM', value: (r) => r.headroom, right: true },
      { header: 'VISITS', value: (r) => r.visits, right: true },
    ],
    rows,
  );
  // A re-plan after a long idle spell (drift below the planned rate) samples a near-empty trace, whose
  // measured rate is 0: the figure would read as if the plan were sized for no traffic at all.
  const rate = plan.basis.planningRatePerSecond;
  const at = rate >= 0.05 ? ` at ${rate.toFixed(1)} qps` : '';
  return [
    `  plan        $${plan.costPerHour.toFixed(3)}/h, estimated p99 ${plan.p99Ms.toFixed(1)} ms${at}`,
    `  tuner       scales up past ${(plan.basis.slack ?? 1).toFixed(2)}x the sample's rates (what the plan was shown to hold)`,
    ...table.split('\n').map((l) => `    ${l}`),
  ].join('\n');
}

export async function pipelineStopCommand(
  source: CliSource,
  pipelineId: string,
): Promise<
  CommandOutput<{ record?: PipelineRecord; refusal?: PipelineRefusal; outcome: 'stopped' | 'already-ended' }>
> {
  const found = await lookUpPipeline(source, pipelineId);
  if (!found) throw new NotFoundError('pipeline', pipelineId);
  if (isRefusal(found))
    return {
      data: { refusal: found, outcome: 'already-ended' },
      text: `pipeline ${pipelineId} was refused at admission; nothing to stop`,
    };
  const before = found.record;
  if (before.status === 'STOPPED' || before.status === 'REFUSED')
    return {
      data: { record: before, outcome: 'already-ended' },
      text: `pipeline ${pipelineId} is already ${before.status}; nothing to stop`,
    };
  const record = await source.client.stopPipeline(pipelineId);
  return {
    data: { record, outcome: 'stopped' },
    text: `pipeline ${pipelineId} stopped: its replicas and router are cancelled on the next scale step`,
  };
}
