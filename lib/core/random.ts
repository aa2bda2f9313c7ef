/**
 * mulberry32: a small, fast, seeded PRNG returning numbers in [0, 1). Workloads, traces and test models
 * are built from seeds with it, so that every run of a benchmark or a test sees the same inputs.
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
