/**
 * Seeded initial weights. tfjs's own initializers draw from an unseeded global RNG, so
 * every replica (and the single-process reference) instead starts from this function:
 * Glorot-uniform kernels, zero biases, from a PRNG seeded by (job seed, variable index).
 */
import { mixSeed, mulberry32 } from './random.ts';

export interface VariableInfo {
  name: string;
  shape: number[];
}

export function variableSize(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function initialParameters(vars: VariableInfo[], seed: number): Float32Array {
  const total = vars.reduce((a, v) => a + variableSize(v.shape), 0);
  const out = new Float32Array(total);
  let off = 0;
  vars.forEach((v, idx) => {
    const n = variableSize(v.shape);
    const isBias = v.shape.length < 2 || /bias|beta|moving_mean/i.test(v.name);
    const isScale = /gamma|moving_variance/i.test(v.name);
    if (isScale) out.fill(1, off, off + n);
    else if (!isBias) {
      const receptive = v.shape.slice(0, -2).reduce((a, b) => a * b, 1);
      const fanIn = v.shape[v.shape.length - 2]! * receptive;
      const fanOut = v.shape[v.shape.length - 1]! * receptive;
      const limit = Math.sqrt(6 / (fanIn + fanOut));
      const rnd = mulberry32(mixSeed(seed, idx + 1));
      for (let i = 0; i < n; i++) out[off + i] = (rnd() * 2 - 1) * limit;
    }
    off += n;
  });
  return out;
}

/**
 * Seeded initial values of the non-trainable weights (batch-norm moving mean 0 and variance 1,
 * a frozen layer's kernels Glorot, its biases 0), from a stream apart from the trainable ones.
 * Every replica, the reference and the model export start from these.
 */
export function initialBuffers(vars: VariableInfo[], seed: number): Float32Array {
  return initialParameters(vars, mixSeed(seed, 0x4e4f4e54)); // 'NONT'
}
