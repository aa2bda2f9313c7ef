import { ValidationError } from '../errors.ts';
import { EventHeap } from './heaps.ts';
import { drawSpread } from './profiles.ts';
import type { StageState } from './sim-stages.ts';
import type { ControlView, ReplicaControl, ReplicaPoint, SimulationInput } from './sim-types.ts';
import { drawnRouter, type Router, recordedRouter, type Topology } from './topology.ts';
import { createRng } from './traces.ts';

/** The estimator's event loop; simulator.ts describes the serving model, sim-stages.ts the stage state. */

// Event values: batch id * 2 for a finished batch, stage * 2 + 1 for a queue-delay timer.
const TIMER = 1;
// Control event values: a stage index for a replica activation, TICK for a controller tick.
const TICK = -1;
/** Mixed into the seed of the batch-time draws so they do not repeat the routing draws. */
const SERVICE_STREAM = 0x5bd1e995;

export class Simulation {
  readonly latency: Float64Array;
  readonly visits: Float64Array;
  late = 0;
  private readonly n: number;
  private readonly nStages: number;
  private readonly nEdges: number;
  private readonly router: Router;
  /** Draws of batch times from profile spreads; a stream apart from the routing draws. */
  private readonly serviceRng: ReturnType<typeof createRng>;
  private readonly events = new EventHeap();
  /** Per (query, stage): taken incoming edges still to deliver. */
  private readonly waiting: Uint8Array;
  /** Per (query, edge): 1 when the query takes the edge. */
  private readonly taken: Uint8Array;
  private readonly remaining: Int32Array;
  private readonly finish: Float64Array;
  private readonly visitedScratch: Uint8Array;
  private readonly takenScratch: Uint8Array;
  private readonly touched: number[] = [];
  // Batches are stored flat: members of batch b are members[start[b] .. start[b] + size[b]).
  private members = new Int32Array(1024);
  private memberCount = 0;
  private batchStart = new Int32Array(256);
  private batchSize = new Int32Array(256);
  private batchStage = new Int32Array(256);
  private batchCount = 0;
  private readonly lateLimit: number;
  /** Controller ticks and replica activations (closed loop only). */
  private readonly control = new EventHeap();
  private pendingActivations = 0;
  readonly timeline: ReplicaPoint[] = [];

  constructor(
    private readonly input: SimulationInput,
    private readonly topo: Topology,
    readonly stages: StageState[],
  ) {
    this.n = input.arrivalsMs.length;
    this.nStages = topo.ids.length;
    this.nEdges = topo.edgeFrom.length;
    this.router = input.paths
      ? recordedRouter(topo, input.paths)
      : drawnRouter(topo, createRng(input.seed ?? 1));
    this.serviceRng = createRng(((input.seed ?? 1) ^ SERVICE_STREAM) >>> 0);
    this.latency = new Float64Array(this.n).fill(Number.NaN);
    this.visits = new Float64Array(this.nStages);
    this.waiting = new Uint8Array(this.n * this.nStages);
    this.taken = new Uint8Array(this.n * this.nEdges);
    this.remaining = new Int32Array(this.n);
    this.finish = new Float64Array(this.n);
    this.visitedScratch = new Uint8Array(this.nStages);
    this.takenScratch = new Uint8Array(this.nEdges);
    this.lateLimit = input.lateLimit ?? Number.POSITIVE_INFINITY;
  }

  /** Returns false if it stopped at the late limit. */
  run(): boolean {
    if (this.input.control) return this.runControlled(this.input.control);
    const arrivals = this.input.arrivalsMs;
    const events = this.events;
    let next = 0;
    while (next < this.n || events.size > 0) {
      // Finished batches and timers at or before the next arrival go first: a replica freed at t can
      // take a query that arrives at t.
      if (events.size > 0 && (next >= this.n || events.topTime() <= (arrivals[next] as number))) {
        const t = events.topTime();
        const v = events.topVal();
        events.pop();
        if ((v & TIMER) === TIMER) this.onTimer(v >> 1, t);
        else this.onBatchDone(v >> 1, t);
      } else {
        this.onArrival(next, arrivals[next] as number);
        next++;
      }
      if (this.late > this.lateLimit) return false;
    }
    return true;
  }

