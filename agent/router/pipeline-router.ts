import { ValidationError } from '../../lib/core/errors.ts';
import {
  compileTopology,
  drawnRouter,
  type Router,
  type Topology,
} from '../../lib/core/inference/topology.ts';
import { createRng } from '../../lib/core/inference/traces.ts';
import {
  type PipelineServing,
  ROUTER_STAGE,
  type ServingPlan,
} from '../../lib/core/model/pipeline-serving.ts';
import type { StageReport } from '../../lib/core/protocol/pipeline.ts';
import { MAX_BINARY_BODY_BYTES } from '../http-util.ts';
import { type BatchFailureSink, batchFailed } from './batch-failure.ts';
import { batchTimeout, sendBatch } from './batch-send.ts';
import { NotServingError, QueryFailedError, ShedError } from './errors.ts';
import type { PipelineRouterOptions } from './pipeline-router-options.ts';
import { splitRows, type Tensor } from './replica-client.ts';
import type { Replica } from './replica-set.ts';
import {
  answerOf,
  type Item,
  inputOf,
  newQuery,
  type Query,
  type QueryResult,
  type Stage,
  takeBatch,
} from './router-query.ts';
import { routerStatus, sizeBounds, takeIntervalReport } from './router-report.ts';
import { type InputShape, newStage, shapeIssues } from './stage.ts';
import { type IntervalStats, RouterStats } from './stats.ts';

export type { QueryResult } from './router-query.ts';

/**
 * The serving path of one pipeline, as `lib/core/inference/simulator.ts` models it:
 *
 *   query ──> entry stages ──> [EDF queue per stage] ──(free replica & batch due)──> batch ──> successors
 *
 * - deadline = arrival + SLO; each stage keeps one central queue in deadline order;
 * - a free replica (one outstanding batch each) takes up to maxBatch queued queries once the batch is
 *   due: maxBatch are waiting, or the head has waited maxQueueDelayMs at this stage (0: take what is
 *   there); the batch goes to the replica's model server as ONE request, rows concatenated;
 * - a finished batch's queries all reach their next stages' queues before those stages dispatch, so
 *   they can batch together there, in deadline order;
 * - a query leaves a stage along each outgoing edge with the edge's probability (the simulator's seeded
 *   per-edge draw, `drawnRouter`); a join runs once all of its taken incoming edges have delivered;
 * - a stage's input is its predecessor's output; a join takes the output of its first taken incoming
 *   edge in spec order (stages of a DAG whose branches must merge tensors should be built to take one);
 * - the answer is the output of the visited stage that comes last in topological order.
 * A failed batch is retried once, on another replica where one is free; a second failure fails its
 * queries. A queued query whose deadline has passed is dropped (counted as an error and as dropped).
 * A batch in flight is given until its latest deadline (plus a margin) at most: then it has failed.
 * A replica's 400 is the queries' fault (their input does not fit the model): they fail at once, and the
 * replica is not cooled down.
 */
export class PipelineRouter {
  readonly stats = new RouterStats();
  private topo?: Topology;
  private paths?: Router;
  private stages: Stage[] = [];
  private inEdges: number[][] = [];
  private sloMs = 0;
  private plan?: ServingPlan;
  private notServing = 'no serving record yet';
  private activeCounts: Record<string, number> = {};
  private closed = false;

  constructor(private readonly options: PipelineRouterOptions) {}

  /** The plan being served; its `plannedAt` changes on a re-plan. */
  get servingPlan(): ServingPlan | undefined {
    return this.plan;
  }

  get active(): Readonly<Record<string, number>> {
    return this.activeCounts;
  }

  get serving(): boolean {
    return this.notServing === '';
  }

  /** The directory no longer lists the pipeline: refuse new queries, finish the queued ones. */
  unavailable(why: string): void {
    this.notServing = why;
  }

