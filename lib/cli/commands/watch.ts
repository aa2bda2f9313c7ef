import { isTerminal } from '../../core/model/job-state.ts';
import {
  type FleetSnapshot,
  fleetCostPerHour,
  jobsByState,
  liveInstances,
  takeSnapshot,
} from '../snapshot.ts';
import type { CliSource } from '../source.ts';
import { fleetRows, recentEvents, renderWatchFrame } from '../watch.ts';

/** What `watch --json` prints per refresh: the frame's numbers, without the drawing. */
export interface WatchData {
  readonly at: number;
  readonly jobs: {
    readonly total: number;
    readonly active: number;
    readonly byState: Record<string, number>;
  };
  readonly fleet: {
    readonly live: number;
    readonly costPerHour: number;
    readonly byType: {
      type: string;
      market: string;
      count: number;
      utilisation: number;
      costPerHour: number;
    }[];
  };
  readonly lastCycle?: { at: number; engine?: string; solveMs?: number; gap?: number; unplaced?: number };
  readonly events: { at: number; text: string }[];
}

export function watchData(s: FleetSnapshot, eventRows = 8): WatchData {
  const last = s.cycles[0];
  return {
    at: s.at,
    jobs: {
      total: s.jobs.length,
      active: s.jobs.filter((j) => !isTerminal(j.status)).length,
      byState: jobsByState(s.jobs),
    },
    fleet: {
      live: liveInstances(s.instances).length,
      costPerHour: Math.round(fleetCostPerHour(s.instances) * 1e5) / 1e5,
      byType: fleetRows(s.instances, s.tasks).map((r) => ({
        type: r.type,
        market: r.market,
        count: r.count,
        utilisation: Math.round(r.util * 1000) / 1000,
        costPerHour: Math.round(r.cost * 1e5) / 1e5,
      })),
    },
    lastCycle: last && {
      at: last.at,
      engine: last.engine,
      solveMs: last.solveMs,
      gap: last.gap,
      unplaced: last.unplaced,
    },
    events: recentEvents(s, eventRows).map((e) => ({ at: e.at, text: e.text })),
  };
}

export interface WatchOptions {
  /** Print one frame and return. */
  readonly once?: boolean;
  readonly json?: boolean;
  /** @default 1000 */
  readonly intervalMs?: number;
  readonly width: number;
  readonly color: boolean;
  /** Clear the screen before each frame (a terminal); otherwise frames follow each other. */
  readonly clear: boolean;
  readonly signal?: AbortSignal;
  readonly write: (text: string) => void;
}

const CLEAR = `${String.fromCharCode(27)}[2J${String.fromCharCode(27)}[H`;

/**
 * Refreshes the live view every `intervalMs` until the signal aborts (Ctrl-C), or once. With `json`,
 * each refresh prints one line of JSON (NDJSON), so a script can follow the fleet.
 */
export async function watchCommand(source: CliSource, opts: WatchOptions): Promise<number> {
  let previous: FleetSnapshot | undefined;
  let frames = 0;
  for (;;) {
    const tick = Date.now();
    const snapshot = await takeSnapshot(source, { previous });
    previous = snapshot;
    frames += 1;
    if (opts.json) opts.write(`${JSON.stringify(watchData(snapshot))}\n`);
    else
      opts.write(
        `${opts.clear ? CLEAR : ''}${renderWatchFrame(snapshot, { width: opts.width, color: opts.color })}\n`,
      );
    if (opts.once || opts.signal?.aborted) return frames;
    await pause((opts.intervalMs ?? 1000) - (Date.now() - tick), opts.signal);
    if (opts.signal?.aborted) return frames;
  }
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
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