  /**
   * The same loop with control events. Order at equal times: finished batches and timers, then arrivals,
   * then control events, so a tick at t sees every arrival at or before t.
   */
  private runControlled(control: ReplicaControl): boolean {
    if (!(control.tickMs > 0))
      throw new ValidationError('replica control', [
        { path: 'tickMs', message: `tickMs must be greater than 0, got ${control.tickMs}` },
      ]);
    const arrivals = this.input.arrivalsMs;
    const { events, control: ctl } = this;
    this.recordPoint(0);
    if (this.n > 0) ctl.push(control.tickMs, TICK);
    let next = 0;
    while (next < this.n || events.size > 0 || this.pendingActivations > 0) {
      const tArr = next < this.n ? (arrivals[next] as number) : Number.POSITIVE_INFINITY;
      const tEv = events.size > 0 ? events.topTime() : Number.POSITIVE_INFINITY;
      const tCtl = ctl.size > 0 ? ctl.topTime() : Number.POSITIVE_INFINITY;
      if (tCtl < tArr && tCtl < tEv) {
        const v = ctl.topVal();
        ctl.pop();
        if (v === TICK) {
          this.onTick(control, tCtl, next);
          if (next < this.n) ctl.push(tCtl + control.tickMs, TICK);
        } else this.onActivate(v, tCtl);
      } else if (tEv <= tArr) {
        const v = events.topVal();
        events.pop();
        if ((v & TIMER) === TIMER) this.onTimer(v >> 1, tEv);
        else this.onBatchDone(v >> 1, tEv);
      } else {
        this.onArrival(next, tArr);
        next++;
      }
      if (this.late > this.lateLimit) return false;
    }
    return true;
  }

  private view(): ControlView {
    const active: Record<string, number> = {};
    const activating: Record<string, number> = {};
    const entered: Record<string, number> = {};
    const queued: Record<string, number> = {};
    this.stages.forEach((st, s) => {
      const id = this.topo.ids[s] as string;
      active[id] = st.free + st.busy - st.retiring;
      activating[id] = st.activating;
      entered[id] = st.entered;
      queued[id] = st.queue.size;
    });
    return { active, activating, entered, queued };
  }

  private onTick(control: ReplicaControl, t: number, arrived: number): void {
    const changes = control.tick(t, this.input.arrivalsMs.subarray(0, arrived), this.view());
    let changed = false;
    for (const [i, c] of changes.entries()) {
      const s = this.topo.index.get(c.stage);
      const delay = c.activationDelayMs ?? 0;
      if (s === undefined || !Number.isInteger(c.delta) || !(delay >= 0) || (c.lose === true && c.delta > 0))
        throw new ValidationError('replica change', [
          {
            path: `${i}`,
            message: `needs a known stage (${this.topo.ids.join(', ')}), an integer delta, a delay >= 0 and lose only with a removal, got ${JSON.stringify(c)}`,
          },
        ]);
      const st = this.stages[s] as StageState;
      if (c.delta > 0) {
        for (let k = 0; k < c.delta; k++) this.control.push(t + delay, s);
        st.activating += c.delta;
        this.pendingActivations += c.delta;
        changed = true;
      } else if (c.delta < 0) changed = this.removeReplicas(st, -c.delta, c.lose === true) || changed;
    }
    if (changed) this.recordPoint(t);
  }

  /**
   * Activating replicas go first (nothing to wait for), then idle ones, then busy ones after their batch.
   * Lost replicas (`lose`) are serving ones only. One replica always stays.
   */
  private removeReplicas(st: StageState, wanted: number, lose = false): boolean {
    let k = Math.min(wanted, st.free + st.busy - st.retiring + (lose ? 0 : st.activating) - 1);
    if (k <= 0) return false;
    const cancel = lose ? 0 : Math.min(k, st.activating);
    st.activating -= cancel;
    st.cancelled += cancel;
    k -= cancel;
    const idle = Math.min(k, st.free);
    st.free -= idle;
    k -= idle;
    st.retiring += Math.min(k, st.busy - st.retiring);
    return true;
  }

  private onActivate(s: number, t: number): void {
    const st = this.stages[s] as StageState;
    this.pendingActivations--;
    if (st.cancelled > 0) {
      st.cancelled--;
      return;
    }
    st.activating--;
    st.free++;
    this.recordPoint(t);
    this.dispatch(s, t);
  }

  private recordPoint(t: number): void {
    const { active, activating } = this.view();
    const provisioned: Record<string, number> = {};
    this.stages.forEach((st, s) => {
      const id = this.topo.ids[s] as string;
      provisioned[id] = st.free + st.busy + (activating[id] as number);
    });
    const last = this.timeline[this.timeline.length - 1];
    if (last && last.atMs === t) this.timeline.pop();
    this.timeline.push({ atMs: t, provisioned, active });
  }

  private onArrival(q: number, t: number): void {
    const { visitedScratch: visited, takenScratch: taken, nStages, nEdges } = this;
    visited.fill(0);
    taken.fill(0);
    this.router.route(q, visited, taken);
    let count = 0;
    for (let e = 0; e < nEdges; e++) {
      if (!taken[e]) continue;
      this.taken[q * nEdges + e] = 1;
      this.waiting[q * nStages + (this.topo.edgeTo[e] as number)]! += 1;
    }
    this.finish[q] = t;
    for (let s = 0; s < nStages; s++) {
      if (!visited[s]) continue;
      count++;
      this.visits[s]! += 1;
      if (this.waiting[q * nStages + s] === 0) this.enqueue(s, q, t);
    }
    this.remaining[q] = count;
    if (count === 0) this.latency[q] = 0;
    this.dispatchTouched(t);
  }

