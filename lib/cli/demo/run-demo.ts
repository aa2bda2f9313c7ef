import { isTerminal } from '../../core/model/job-state.ts';
import type { Logger } from '../../core/ports.ts';
import { LocalCloud } from '../../local/local-cloud.ts';
import { type ReportSummary, writeReport } from '../report/index.ts';
import { type FleetSnapshot, takeSnapshot } from '../snapshot.ts';
import { type CliSource, fromLocalCloud } from '../source.ts';
import { renderWatchFrame } from '../watch.ts';
import { buildWorkload, type PlannedJob } from './workload.ts';

export interface DemoOptions {
  /** Seconds over which the workload is submitted; the run then waits up to `graceSeconds` more. @default 150 */
  readonly duration?: number;
  /** Seeds the workload, so that two runs submit the same jobs at the same offsets. @default 7 */
  readonly seed?: number;
  /** @default 'tetrafleet-report' */
  readonly outDir?: string;
  /** @default 60 */
  readonly jobs?: number;
  /** @default 60 */
  readonly graceSeconds?: number;
  /** Gets the live view about once a second. */
  readonly onFrame?: (frame: string) => void;
  /** One line per phase: cloud start steps, submissions done, shutting down, report written. */
  readonly onProgress?: (line: string) => void;
  /** Frame layout. @default { width: 100, color: false } */
  readonly frame?: { readonly width: number; readonly color: boolean };
  /** Aborting (Ctrl-C) stops submitting, shuts down cleanly and still writes the report. */
  readonly signal?: AbortSignal;
  /** @default 'tetrafleet-demo' */
  readonly stackName?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly log?: Logger;
}

export interface DemoResult {
  readonly reportPath: string;
  readonly summary: ReportSummary;
  /** Jobs sent to the submissions queue. */
  readonly submitted: number;
  /** True when the signal ended the run early. */
  readonly interrupted: boolean;
  /** True when the duration and grace ran out before every job finished. */
  readonly timedOut: boolean;
  /** The emulator's endpoint the run used (to check that nothing is left listening). */
  readonly endpoint: string;
}

/** The local fleet the demo runs on: small, mixed CPU and GPU, short idle timeouts so it scales in. */
export const DEMO_CLOUD = {
  instanceTypes: ['c7i.large', 'c7i.xlarge', 'g5.xlarge', 'g6.xlarge'],
  maxFleetSize: 8,
  budgetPerHour: 20,
  slotSeconds: 30,
  cycle: { idleTimeoutSeconds: 20, heartbeatTimeoutSeconds: 45, solveTimeLimitMs: 1500 },
} as const;

/** Resolves after `ms`, or at once when `signal` aborts. Never rejects. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

const firstLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';

/**
 * Starts a local cloud, submits a seeded workload on schedule, shows the live view, and when every job
 * has finished (or time is up, or the signal aborts) writes the HTML report and shuts everything down.
 * The cloud is stopped on every path, errors included.
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const duration = options.duration ?? 150;
  const seed = options.seed ?? 7;
  const progress = options.onProgress ?? (() => {});
  const started = Date.now();
  const cloud = await LocalCloud.start({
    stackName: options.stackName ?? 'tetrafleet-demo',
    ...DEMO_CLOUD,
    cycle: { ...DEMO_CLOUD.cycle },
    instanceTypes: [...DEMO_CLOUD.instanceTypes],
    env: options.env,
    log: options.log,
    onProgress: (step) => progress(`local cloud: ${step} (${((Date.now() - started) / 1000).toFixed(1)} s)`),
  });
  const source = fromLocalCloud(cloud);
  try {
    const workload = buildWorkload({ seed, durationSeconds: duration, jobs: options.jobs });
    progress(`submitting ${workload.length} jobs over ${Math.round(duration * 0.6)} s (seed ${seed})`);
    const run = await drive(source, workload, duration, options);
    progress(
      run.interrupted
        ? 'interrupted: shutting down'
        : run.timedOut
          ? 'time is up: shutting down'
          : 'all jobs finished',
    );
    // The last live frame's snapshot stands in when the final read fails, so a report is still written.
    const final = await takeSnapshot(source, { previous: run.last }).catch((error: unknown) => {
      if (!run.last) throw error;
      progress(`final snapshot failed, reporting the last one: ${firstLine(error)}`);
      return run.last;
    });
    const { path, summary } = await writeReport(final, options.outDir ?? 'tetrafleet-report', {
      title: `tetrafleet demo (seed ${seed}, ${workload.length} jobs)`,
    });
    progress(`report written to ${path}`);
    return {
      reportPath: path,
      summary,
      submitted: run.submitted,
      interrupted: run.interrupted,
      timedOut: run.timedOut,
      endpoint: cloud.endpoint,
    };
  } finally {
    source.close();
    await cloud.stop();
    progress('local cloud stopped');
  }
}

interface DriveResult {
  readonly submitted: number;
  readonly interrupted: boolean;
  readonly timedOut: boolean;
  readonly last?: FleetSnapshot;
}

/** The live view spends at most 1/this of the time reading its snapshot. */
const VIEW_READ_SHARE_INVERSE = 3;

