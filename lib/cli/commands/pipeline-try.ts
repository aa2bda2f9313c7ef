import { access, mkdir, writeFile } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { z } from 'zod';
import { NotFoundError, TetrafleetError } from '../../core/errors.ts';
import { newestRouter } from '../../core/model/pipeline-serving.ts';
import { parseOrThrow, toFieldIssues } from '../../core/model/validate.ts';
import { buildConvNet, buildMlp, seededRandom } from '../../onnx/index.ts';
import type { PipelineView } from '../../sdk/client-options.ts';
import { CliEnvironmentError, CliUsageError } from '../errors.ts';
import { JobFileError, readSpecText } from '../job-file.ts';
import { isRefusal, lookUpPipeline } from '../refusal.ts';
import type { CliSource } from '../source.ts';
import type { CommandOutput } from './output.ts';
import { inferUrl } from './pipeline.ts';

/**
 * `tetrafleet pipeline example DIR` writes a pipeline to try: two generated ONNX models, a spec that
 * serves them under a P99 SLO, and a query. `tetrafleet pipeline infer ID FILE` sends a query through the
 * pipeline's router and says what came back, so the whole path (submit, profile, plan, serve, query) runs
 * from the CLI on the local cloud, with nothing to build by hand.
 */

/** The example's input: a 3x32x32 image, batch 1. */
const IMAGE = { channels: 3, height: 32, width: 32 } as const;
const FEATURES = 64;

export const EXAMPLE_FILES = ['detect.onnx', 'classify.onnx', 'pipeline.yaml', 'query.json'] as const;

export interface ExampleOptions {
  /** Overwrite the example's files where they exist. */
  readonly force?: boolean;
}

