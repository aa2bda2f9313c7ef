import { mulberry32 } from '../core/random.ts';

/**
 * A seeded generator (mulberry32) so that a model built twice from the same spec has the same weights,
 * which lets a test rebuild the reference weights instead of shipping them.
 */
export const seededRandom: (seed: number) => () => number = mulberry32;

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
