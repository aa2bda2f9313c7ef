/**
 * Cost and cap accounting of new instances from a count pattern a(t) (instances alive and usable in
 * slot t), the same quantities the model prices: every alive slot, plus `bootSlots` slots per launch,
 * where launches are the rises of a. Instances count against the caps while booting too.
 */

/** Launches in slot j: the rise of a at j + bootSlots. */
export function launchesOf(a: readonly number[], bootSlots: number): number[] {
  const l = new Array<number>(a.length).fill(0);
  for (let t = bootSlots; t < a.length; t++)
    l[t - bootSlots] = Math.max(0, a[t]! - (t > bootSlots ? a[t - 1]! : 0));
  return l;
}

/** Instances counted in each slot: alive plus booting. */
export function bootingCounts(a: readonly number[], bootSlots: number): number[] {
  const l = launchesOf(a, bootSlots);
  return a.map((n, t) => {
    let booting = 0;
    for (let j = Math.max(0, t - bootSlots + 1); j <= t; j++) booting += l[j]!;
    return n + booting;
  });
}

export function patternCost(a: readonly number[], perSlot: number, bootSlots: number): number {
  const alive = a.reduce((s, n) => s + n, 0);
  const launched = launchesOf(a, bootSlots).reduce((s, n) => s + n, 0);
  return perSlot * (alive + bootSlots * launched);
}

/**
 * The cheapest pattern with used(t) <= a(t) <= upper(t): keeping an instance alive through a gap costs
 * the gap, terminating and relaunching costs the boot. Exact dynamic program over counts.
 */
export function cheapestPattern(
  used: readonly number[],
  upper: readonly number[],
  bootSlots: number,
): number[] {
  const T = used.length;
  if (used.every((n) => n === 0)) return new Array<number>(T).fill(0);
  const top = Math.max(...upper.map((u, t) => Math.max(u, used[t]!)));
  const INF = Number.POSITIVE_INFINITY;
  // cost[v] = min cost of slots < t with a(t-1) = v; unit = one slot of price.
  let cost = new Array<number>(top + 1).fill(INF);
  cost[0] = 0;
  const choice: number[][] = [];
  for (let t = 0; t < T; t++) {
    const lo = used[t]!;
    const hi = t < bootSlots ? 0 : Math.max(lo, upper[t]!);
    const next = new Array<number>(top + 1).fill(INF);
    const from = new Array<number>(top + 1).fill(0);
    for (let v = lo; v <= hi; v++) {
      for (let w = 0; w <= top; w++) {
        if (cost[w] === INF) continue;
        const c = cost[w]! + v + bootSlots * Math.max(0, v - w);
        if (c < next[v]!) {
          next[v] = c;
          from[v] = w;
        }
      }
    }
    choice.push(from);
    cost = next;
  }
  let v = cost.indexOf(Math.min(...cost));
  const a = new Array<number>(T).fill(0);
  for (let t = T - 1; t >= 0; t--) {
    a[t] = v;
    v = choice[t]![v]!;
  }
  return a;
}
