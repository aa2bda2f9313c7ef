import { NotFoundError } from '../../core/errors.ts';
import { percentile } from '../../core/inference/simulator.ts';
import { gammaTrace } from '../../core/inference/traces.ts';
import { newestRouter } from '../../core/model/pipeline-serving.ts';
import { CliEnvironmentError } from '../errors.ts';
import { formatTable } from '../format.ts';
import type { CliSource } from '../source.ts';
import type { CommandOutput } from './output.ts';
import { inferUrl } from './pipeline.ts';
import { neverServes, type Sent, sendQuery } from './pipeline-try.ts';

/**
 * `tetrafleet pipeline load ID FILE`: open-loop traffic through a pipeline's router, to watch it hold its
 * SLO and its tuner scale. Arrivals are Gamma (CV 1 is Poisson; higher is burstier), sent on schedule and
 * never waited for, as real clients would; the newest router is followed. Every interval says what was
 * sent and answered, the client-side latency and the replica targets, so a scale-up and the scale-down
 * after it show as they happen.
 */

export interface LoadOptions {
  readonly ratePerSecond: number;
  readonly seconds: number;
  /** Burstiness of the arrivals (σ²/μ² of the gaps). @default 1 */
  readonly cv?: number;
  /** Arrivals are drawn from this seed, so a run can be repeated. @default 1 */
  readonly seed?: number;
  /** @default 5000 */
  readonly intervalMs?: number;
  /** A line per interval, for stderr. */
  readonly onProgress?: (line: string) => void;
}

export interface LoadInterval {
  /** Seconds since the load began, at the interval's end. */
  readonly atS: number;
  readonly sent: number;
  readonly answered: number;
  readonly refused: number;
  readonly p99Ms: number;
  /** The pipeline's replica targets per stage as read at the interval's end. */
  readonly targets: Readonly<Record<string, number>>;
}

export interface LoadResult {
  readonly pipelineId: string;
  readonly sloMs: number;
  readonly ratePerSecond: number;
  readonly cv: number;
  readonly seconds: number;
  readonly sent: number;
  readonly answered: number;
  /** Answered within the SLO, as this client timed them. */
  readonly withinSlo: number;
  /** Answers by HTTP status; 0 counts queries that got none (network failure or timeout). */
  readonly byStatus: Readonly<Record<string, number>>;
  /** Client round trips of answered queries. */
  readonly latencyMs: {
    readonly p50: number;
    readonly p90: number;
    readonly p99: number;
    readonly max: number;
  };
  readonly intervals: readonly LoadInterval[];
}

interface Outcome {
  readonly status: number;
  readonly ms: number;
}

const round1 = (v: number) => Math.round(v * 10) / 10;

function p99Of(outcomes: readonly Outcome[]): number {
  const ok = outcomes.filter((o) => o.status === 200).map((o) => o.ms);
  return ok.length > 0 ? round1(percentile(Float64Array.from(ok), 99)) : Number.NaN;
}

function targetsText(targets: Readonly<Record<string, number>>): string {
  return Object.entries(targets)
    .map(([stage, n]) => `${stage} ${n}`)
    .join(', ');
}