/** Submits on schedule while refreshing the view every second, until done, out of time, or aborted. */
async function drive(
  source: CliSource,
  workload: readonly PlannedJob[],
  duration: number,
  options: DemoOptions,
): Promise<DriveResult> {
  const signal = options.signal;
  const t0 = Date.now();
  const endBy = t0 + (duration + (options.graceSeconds ?? 60)) * 1000;
  const ids = new Set<string>();
  const submitting = submitAll(source, workload, t0, ids, options);
  let last: FleetSnapshot | undefined;
  let allSent = false;
  void submitting.then(() => {
    allSent = true;
  });
  for (;;) {
    const tick = Date.now();
    last = (await refresh(source, last, options)) ?? last;
    if (signal?.aborted) break;
    if (allSent && last && everyJobDone(last, ids)) break;
    if (Date.now() >= endBy) break;
    // Every second, unless reading takes long: then the view reads at most a third of the time, so that
    // on a loaded machine it leaves the emulator to the heartbeats and reports the fleet runs on.
    const took = Date.now() - tick;
    await pause(Math.max(1000, VIEW_READ_SHARE_INVERSE * took) - took, signal);
  }
  await submitting;
  return {
    submitted: ids.size,
    interrupted: signal?.aborted ?? false,
    timedOut: !signal?.aborted && Date.now() >= endBy,
    last,
  };
}

async function submitAll(
  source: CliSource,
  workload: readonly PlannedJob[],
  t0: number,
  ids: Set<string>,
  options: DemoOptions,
): Promise<void> {
  for (const [i, planned] of workload.entries()) {
    await pause(t0 + planned.atMs - Date.now(), options.signal);
    if (options.signal?.aborted) return;
    try {
      const { jobId } = await source.client.submitJob(planned.spec, {
        idempotencyKey: `demo-${options.seed ?? 7}-${t0}-${i}`,
      });
      ids.add(jobId);
    } catch (error) {
      options.onProgress?.(`could not submit ${planned.spec.name}: ${firstLine(error)}`);
    }
  }
  options.onProgress?.(`submitted ${ids.size} jobs`);
}

async function refresh(
  source: CliSource,
  previous: FleetSnapshot | undefined,
  options: DemoOptions,
): Promise<FleetSnapshot | undefined> {
  try {
    const snapshot = await takeSnapshot(source, { previous });
    options.onFrame?.(renderWatchFrame(snapshot, options.frame ?? { width: 100, color: false }));
    return snapshot;
  } catch (error) {
    // A slow read under load is not worth stopping the demo for; the next second tries again.
    options.onProgress?.(`snapshot failed: ${firstLine(error)}`);
    return undefined;
  }
}

/** Every submitted job has been admitted and reached a terminal state. */
export function everyJobDone(snapshot: FleetSnapshot, ids: ReadonlySet<string>): boolean {
  const status = new Map(snapshot.jobs.map((j) => [j.id, j.status]));
  for (const id of ids) {
    const s = status.get(id);
    if (s === undefined || !isTerminal(s)) return false;
  }
  return true;
}
