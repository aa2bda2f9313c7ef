/**
 * Two binary min-heaps on typed arrays for the estimator. Hours of trace mean millions of events, and
 * objects per event would spend the time budget in allocation and garbage collection.
 */

function grownF64(a: Float64Array): Float64Array<ArrayBuffer> {
  const b = new Float64Array(a.length * 2);
  b.set(a);
  return b;
}

function grownI32(a: Int32Array): Int32Array<ArrayBuffer> {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

/** Events keyed by time; each carries one int (what happens). Equal times pop in a fixed, seedless order. */
export class EventHeap {
  private times = new Float64Array(64);
  private vals = new Int32Array(64);
  size = 0;

  push(time: number, val: number): void {
    if (this.size === this.times.length) {
      this.times = grownF64(this.times);
      this.vals = grownI32(this.vals);
    }
    let i = this.size++;
    const { times, vals } = this;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pt = times[parent] as number;
      if (pt <= time) break;
      times[i] = pt;
      vals[i] = vals[parent] as number;
      i = parent;
    }
    times[i] = time;
    vals[i] = val;
  }

  topTime(): number {
    return this.times[0] as number;
  }

  topVal(): number {
    return this.vals[0] as number;
  }

  /** Remove the earliest event (read it first with topTime/topVal). */
  pop(): void {
    const { times, vals } = this;
    const n = --this.size;
    if (n === 0) return;
    const t = times[n] as number;
    const v = vals[n] as number;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && (times[c + 1] as number) < (times[c] as number)) c++;
      if ((times[c] as number) >= t) break;
      times[i] = times[c] as number;
      vals[i] = vals[c] as number;
      i = c;
    }
    times[i] = t;
    vals[i] = v;
  }
}

/**
 * A stage's queue in earliest-deadline-first order. Every query of a pipeline has the same SLO, so the
 * deadline order is the pipeline arrival order, which is the query index: the heap orders by index and
 * carries, beside it, when the query reached this stage (for the queue-delay rule).
 */
export class DeadlineQueue {
  private ids = new Int32Array(32);
  private since = new Float64Array(32);
  size = 0;

  push(id: number, sinceMs: number): void {
    if (this.size === this.ids.length) {
      this.ids = grownI32(this.ids);
      this.since = grownF64(this.since);
    }
    let i = this.size++;
    const { ids, since } = this;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pid = ids[parent] as number;
      if (pid <= id) break;
      ids[i] = pid;
      since[i] = since[parent] as number;
      i = parent;
    }
    ids[i] = id;
    since[i] = sinceMs;
  }

  /** When the head (earliest deadline) reached the stage. */
  headSince(): number {
    return this.since[0] as number;
  }

  /** Remove and return the head's query index. */
  pop(): number {
    const { ids, since } = this;
    const head = ids[0] as number;
    const n = --this.size;
    if (n === 0) return head;
    const id = ids[n] as number;
    const s = since[n] as number;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && (ids[c + 1] as number) < (ids[c] as number)) c++;
      if ((ids[c] as number) >= id) break;
      ids[i] = ids[c] as number;
      since[i] = since[c] as number;
      i = c;
    }
    ids[i] = id;
    since[i] = s;
    return head;
  }
}
