/**
 * A seeded generator (mulberry32) so that a model built twice from the same spec has the same weights,
 * which lets a test rebuild the reference weights instead of shipping them.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Glorot-uniform weights: keeps activations near unit scale through deep stacks, so outputs stay O(1). */
export function glorotUniform(
  random: () => number,
  fanIn: number,
  fanOut: number,
  count: number,
): Float32Array {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = (random() * 2 - 1) * limit;
  return out;
}

/** Uniform values in [-1, 1): test inputs. */
export function uniformInput(random: () => number, count: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = random() * 2 - 1;
  return out;
}
