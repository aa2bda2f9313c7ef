import { type FieldIssue, ValidationError } from '../errors.ts';
import { Simulation } from './sim-engine.ts';
import { prepareStages } from './sim-stages.ts';
import type { SimulationInput, SimulationResult, StageStats } from './sim-types.ts';
import { compileTopology } from './topology.ts';

export * from './sim-types.ts';

/**
 * The estimator: a discrete-event simulation of a pipeline configuration over an arrival trace, with the
 * serving behaviour the stage servers implement:
 *
 *   query ──> entry stages ──> [EDF queue per stage] ──(free replica & due)──> batch ──> successors ...
 *
 * - one central queue per stage, earliest deadline first (deadline = pipeline arrival + SLO);
 * - a free replica takes up to maxBatch queued queries once the batch is due: maxBatch are waiting, or
 *   the head has waited maxQueueDelayMs at this stage (0 means pull whatever is there, InferLine's rule);
 * - one batch at a time per replica; a batch of b queries takes the profile's time for b, rounded up to
 *   the next profiled size, or a seeded draw from that point's `spread` where the profile gives one (or
 *   the caller's measured time, `batchTimeMs`, where given);
 * - a finished batch's queries all reach their next stages' queues before those stages take a batch;
 * - a query leaves a stage along each outgoing edge with the edge's probability; a join stage waits for
 *   all of its taken incoming edges; the query ends when its last visited stage finishes.
 * Transfer time between stages is not modelled (it belongs in the profiled latency).
 */

/** Replays the trace through the configuration; see the file comment for the serving model. */
export function simulate(input: SimulationInput): SimulationResult {
  checkTrace(input.arrivalsMs, input.sloMs);
  const topo = compileTopology(input.pipeline);
  const sim = new Simulation(input, topo, prepareStages(input, topo));
  const complete = sim.run();
  const stages: Record<string, StageStats> = {};
  sim.stages.forEach((st, s) => {
    stages[topo.ids[s] as string] = {
      visits: sim.visits[s] as number,
      batches: st.batches,
      meanBatch: st.batches > 0 ? st.served / st.batches : 0,
    };
  });
  return {
    latenciesMs: sim.latency,
    late: sim.late,
    complete,
    stages,
    ...(input.control ? { timeline: sim.timeline } : {}),
  };
}

/** The event loop relies on sorted, finite arrivals; a bad trace would silently reorder time. */
export function checkTrace(arrivalsMs: Float64Array, sloMs: number): void {
  const issues: FieldIssue[] = [];
  if (!(sloMs > 0)) issues.push({ path: 'sloMs', message: `sloMs must be greater than 0, got ${sloMs}` });
  for (let i = 0; i < arrivalsMs.length; i++) {
    const t = arrivalsMs[i] as number;
    if (!Number.isFinite(t) || (i > 0 && t < (arrivalsMs[i - 1] as number))) {
      issues.push({
        path: `arrivalsMs.${i}`,
        message: `arrivals must be finite and sorted, got ${t} after ${i > 0 ? arrivalsMs[i - 1] : 'the start'}`,
      });
      break;
    }
  }
  if (issues.length > 0) throw new ValidationError('simulation input', issues);
}

/**
 * Nearest-rank percentile (p in (0, 100]): the smallest value with at least p% of values at or below it.
 * NaN (unfinished) counts as +Infinity, so an aborted run never looks feasible.
 */
export function percentile(values: Float64Array, p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values, (v) => (Number.isNaN(v) ? Number.POSITIVE_INFINITY : v)).sort();
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1] as number;
}

/** How many of n queries may exceed the SLO while the nearest-rank P99 still meets it. */
export function allowedLate(n: number, p = 99): number {
  return n - Math.ceil((p / 100) * n);
}