export interface ExampleResult {
  readonly dir: string;
  readonly files: readonly string[];
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** The spec, with absolute model paths (the local agents read them from disk), as commented YAML. */
function exampleSpec(dir: string): string {
  return [
    '# An image detector feeding a classifier, served under a 300 ms P99 on c7i.large replicas.',
    '# Submit it with `tetrafleet pipeline submit pipeline.yaml --id example --wait`.',
    '# The model paths are on this machine, where the local agents run. For a stack on AWS, add',
    "# `--upload-models s3://BUCKET/PREFIX` (a bucket in the stack's modelBuckets): the CLI uploads the",
    '# models and submits their s3:// URIs.',
    'name: example',
    'sloP99Ms: 300',
    'stages:',
    `  - { id: detect, model: { uri: ${JSON.stringify(join(dir, 'detect.onnx'))} }, instanceTypes: [c7i.large] }`,
    `  - { id: classify, model: { uri: ${JSON.stringify(join(dir, 'classify.onnx'))} }, instanceTypes: [c7i.large] }`,
    'edges:',
    '  - { from: detect, to: classify, probability: 1 }',
    '# The traffic the plan is sized for: Gamma arrivals at 10 queries/s.',
    'sampleTrace: { kind: gamma, ratePerSecond: 10, cv: 1, durationSeconds: 60 }',
    '',
  ].join('\n');
}

/** One query in the router's JSON form: a seeded 1x3x32x32 image. */
function exampleQuery(): string {
  const random = seededRandom(7);
  const n = IMAGE.channels * IMAGE.height * IMAGE.width;
  const data = Array.from({ length: n }, () => Math.round(random() * 1000) / 1000);
  return `${JSON.stringify({ input: { dims: [1, IMAGE.channels, IMAGE.height, IMAGE.width], data } })}\n`;
}

export async function pipelineExampleCommand(
  dirArg: string,
  opts: ExampleOptions = {},
): Promise<CommandOutput<ExampleResult>> {
  const dir = resolve(dirArg);
  const paths = EXAMPLE_FILES.map((f) => join(dir, f));
  if (!opts.force) {
    const taken = [];
    for (const p of paths) if (await exists(p)) taken.push(p);
    if (taken.length > 0)
      throw new CliUsageError(
        `${taken.map((p) => relative(process.cwd(), p) || p).join(', ')} already exist${taken.length === 1 ? 's' : ''}; pass --force to overwrite, or choose another directory`,
      );
  }
  const detect = buildConvNet({ ...IMAGE, convChannels: [32, 64], classes: FEATURES, seed: 1 });
  const classify = buildMlp({ inputSize: FEATURES, hiddenSizes: [128], outputSize: 10, seed: 2 });
  const spec = exampleSpec(dir);
  const contents: Record<(typeof EXAMPLE_FILES)[number], string | Uint8Array> = {
    'detect.onnx': detect.bytes,
    'classify.onnx': classify.bytes,
    'pipeline.yaml': spec,
    'query.json': exampleQuery(),
  };
  try {
    await mkdir(dir, { recursive: true });
    for (const f of EXAMPLE_FILES) await writeFile(join(dir, f), contents[f]);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new CliEnvironmentError(`cannot write the example to ${dir}: ${code}`, { cause: error });
  }
  const shown = relative(process.cwd(), dir) || '.';
  const text = [
    `wrote ${EXAMPLE_FILES.map((f) => join(shown, f)).join(', ')}`,
    '  detect.onnx    a 3x32x32 image through two conv layers to 64 features',
    '  classify.onnx  an MLP from the 64 features to 10 classes',
    'next:',
    '  tetrafleet up                 # in another terminal, unless a local cloud is running',
    `  tetrafleet pipeline submit ${join(shown, 'pipeline.yaml')} --id example --wait`,
    `  tetrafleet pipeline infer example ${join(shown, 'query.json')}`,
    '  tetrafleet pipeline status example',
    '  tetrafleet pipeline stop example',
  ].join('\n');
  return { data: { dir, files: paths }, text };
}

// ----------------------------------------------------------------------------------------------- infer

const QuerySchema = z.object({
  input: z.object({
    dims: z.array(z.number().int().min(1)).min(1),
    data: z.array(z.number()),
  }),
});

const AnswerSchema = z.object({
  output: z.object({ dims: z.array(z.number()), data: z.array(z.number()) }),
  totalMs: z.number(),
  stages: z.array(z.string()),
});

export interface InferResult {
  readonly pipelineId: string;
  readonly url: string;
  /** The router's answer as sent. */
  readonly answer: z.infer<typeof AnswerSchema>;
  /** Sending to answer, as this client saw it (the answered try). */
  readonly roundTripMs: number;
  /** How many times the query was sent: the router's 503 (shed, a stage still starting) asks for another. */
  readonly tries: number;
}

export interface InferOptions {
  /** How long to keep trying, waiting for the router and retries after a 503 included. @default 30000 */
  readonly timeoutMs?: number;
  /** How to wait between tries. @default a timer */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** How often to look again for the router of a pipeline that is still being profiled or planned. */
const ROUTER_POLL_MS = 1000;

const timer = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A query file: the router's JSON form, checked field by field before anything is sent. */
export async function readQueryFile(path: string): Promise<string> {
  const file = basename(path);
  const text = await readSpecText(path, 'a JSON query: { "input": { "dims": [...], "data": [...] } }');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    // The parser quotes the text it choked on, newlines and all; an error stays on one line.
    const why = (error as Error).message.replace(/\s+/g, ' ');
    throw new JobFileError(file, [{ path: '', message: `not JSON: ${why}` }]);
  }
  if (value !== null && typeof value === 'object' && !('input' in value))
    throw new JobFileError(file, [{ path: 'input', message: 'is required' }]);
  const parsed = QuerySchema.safeParse(value);
  if (!parsed.success) throw new JobFileError(file, toFieldIssues(parsed.error));
  const { dims, data } = parsed.data.input;
  const expected = dims.reduce((a, b) => a * b, 1);
  if (data.length !== expected)
    throw new JobFileError(file, [
      {
        path: 'input.data',
        message: `dims ${dims.join('x')} need ${expected} values, got ${data.length}`,
      },
    ]);
  return text;
}

function routerError(status: number, body: string): string {
  try {
    const e = JSON.parse(body) as {
      error?: string;
      reason?: string;
      issues?: { path: string; message: string }[];
    };
    const issues = (e.issues ?? []).map((i) => `${i.path}: ${i.message}`).join('; ');
    const error = e.error ?? `HTTP ${status}`;
    // The reason is a code ("deadline", "replica") that the error's words usually already carry.
    const reason = e.reason && !error.includes(e.reason) ? e.reason : undefined;
    return [`${error} (HTTP ${status})`, reason, issues].filter(Boolean).join('; ');
  } catch {
    return `HTTP ${status}: ${body.slice(0, 200)}`;
  }
}

/**
 * Sends one query (a body readQueryFile checked) through a pipeline's router, the newest listed, and
 * reports its answer. A 503 (shed, or a stage whose replicas are still starting) is retried after its
 * Retry-After while the timeout allows; any other refusal is reported at once.
 */
export async function pipelineInferCommand(
  source: CliSource,
  pipelineId: string,
  body: string,
  opts: InferOptions = {},
): Promise<CommandOutput<InferResult>> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  const sleep = opts.sleep ?? timer;
  const url = inferUrl(await routerOf(source, pipelineId, deadline, sleep), pipelineId);
  let tries = 0;
  for (;;) {
    tries++;
    const started = performance.now();
    const { status, text, retryAfterS } = await sendQuery(url, body, Math.max(1, deadline - Date.now()));
    const roundTripMs = performance.now() - started;
    if (status === 0) throw new CliEnvironmentError(`no answer from the router at ${url}: ${text}`);
    if (status === 200) return answered({ pipelineId, url, tries, roundTripMs }, text);
    // 503 is the router asking to be asked again (shed, or a stage still starting): as long as time is left.
    const wait = Math.min(retryAfterS, 5) * 1000;
    if (status !== 503 || Date.now() + wait >= deadline)
      throw new InferRefusedError(
        `the router refused the query${tries > 1 ? ` ${tries} times` : ''}: ${routerError(status, text)}`,
        status === 503 || status === 504,
      );
    await sleep(wait);
  }
}

