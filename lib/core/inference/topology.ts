import { ValidationError } from '../errors.ts';
import { findCycle } from '../model/pipeline.ts';
import type { Rng } from './traces.ts';

/**
 * A pipeline DAG compiled to indices, and how one query's path through it is chosen.
 *
 * Edge semantics (PipelineSpec): a query that leaves `from` goes on to `to` with the edge's probability,
 * drawn independently per edge. A stage reached by several taken edges is a join: it runs once, when all
 * of its taken incoming edges have delivered. Every query enters every entry stage (no incoming edge).
 */

export interface PipelineShape {
  readonly stages: readonly { readonly id: string }[];
  readonly edges: readonly { readonly from: string; readonly to: string; readonly probability?: number }[];
}

export interface Topology {
  readonly ids: readonly string[];
  readonly index: ReadonlyMap<string, number>;
  /** Stage indices, every stage after all of its predecessors. */
  readonly order: readonly number[];
  readonly isEntry: readonly boolean[];
  /** Edge indices leaving each stage. */
  readonly outEdges: readonly (readonly number[])[];
  readonly edgeFrom: Int32Array;
  readonly edgeTo: Int32Array;
  readonly edgeProb: Float64Array;
}

export function compileTopology(shape: PipelineShape): Topology {
  const ids = shape.stages.map((s) => s.id);
  const index = new Map(ids.map((id, i) => [id, i]));
  const issues = shape.edges.flatMap((e, i) =>
    (['from', 'to'] as const)
      .filter((end) => !index.has(e[end]))
      .map((end) => ({
        path: `edges.${i}.${end}`,
        message: `unknown stage ${e[end]}; stages are ${ids.join(', ')}`,
      })),
  );
  if (index.size !== ids.length) issues.push({ path: 'stages', message: 'stage ids must be unique' });
  const cycle = issues.length === 0 ? findCycle(ids, shape.edges) : undefined;
  if (cycle) issues.push({ path: 'edges', message: `edges form a cycle: ${cycle.join(' -> ')}` });
  if (issues.length > 0) throw new ValidationError('pipeline', issues);

  const edgeFrom = Int32Array.from(shape.edges, (e) => index.get(e.from) as number);
  const edgeTo = Int32Array.from(shape.edges, (e) => index.get(e.to) as number);
  const edgeProb = Float64Array.from(shape.edges, (e) => e.probability ?? 1);
  const outEdges: number[][] = ids.map(() => []);
  const indegree = ids.map(() => 0);
  shape.edges.forEach((_, e) => {
    outEdges[edgeFrom[e] as number]?.push(e);
    indegree[edgeTo[e] as number]! += 1;
  });
  const isEntry = indegree.map((d) => d === 0);
  return {
    ids,
    index,
    order: topoOrder(indegree, outEdges, edgeTo),
    isEntry,
    outEdges,
    edgeFrom,
    edgeTo,
    edgeProb,
  };
}

/** Kahn's algorithm; the graph is known to be acyclic here. */
function topoOrder(indegree: readonly number[], outEdges: readonly number[][], edgeTo: Int32Array): number[] {
  const left = [...indegree];
  const ready = left.flatMap((d, i) => (d === 0 ? [i] : []));
  const order: number[] = [];
  while (ready.length > 0) {
    const s = ready.shift() as number;
    order.push(s);
    for (const e of outEdges[s] ?? []) {
      const t = edgeTo[e] as number;
      left[t]! -= 1;
      if (left[t] === 0) ready.push(t);
    }
  }
  return order;
}

/** The largest sum of per-stage weights along any path from an entry stage. */
export function longestPath(topo: Topology, weight: (stage: number) => number): number {
  const best = topo.ids.map(() => 0);
  for (const s of topo.order) {
    best[s] = (best[s] as number) + weight(s);
    for (const e of topo.outEdges[s] ?? []) {
      const t = topo.edgeTo[e] as number;
      best[t] = Math.max(best[t] as number, best[s] as number);
    }
  }
  // best[t] held the max over predecessors before its own weight was added in topological order.
  return Math.max(...best);
}

/**
 * Chooses one query's path: marks visited stages and taken edges (scratch arrays, cleared by the caller).
 * Drawn routing takes one uniform per edge leaving a visited stage, in topological order, so a seed fixes
 * every path; recorded routing replays the stage sets observed on the sample queries.
 */
export interface Router {
  route(query: number, visited: Uint8Array, taken: Uint8Array): void;
}

export function drawnRouter(topo: Topology, rng: Rng): Router {
  return {
    route(_query, visited, taken) {
      for (const s of topo.order) {
        if (topo.isEntry[s]) visited[s] = 1;
        if (!visited[s]) continue;
        for (const e of topo.outEdges[s] ?? []) {
          if (rng.next() < (topo.edgeProb[e] as number)) {
            taken[e] = 1;
            visited[topo.edgeTo[e] as number] = 1;
          }
        }
      }
    },
  };
}

/**
 * Replays recorded paths: path i lists the stages query i visited (paths repeat if the trace is longer).
 * An edge is taken when both its ends were visited; a visited stage that is neither an entry nor reached
 * from a visited stage could never start, so it is rejected up front.
 */
export function recordedRouter(topo: Topology, paths: readonly (readonly string[])[]): Router {
  if (paths.length === 0)
    throw new ValidationError('paths', [{ path: '', message: 'paths must not be empty' }]);
  const sets = paths.map((path, i) => {
    const set = new Uint8Array(topo.ids.length);
    for (const id of path) {
      const s = topo.index.get(id);
      if (s === undefined)
        throw new ValidationError('paths', [
          { path: `${i}`, message: `unknown stage ${id}; stages are ${topo.ids.join(', ')}` },
        ]);
      set[s] = 1;
    }
    checkReachable(topo, set, i);
    return set;
  });
  return {
    route(query, visited, taken) {
      const set = sets[query % sets.length] as Uint8Array;
      visited.set(set);
      topo.edgeFrom.forEach((from, e) => {
        if (set[from] && set[topo.edgeTo[e] as number]) taken[e] = 1;
      });
    },
  };
}

function checkReachable(topo: Topology, set: Uint8Array, i: number): void {
  if (!set.includes(1))
    throw new ValidationError('paths', [{ path: `${i}`, message: 'a path must visit at least one stage' }]);
  const fed = new Uint8Array(set.length);
  topo.edgeFrom.forEach((from, e) => {
    if (set[from]) fed[topo.edgeTo[e] as number] = 1;
  });
  set.forEach((v, s) => {
    if (v && !topo.isEntry[s] && !fed[s])
      throw new ValidationError('paths', [
        { path: `${i}`, message: `stage ${topo.ids[s]} is visited but no visited stage feeds it` },
      ]);
  });
}

/** The fraction of `n` queries that visit each stage under `router` (InferLine's scale factor s_m). */
export function visitFractions(topo: Topology, router: Router, n: number): number[] {
  const counts = topo.ids.map(() => 0);
  const visited = new Uint8Array(topo.ids.length);
  const taken = new Uint8Array(topo.edgeFrom.length);
  for (let q = 0; q < n; q++) {
    visited.fill(0);
    taken.fill(0);
    router.route(q, visited, taken);
    visited.forEach((v, s) => {
      if (v) counts[s]! += 1;
    });
  }
  return counts.map((c) => (n > 0 ? c / n : 0));
}