  /** Take a fresh directory reading: configuration, targets on a new plan, and replica endpoints. */
  apply(serving: PipelineServing): void {
    const { record } = serving;
    if (record.status !== 'SERVING' || !record.plan) {
      this.notServing = `status is ${record.status}${record.reason ? ` (${record.reason})` : ''}`;
      return;
    }
    // Directory reads can finish out of order: a reading of an older plan than the one served is stale.
    if (this.plan && record.plan.plannedAt < this.plan.plannedAt) return;
    if (!this.topo) this.build(record.spec);
    this.sloMs = record.spec.sloP99Ms;
    const replan = this.plan?.plannedAt !== record.plan.plannedAt;
    this.plan = record.plan;
    for (const st of this.stages) {
      const c = record.plan.config[st.id];
      if (!c) throw new ValidationError('serving plan', [{ path: st.id, message: 'no plan for this stage' }]);
      st.maxBatch = c.maxBatch;
      st.delayMs = c.maxQueueDelayMs;
      st.replicas.update(serving.endpoints.filter((e) => e.stageId === st.id && e.stageId !== ROUTER_STAGE));
    }
    if (replan)
      this.setActive(
        Object.fromEntries(
          this.stages.map((s) => [s.id, record.targets[s.id] ?? record.plan?.config[s.id]?.replicas ?? 1]),
        ),
      );
    this.notServing = '';
    this.sizeBounds();
    this.sweep();
  }

  /** The tuner's replica counts per stage: what it asks the control plane for. */
  setActive(counts: Readonly<Record<string, number>>): void {
    this.activeCounts = { ...this.activeCounts, ...counts };
    this.sizeBounds();
    this.sweep();
  }

  /** An entry stage's model input shape (a replica's metadata), checked against queries at the door. */
  setInputShape(stageId: string, shape: InputShape): void {
    const st = this.stages.find((s) => s.id === stageId);
    if (st) st.inputShape = shape;
  }

  /** Entry stages (no incoming edge) whose model input shape is not known yet. */
  entryStagesWithoutShape(): { stageId: string; urls: string[] }[] {
    return this.stages
      .filter((st) => this.inEdges[st.index]?.length === 0 && !st.inputShape)
      .map((st) => ({ stageId: st.id, urls: st.replicas.urls() }));
  }

  /**
   * Why a query arriving now would be refused before its input is looked at (stopping, not serving, a
   * queue at its bound); a shed one is counted. Lets the front door refuse before reading a body.
   */
  refusal(): NotServingError | ShedError | undefined {
    if (this.closed) return new NotServingError(this.options.pipelineId, 'router is stopping');
    if (!this.serving || !this.topo || !this.paths)
      return new NotServingError(this.options.pipelineId, this.notServing);
    // A stage with no replica yet (the pipeline is starting) could only hold the query until its deadline
    // passed: say so at once, with Retry-After, rather than answer 504 an SLO later.
    const idle = this.stages.find((s) => s.replicas.size === 0);
    if (idle)
      return new NotServingError(this.options.pipelineId, `stage ${idle.id} has no replica serving yet`);
    const full = this.stages.find((s) => s.queue.size >= s.bound);
    if (!full) return undefined;
    this.stats.count('arrivals');
    this.options.onArrival?.();
    this.stats.count('shed');
    return new ShedError(full.id, full.queue.size, full.bound, this.options.retryAfterSeconds);
  }