/**
 * The newest router of a pipeline, waited for while the timeout allows: a pipeline being profiled or
 * planned gets one. A refused or stopped pipeline never will, and says so at once.
 */
async function routerOf(
  source: CliSource,
  pipelineId: string,
  deadline: number,
  sleep: (ms: number) => Promise<void>,
): Promise<string> {
  for (;;) {
    const found = await lookUpPipeline(source, pipelineId);
    if (!found) throw new NotFoundError('pipeline', pipelineId);
    if (isRefusal(found))
      throw new CliUsageError(
        `pipeline ${pipelineId} was refused at admission (${found.reasons.join('; ')}) and will never serve: fix the spec and submit it again`,
      );
    neverServes(found);
    const router = newestRouter(found.endpoints);
    if (router) return router;
    const left = deadline - Date.now();
    if (left <= 0)
      throw new CliEnvironmentError(
        `pipeline ${pipelineId} is ${found.record.status} and has no router serving yet; wait for it with \`tetrafleet pipeline status ${pipelineId}\`, or pass a longer --timeout`,
      );
    await sleep(Math.min(ROUTER_POLL_MS, left));
  }
}

/** A stopped or refused pipeline keeps its record but will not serve again: usage, not a wait. */
export function neverServes({ record }: PipelineView): void {
  if (record.status !== 'STOPPED' && record.status !== 'REFUSED') return;
  throw new CliUsageError(
    `pipeline ${record.pipelineId} is ${record.status}${record.reason ? ` (${record.reason})` : ''} and will never serve: submit the spec under a new id to serve it`,
  );
}

/** What one POST of a query got: its status (0: no answer), body and Retry-After (seconds, 1 when absent). */
export interface Sent {
  readonly status: number;
  readonly text: string;
  readonly retryAfterS: number;
}

/** One POST of a JSON query to a router's infer URL; a network failure or timeout comes back as status 0. */
export async function sendQuery(url: string, body: string, timeoutMs: number): Promise<Sent> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const retryAfter = Number(res.headers.get('retry-after'));
    return {
      status: res.status,
      text: await res.text(),
      retryAfterS: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : 1,
    };
  } catch (error) {
    return { status: 0, text: (error as Error).message, retryAfterS: 1 };
  }
}

function answered(sent: Omit<InferResult, 'answer'>, text: string): CommandOutput<InferResult> {
  const answer = parseOrThrow(AnswerSchema, JSON.parse(text), 'router answer');
  const head = answer.output.data.slice(0, 4).map((v) => v.toPrecision(4));
  const more = answer.output.data.length > head.length ? ', ...' : '';
  const { url, tries, roundTripMs } = sent;
  const retried = tries > 1 ? `, on try ${tries} (the router asked to retry)` : '';
  return {
    data: { ...sent, answer },
    text: [
      `answered in ${answer.totalMs.toFixed(1)} ms at the router (${roundTripMs.toFixed(1)} ms round trip${retried}) through ${answer.stages.join(' -> ')}`,
      `  output      dims [${answer.output.dims.join(', ')}]: ${head.join(', ')}${more}`,
      `  router      ${url}`,
    ].join('\n'),
  };
}

/** The router answered with an error (shed, deadline, bad input): exit code 1, with its reason. */
export class InferRefusedError extends TetrafleetError {
  constructor(
    message: string,
    /** Shed or past its deadline: the same query may be answered later. */
    readonly retryable: boolean,
  ) {
    super(message);
  }
}
