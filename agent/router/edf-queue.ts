/**
 * A stage's central queue, earliest deadline first (ties: whoever came first). Each item carries when it
 * reached the stage, for the batching-delay rule (the simulator's `DeadlineQueue`, with payloads).
 */

interface Slot<T> {
  readonly deadline: number;
  readonly seq: number;
  readonly since: number;
  readonly item: T;
}

export class EdfQueue<T> {
  private readonly heap: Slot<T>[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  push(item: T, deadline: number, since: number): void {
    const slot = { deadline, seq: this.seq++, since, item };
    const h = this.heap;
    let i = h.length;
    h.push(slot);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(slot, h[parent] as Slot<T>)) break;
      h[i] = h[parent] as Slot<T>;
      i = parent;
    }
    h[i] = slot;
  }

  /** When the head (earliest deadline) reached the stage; undefined when empty. */
  headSince(): number | undefined {
    return this.heap[0]?.since;
  }

  headDeadline(): number | undefined {
    return this.heap[0]?.deadline;
  }

  peek(): T | undefined {
    return this.heap[0]?.item;
  }

  pop(): T | undefined {
    const h = this.heap;
    const head = h[0];
    const last = h.pop();
    if (!head || !last || h.length === 0) return head?.item;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= h.length) break;
      if (c + 1 < h.length && before(h[c + 1] as Slot<T>, h[c] as Slot<T>)) c++;
      if (!before(h[c] as Slot<T>, last)) break;
      h[i] = h[c] as Slot<T>;
      i = c;
    }
    h[i] = last;
    return head.item;
  }
}

function before<T>(a: Slot<T>, b: Slot<T>): boolean {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);
}