  /** Queue a query; resolves with the answer, rejects with ShedError, NotServingError or QueryFailedError. */
  submit(input: Tensor): Promise<QueryResult> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    const rows = input.dims[0] ?? 1;
    const limit = Math.min(...this.stages.map((s) => s.maxBatch));
    const issues = this.stages.flatMap((st) => shapeIssues(st, input.dims));
    if (rows > limit)
      issues.unshift({
        path: 'dims.0',
        message: `must be at most ${limit} rows (the smallest stage batch), got ${rows}`,
      });
    if (issues.length > 0) return Promise.reject(new ValidationError('infer request', issues));
    this.stats.count('arrivals');
    this.options.onArrival?.();
    return new Promise((resolve, reject) => this.start(input, rows, resolve, reject));
  }

  private start(input: Tensor, rows: number, resolve: Query['resolve'], reject: Query['reject']): void {
    const topo = this.topo as Topology;
    const now = this.options.now();
    const q = newQuery(topo, this.paths as Router, now, this.sloMs, input, rows, resolve, reject);
    const ready: Stage[] = [];
    for (const st of this.stages) {
      if (!q.visited[st.index]) continue;
      q.remaining++;
      this.stats.visit(st.id);
      if (q.waiting[st.index] === 0) ready.push(st);
    }
    for (const st of ready) this.enqueue(st, { query: q, input });
  }

  /** Queue an item at `st`; dispatch there now, or leave that to the caller when it collects `reached`. */
  private enqueue(st: Stage, item: Item, reached?: Set<Stage>): void {
    if (this.closed) {
      this.fail(item.query, 'closed', 'router is stopping');
      return;
    }
    st.queue.push(item, item.query.deadline, this.options.now());
    this.stats.queueDepth(st.id, st.queue.size);
    if (reached) reached.add(st);
    else this.dispatch(st);
  }

  /** Start every due batch on the stage's free replicas; arm the batching-delay timer otherwise. */
  private dispatch(st: Stage): void {
    const now = this.options.now();
    this.dropExpired(st, now);
    while (st.queue.size > 0) {
      const head = st.queue.peek() as Item;
      const replica = st.replicas.free(now, head.failedOn ? new Set([head.failedOn]) : undefined);
      if (!replica) return;
      if (st.queue.size < st.maxBatch) {
        const dueAt = (st.queue.headSince() as number) + st.delayMs;
        if (dueAt > now) {
          this.arm(st, dueAt, now);
          return;
        }
      }
      const batch = takeBatch(st);
      if (batch.length > 0) this.run(st, replica, batch);
    }
  }

  private run(st: Stage, replica: Replica, batch: Item[]): void {
    replica.busy = true;
    this.stats.batch(st.id);
    const rows = batch.map((i) => i.input.dims[0] ?? 1);
    const o = this.options;
    const sentAt = o.now();
    const timeoutMs = batchTimeout(o, batch, sentAt);
    sendBatch(o, replica.url, batch, timeoutMs)
      .then((out) => {
        const ms = o.now() - sentAt;
        this.stats.batchTime(st.id, batch.length, ms);
        o.onBatch?.(st.id, batch.length, sentAt, ms);
        const parts = splitRows(out, rows);
        replica.busy = false;
        // The whole batch reaches its successors' queues before any of them dispatches, as in the
        // estimator: the first output must not leave alone while its batch-mates are still on the way.
        const reached = new Set<Stage>();
        batch.forEach((item, i) => {
          this.leaveStage(item.query, st, parts[i] as Tensor, reached);
        });
        for (const next of reached) this.dispatch(next);
      })
      .catch((error: unknown) => {
        replica.busy = false;
        this.batchFailed(st, replica, batch, error);
      })
      .finally(() => {
        if (!this.closed) this.dispatch(st);
      });
  }

  private batchFailed(st: Stage, replica: Replica, batch: Item[], error: unknown): void {
    const sink: BatchFailureSink = {
      options: this.options,
      closed: this.closed,
      fail: (q, reason, message) => this.fail(q, reason, message),
      reject: (q, error) => this.reject(q, error),
    };
    batchFailed(sink, st, replica, batch, error);
  }

  /**
   * Deliver the query along its taken edges out of `st`, queueing it where it is now ready (the stages go
   * into `reached`, for the caller to dispatch); answer it once every visited stage is done.
   */
  private leaveStage(q: Query, st: Stage, output: Tensor, reached: Set<Stage>): void {
    if (q.done) return;
    const topo = this.topo as Topology;
    q.outputs[st.index] = output;
    for (const e of topo.outEdges[st.index] ?? []) {
      if (!q.taken[e]) continue;
      const to = topo.edgeTo[e] as number;
      q.waiting[to]! -= 1;
      if (q.waiting[to] === 0)
        this.enqueue(
          this.stages[to] as Stage,
          { query: q, input: inputOf(topo, this.inEdges, q, to) },
          reached,
        );
    }
    q.remaining--;
    if (q.remaining === 0) this.finish(q);
  }

  private finish(q: Query): void {
    q.done = true;
    const totalMs = this.options.now() - q.arrivedAt;
    this.stats.completed(totalMs, totalMs > this.sloMs);
    q.resolve(answerOf(this.topo as Topology, q, totalMs));
    q.outputs.fill(undefined);
  }

  private fail(q: Query, reason: QueryFailedError['reason'], message: string): void {
    if (reason === 'deadline' && !q.done) this.stats.count('dropped');
    this.reject(q, new QueryFailedError(reason, message));
  }

  private reject(q: Query, error: Error): void {
    if (q.done) return;
    q.done = true;
    q.outputs.fill(undefined);
    this.stats.count('errors');
    q.reject(error);
  }

  private dropExpired(st: Stage, now: number): void {
    if (!this.options.dropExpired) return;
    while (st.queue.size > 0 && (st.queue.headDeadline() as number) < now) {
      const { query, lastError } = st.queue.pop() as Item;
      const why = lastError ? `, after ${lastError}` : '';
      this.fail(query, 'deadline', `deadline passed while queued at stage ${st.id}${why}`);
    }
  }

  private arm(st: Stage, dueAt: number, now: number): void {
    if (st.timer && st.timerAt <= dueAt) return;
    clearTimeout(st.timer);
    st.timerAt = dueAt;
    st.timer = setTimeout(() => {
      st.timer = undefined;
      st.timerAt = Number.POSITIVE_INFINITY;
      this.dispatch(st);
    }, dueAt - now);
  }

  /** Dispatch every stage: new replicas, a raised count, expired queries. Cheap; run it periodically. */
  sweep(): void {
    for (const st of this.stages) this.dispatch(st);
  }

  /** Queue bounds by router-report.ts's sizeBounds. */
  private sizeBounds(): void {
    sizeBounds(this.stages, this.plan, this.activeCounts, this.sloMs, this.options.queueBound);
  }

  private build(spec: PipelineServing['record']['spec']): void {
    const topo = compileTopology(spec);
    this.topo = topo;
    this.paths = drawnRouter(topo, createRng(this.options.seed));
    this.inEdges = topo.ids.map(() => []);
    topo.edgeTo.forEach((to, e) => {
      this.inEdges[to]?.push(e);
    });
    const maxBytes = this.options.maxBatchBytes ?? MAX_BINARY_BODY_BYTES;
    this.stages = topo.ids.map((id, index) => newStage<Item>(index, id, maxBytes));
  }

  /** Per-stage report fields: dispatchable replicas and the interval's counts. */
  takeInterval(): IntervalStats & { stageReports: Record<string, StageReport> } {
    return takeIntervalReport(this.stats, this.stages, () => this.options.now());
  }

  status(): Record<string, unknown> {
    const now = this.options.now();
    return routerStatus({
      pipelineId: this.options.pipelineId,
      serving: this.serving,
      notServing: this.notServing,
      sloMs: this.sloMs,
      stages: this.stages,
      activeCounts: this.activeCounts,
      stats: this.stats,
      now,
    });
  }

  /** Stop taking queries and fail the queued ones. */
  close(): void {
    this.closed = true;
    for (const st of this.stages) {
      clearTimeout(st.timer);
      while (st.queue.size > 0) {
        const item = st.queue.pop() as Item;
        this.fail(item.query, 'closed', 'router is stopping');
      }
    }
  }
}
