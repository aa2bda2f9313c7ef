import type { Router, Topology } from '../../lib/core/inference/topology.ts';
import { type Tensor, trailingKey } from './replica-client.ts';
import type { Stage as StageOf } from './stage.ts';

export interface QueryResult {
  readonly output: Tensor;
  /** Router arrival to answer, ms. */
  readonly totalMs: number;
  /** Stage ids the query visited. */
  readonly stages: readonly string[];
}

export interface Query {
  readonly arrivedAt: number;
  readonly deadline: number;
  readonly input: Tensor;
  readonly rows: number;
  readonly visited: Uint8Array;
  readonly taken: Uint8Array;
  readonly waiting: Int16Array;
  readonly outputs: (Tensor | undefined)[];
  remaining: number;
  done: boolean;
  resolve(result: QueryResult): void;
  reject(error: Error): void;
}

export interface Item {
  readonly query: Query;
  readonly input: Tensor;
  /** The replica whose failure put it back; a retry prefers another. */
  readonly failedOn?: string;
  /** That failure, named if the query's deadline then passes while it waits for the retry. */
  readonly lastError?: string;
}

export type Stage = StageOf<Item>;

/** A new query arriving at `now`, its edges drawn and each stage's count of taken incoming edges set. */
export function newQuery(
  topo: Topology,
  paths: Router,
  now: number,
  sloMs: number,
  input: Tensor,
  rows: number,
  resolve: Query['resolve'],
  reject: Query['reject'],
): Query {
  const n = topo.ids.length;
  const q: Query = {
    arrivedAt: now,
    deadline: now + sloMs,
    input,
    rows,
    visited: new Uint8Array(n),
    taken: new Uint8Array(topo.edgeFrom.length),
    waiting: new Int16Array(n),
    outputs: new Array(n).fill(undefined),
    remaining: 0,
    done: false,
    resolve,
    reject,
  };
  paths.route(0, q.visited, q.taken);
  q.taken.forEach((t, e) => {
    if (t) q.waiting[topo.edgeTo[e] as number]! += 1;
  });
  return q;
}

/**
 * Up to maxBatch rows from the head, in deadline order, all with the head's non-batch dims, and no more
 * than maxBatchBytes of input (the head always goes, alone if it must).
 */
export function takeBatch(st: Stage): Item[] {
  const batch: Item[] = [];
  let rows = 0;
  let bytes = 0;
  let key: string | undefined;
  while (st.queue.size > 0) {
    const next = st.queue.peek() as Item;
    if (next.query.done) {
      st.queue.pop();
      continue;
    }
    const k = trailingKey(next.input);
    const r = next.input.dims[0] ?? 1;
    const b = next.input.data.byteLength;
    if (key !== undefined && (k !== key || rows + r > st.maxBatch || bytes + b > st.maxBatchBytes)) break;
    key = k;
    rows += r;
    bytes += b;
    batch.push(st.queue.pop() as Item);
  }
  return batch;
}

/** A stage's input: the output of its first taken incoming edge in spec order, else the query's input. */
export function inputOf(topo: Topology, inEdges: readonly number[][], q: Query, stage: number): Tensor {
  for (const e of inEdges[stage] ?? []) {
    const out = q.taken[e] ? q.outputs[topo.edgeFrom[e] as number] : undefined;
    if (out) return out;
  }
  return q.input;
}

/** The answer: the output of the visited stage that comes last in topological order. */
export function answerOf(topo: Topology, q: Query, totalMs: number): QueryResult {
  const last = [...topo.order].reverse().find((s) => q.visited[s]) as number;
  const stages = topo.ids.filter((_, s) => q.visited[s]);
  return { output: q.outputs[last] as Tensor, totalMs, stages };
}