export async function pipelineLoadCommand(
  source: CliSource,
  pipelineId: string,
  body: string,
  opts: LoadOptions,
): Promise<CommandOutput<LoadResult>> {
  const cv = opts.cv ?? 1;
  const intervalMs = opts.intervalMs ?? 5000;
  const arrivals = gammaTrace(
    { ratePerSecond: opts.ratePerSecond, cv, durationSeconds: opts.seconds },
    opts.seed ?? 1,
  );
  const first = await source.client.getPipeline(pipelineId);
  if (!first) throw new NotFoundError('pipeline', pipelineId);
  neverServes(first);
  let router = newestRouter(first.endpoints);
  if (!router)
    throw new CliEnvironmentError(
      `pipeline ${pipelineId} is ${first.record.status} and has no router serving yet; wait for it with \`tetrafleet pipeline submit --wait\` or \`tetrafleet pipeline status ${pipelineId}\``,
    );
  const sloMs = first.record.spec.sloP99Ms;
  // A query waits at most a few SLOs: past that the router has dropped it or will.
  const timeoutMs = Math.max(10_000, 5 * sloMs);

  const done: Outcome[] = [];
  const pending: Promise<void>[] = [];
  const intervals: LoadInterval[] = [];
  let sentInInterval = 0;
  let reported = 0;
  const start = performance.now();
  let sent = 0;

  const closeInterval = async (atS: number) => {
    const view = await source.client.getPipeline(pipelineId).catch(() => undefined);
    if (view) router = newestRouter(view.endpoints) ?? router;
    const fresh = done.slice(reported);
    reported = done.length;
    const answered = fresh.filter((o) => o.status === 200).length;
    const interval: LoadInterval = {
      atS: round1(atS),
      sent: sentInInterval,
      answered,
      refused: fresh.length - answered,
      p99Ms: p99Of(fresh),
      targets: { ...(view?.record.targets ?? {}) },
    };
    sentInInterval = 0;
    intervals.push(interval);
    opts.onProgress?.(
      `${interval.atS.toFixed(0).padStart(4)} s  sent ${interval.sent}, answered ${interval.answered}, refused ${interval.refused}, p99 ${Number.isNaN(interval.p99Ms) ? '-' : `${interval.p99Ms} ms`}; targets ${targetsText(interval.targets) || '-'}`,
    );
  };

  let boundary = intervalMs;
  for (const at of arrivals) {
    while (at >= boundary) {
      await waitUntil(start + boundary);
      await closeInterval(boundary / 1000);
      boundary += intervalMs;
    }
    await waitUntil(start + at);
    const url = inferUrl(router, pipelineId);
    const sentAt = performance.now();
    sentInInterval++;
    sent++;
    pending.push(
      sendQuery(url, body, timeoutMs).then((r: Sent) => {
        done.push({ status: r.status, ms: performance.now() - sentAt });
      }),
    );
  }
  await Promise.all(pending);
  await closeInterval((performance.now() - start) / 1000);

  const byStatus: Record<string, number> = {};
  for (const o of done) byStatus[String(o.status)] = (byStatus[String(o.status)] ?? 0) + 1;
  const ok = Float64Array.from(done.filter((o) => o.status === 200).map((o) => o.ms));
  const result: LoadResult = {
    pipelineId,
    sloMs,
    ratePerSecond: opts.ratePerSecond,
    cv,
    seconds: opts.seconds,
    sent,
    answered: ok.length,
    withinSlo: ok.filter((ms) => ms <= sloMs).length,
    byStatus,
    latencyMs: {
      p50: round1(percentile(ok, 50)),
      p90: round1(percentile(ok, 90)),
      p99: round1(percentile(ok, 99)),
      max: round1(ok.length > 0 ? ok.reduce((m, v) => Math.max(m, v), 0) : Number.NaN),
    },
    intervals,
  };
  return { data: result, text: loadText(result) };
}

async function waitUntil(at: number): Promise<void> {
  const wait = at - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}

const STATUS_WORDS: Readonly<Record<string, string>> = {
  '503': 'shed or not serving',
  '504': 'deadline passed',
  '502': 'replica failed',
};

export function loadText(r: LoadResult): string {
  const pct = (n: number) => (r.sent > 0 ? `${((100 * n) / r.sent).toFixed(1)}%` : '-');
  const refused = Object.entries(r.byStatus)
    .filter(([status]) => status !== '200')
    .map(([status, n]) =>
      status === '0' ? `${n} with no answer` : `${n} x ${status} (${STATUS_WORDS[status] ?? 'refused'})`,
    );
  const ms = (v: number) => (Number.isNaN(v) ? '-' : `${v} ms`);
  const table = formatTable<LoadInterval>(
    [
      { header: 'AT', value: (i) => `${i.atS.toFixed(0)} s`, right: true },
      { header: 'SENT', value: (i) => String(i.sent), right: true },
      { header: 'ANSWERED', value: (i) => String(i.answered), right: true },
      { header: 'REFUSED', value: (i) => String(i.refused), right: true },
      { header: 'P99', value: (i) => ms(i.p99Ms), right: true },
      { header: 'TARGETS', value: (i) => targetsText(i.targets) || '-' },
    ],
    r.intervals,
  );
  return [
    `load on ${r.pipelineId}: ${r.sent} queries in ${r.seconds} s (Gamma, ${r.ratePerSecond}/s, CV ${r.cv})`,
    `  answered    ${r.answered} (${pct(r.answered)}), ${r.withinSlo} within the ${r.sloMs} ms SLO (${pct(r.withinSlo)})`,
    `  refused     ${refused.length > 0 ? refused.join(', ') : 'none'}`,
    `  latency     p50 ${ms(r.latencyMs.p50)}, p90 ${ms(r.latencyMs.p90)}, p99 ${ms(r.latencyMs.p99)}, max ${ms(r.latencyMs.max)} (client round trip)`,
    ...table.split('\n').map((l) => `    ${l}`),
  ].join('\n');
}