  private enqueue(s: number, q: number, t: number): void {
    const st = this.stages[s] as StageState;
    st.queue.push(q, t);
    st.entered++;
    this.touched.push(s);
  }

  private dispatchTouched(t: number): void {
    const touched = this.touched;
    while (touched.length > 0) this.dispatch(touched.pop() as number, t);
  }

  private onTimer(s: number, t: number): void {
    const st = this.stages[s] as StageState;
    if (st.timerAt === t) st.timerAt = Number.POSITIVE_INFINITY;
    this.dispatch(s, t);
  }

  /** Start every batch that is due on the stage's free replicas; arm the delay timer otherwise. */
  private dispatch(s: number, t: number): void {
    const st = this.stages[s] as StageState;
    while (st.free > 0 && st.queue.size > 0) {
      if (st.queue.size < st.maxBatch) {
        const dueAt = st.queue.headSince() + st.delayMs;
        if (dueAt > t) {
          if (dueAt < st.timerAt) {
            st.timerAt = dueAt;
            this.events.push(dueAt, s * 2 + TIMER);
          }
          return;
        }
      }
      this.startBatch(s, st, t);
    }
  }

  private startBatch(s: number, st: StageState, t: number): void {
    const size = Math.min(st.queue.size, st.maxBatch);
    const b = this.batchCount++;
    this.reserve(b, size);
    this.batchStart[b] = this.memberCount;
    this.batchSize[b] = size;
    this.batchStage[b] = s;
    for (let i = 0; i < size; i++) this.members[this.memberCount++] = st.queue.pop();
    st.free--;
    st.busy++;
    st.batches++;
    st.served += size;
    this.events.push(t + this.batchMs(s, st, size, t), b * 2);
  }

  /** A batch's time: the caller's measured one where given, else the profile's (a draw from its spread). */
  private batchMs(s: number, st: StageState, size: number, t: number): number {
    const given = this.input.batchTimeMs?.(this.topo.ids[s] as string, size, t);
    if (given !== undefined) {
      if (Number.isFinite(given) && given >= 0) return given;
      const path = `batchTimeMs(${this.topo.ids[s]}, ${size}, ${t})`;
      throw new ValidationError('simulation input', [
        { path, message: `must be a finite time >= 0, got ${given}` },
      ]);
    }
    const spread = st.spread[size];
    return (st.service[size] as number) * (spread ? drawSpread(spread, this.serviceRng.next()) : 1);
  }

  private reserve(b: number, size: number): void {
    if (this.memberCount + size > this.members.length) {
      const grown = new Int32Array(Math.max(this.members.length * 2, this.memberCount + size));
      grown.set(this.members);
      this.members = grown;
    }
    if (b >= this.batchStart.length) {
      const len = this.batchStart.length * 2;
      for (const key of ['batchStart', 'batchSize', 'batchStage'] as const) {
        const grown = new Int32Array(len);
        grown.set(this[key]);
        this[key] = grown;
      }
    }
  }

  private onBatchDone(b: number, t: number): void {
    const s = this.batchStage[b] as number;
    const st = this.stages[s] as StageState;
    st.busy--;
    if (st.retiring > 0) {
      st.retiring--;
      this.recordPoint(t);
    } else st.free++;
    const start = this.batchStart[b] as number;
    const end = start + (this.batchSize[b] as number);
    for (let i = start; i < end; i++) this.leaveStage(this.members[i] as number, s, t);
    this.touched.push(s);
    this.dispatchTouched(t);
  }

  /** Deliver the query along its taken edges out of `s`; record its latency if it is done. */
  private leaveStage(q: number, s: number, t: number): void {
    const { nStages, nEdges, topo } = this;
    for (const e of topo.outEdges[s] ?? []) {
      if (!this.taken[q * nEdges + e]) continue;
      const to = topo.edgeTo[e] as number;
      const w = q * nStages + to;
      this.waiting[w]! -= 1;
      if (this.waiting[w] === 0) this.enqueue(to, q, t);
    }
    if (t > (this.finish[q] as number)) this.finish[q] = t;
    this.remaining[q]! -= 1;
    if (this.remaining[q] === 0) {
      const latency = (this.finish[q] as number) - (this.input.arrivalsMs[q] as number);
      this.latency[q] = latency;
      if (latency > this.input.sloMs) this.late++;
    }
  }
}
