import { type FieldIssue, ValidationError } from '../errors.ts';
import { type PlannerInput, plan, simulatePlanned } from './planner.ts';
import type { PipelineConfig } from './simulator.ts';

/**
 * The oracle planner: a cost reference for the serving policies, not a policy. It knows the evaluation
 * trace in advance, cuts it into fixed windows, and runs the planner on each window's own arrivals, so
 * every window gets the cheapest configuration the planner finds that meets the SLO on exactly that
 * traffic. Switching configuration between windows is instant and free: no boot latency, no headroom,
 * no drift between a sample and live traffic. Each window is simulated from empty queues.
 *
 * What a real policy pays above it is the price of not knowing the future (margins, headroom for bursts
 * it cannot see coming) and of capacity that takes minutes to arrive. Where even the oracle costs more
 * than a given budget, no policy planned from the same profiles and prices fits that budget on that
 * trace: the planner is a greedy heuristic, so this is the planner's best with hindsight rather than a
 * proven minimum, but every policy here is built on the same planner.
 */

export interface OracleInput {
  /** The planner settings (pipeline, profiles, cost, seed, late fraction); its arrivals are ignored. */
  readonly planner: Omit<PlannerInput, 'arrivalsMs'>;
  /** The whole evaluation trace: sorted arrival times in ms. */
  readonly arrivalsMs: Float64Array;
  /** Window length: the oracle re-plans this often. */
  readonly windowMs: number;
  /** The span cost is averaged over. @default the last arrival's time */
  readonly durationMs?: number;
}

export interface OracleWindow {
  readonly fromMs: number;
  readonly toMs: number;
  readonly queries: number;
  /** Queries over the SLO in the window's own simulation. */
  readonly late: number;
  /** Empty window: nothing is provisioned. */
  readonly config?: PipelineConfig;
  readonly costPerHour: number;
}

export type OracleResult =
  | {
      readonly feasible: true;
      readonly windows: readonly OracleWindow[];
      /** Time-weighted average over the windows. */
      readonly costPerHour: number;
      readonly late: number;
      readonly missRate: number;
    }
  | { readonly feasible: false; readonly reason: string; readonly fromMs: number };

/** The oracle's configuration and cost per window; see the file comment. */
export function planOracle(input: OracleInput): OracleResult {
  const n = input.arrivalsMs.length;
  const durationMs = input.durationMs ?? (n > 0 ? (input.arrivalsMs[n - 1] as number) : 0);
  const issues: FieldIssue[] = [];
  if (!(input.windowMs > 0) || !Number.isFinite(input.windowMs))
    issues.push({ path: 'windowMs', message: `windowMs must be a positive number, got ${input.windowMs}` });
  if (!(durationMs > 0) || !Number.isFinite(durationMs))
    issues.push({ path: 'durationMs', message: `durationMs must be a positive number, got ${durationMs}` });
  if (issues.length > 0) throw new ValidationError('oracle input', issues);

  const windows: OracleWindow[] = [];
  let next = 0;
  for (let fromMs = 0; fromMs < durationMs; fromMs += input.windowMs) {
    const toMs = Math.min(fromMs + input.windowMs, durationMs);
    const start = next;
    while (next < n && (input.arrivalsMs[next] as number) < toMs) next++;
    const slice = input.arrivalsMs.subarray(start, next).map((t) => t - fromMs);
    if (slice.length === 0) {
      windows.push({ fromMs, toMs, queries: 0, late: 0, costPerHour: 0 });
      continue;
    }
    const planner: PlannerInput = { ...input.planner, arrivalsMs: slice };
    const p = plan(planner);
    if (!p.feasible) return { feasible: false, reason: p.reason, fromMs };
    const late = simulatePlanned(planner, p.config).late;
    windows.push({ fromMs, toMs, queries: slice.length, late, config: p.config, costPerHour: p.costPerHour });
  }
  const dollars = windows.reduce((s, w) => s + w.costPerHour * (w.toMs - w.fromMs), 0);
  const late = windows.reduce((s, w) => s + w.late, 0);
  return {
    feasible: true,
    windows,
    costPerHour: dollars / durationMs,
    late,
    missRate: n > 0 ? late / n : 0,
  };
}
