import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOptimizer, type Optimizer, type OptimizerConfig } from '../../shared/optimizer.ts';
import { mulberry32 } from '../../shared/random.ts';

/** Two variables (a kernel and a bias) laid out one after the other in the flat vector. */
const SHAPES: [number, number][] = [
  [37, 23],
  [1, 23],
];
const SIZES = SHAPES.map(([a, b]) => a * b);
const TOTAL = SIZES.reduce((a, b) => a + b, 0);
const STEPS = 20;

function randomVector(rnd: () => number, n: number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, () => (rnd() - 0.5) * 2 * scale);
}

/** Indices and values of the elements where a and b differ in their bits (NaN-safe). */
function bitDiffs(a: Float32Array, b: Float32Array): number[] {
  expect(a.length).toBe(b.length);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  const out: number[] = [];
  for (let i = 0; i < a.length; i++) if (ua[i] !== ub[i]) out.push(i);
  return out;
}

function tfOptimizer(cfg: OptimizerConfig): tf.Optimizer {
  switch (cfg.name) {
    case 'sgd':
      return tf.train.sgd(cfg.learningRate);
    case 'momentum':
      return tf.train.momentum(cfg.learningRate, cfg.momentum);
    case 'adam':
      return tf.train.adam(cfg.learningRate, cfg.beta1, cfg.beta2, cfg.epsilon);
  }
}

let varCounter = 0;

/**
 * Trains the same parameters with ours and with tfjs's optimizer on the same gradients.
 * `lrAt(s)` (when given) changes the learning rate before step s on both sides.
 */
function trainBoth(cfg: OptimizerConfig, seed: number, gradScale: number, lrAt?: (s: number) => number | undefined) {
  const rnd = mulberry32(seed);
  const params = randomVector(rnd, TOTAL, 1);
  const vars: tf.Variable[] = [];
  let off = 0;
  SHAPES.forEach((shape, k) => {
    vars.push(tf.variable(tf.tensor2d(params.slice(off, off + SIZES[k]!), shape), true, `opt_test_${varCounter++}`));
    off += SIZES[k]!;
  });
  const ours = createOptimizer(cfg, TOTAL);
  const theirs = tfOptimizer(cfg);
  for (let s = 0; s < STEPS; s++) {
    const lr = lrAt?.(s);
    if (lr !== undefined) {
      ours.setLearningRate(lr);
      if (cfg.name !== 'adam') (theirs as tf.SGDOptimizer).setLearningRate(lr); // momentum extends SGD
      else (theirs as unknown as { learningRate: number }).learningRate = lr;
    }
    const g = randomVector(rnd, TOTAL, gradScale);
    ours.apply(params, g);
    const grads: Record<string, tf.Tensor> = {};
    let o = 0;
    SHAPES.forEach((shape, k) => {
      grads[vars[k]!.name] = tf.tensor2d(g.slice(o, o + SIZES[k]!), shape);
      o += SIZES[k]!;
    });
    theirs.applyGradients(grads);
    tf.dispose(Object.values(grads));
  }
  const ref = new Float32Array(TOTAL);
  let o = 0;
  for (const v of vars) {
    ref.set(v.dataSync() as Float32Array, o);
    o += v.size;
  }
  tf.dispose(vars);
  theirs.dispose();
  return { ours: params, ref, optimizer: ours };
}

const CONFIGS: OptimizerConfig[] = [
  { name: 'sgd', learningRate: 0.1 },
  { name: 'sgd', learningRate: 0.0123 },
  { name: 'momentum', learningRate: 0.05, momentum: 0.9 },
  { name: 'momentum', learningRate: 0.3, momentum: 0.37 },
  { name: 'adam', learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
  { name: 'adam', learningRate: 0.003, beta1: 0.8, beta2: 0.99, epsilon: 1e-7 },
  { name: 'adam', learningRate: 0.1, beta1: 0.5, beta2: 0.9, epsilon: 1e-3 },
];

beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});
afterAll(() => {
  tf.disposeVariables();
});

describe('optimizers match tfjs (cpu backend) bit for bit', () => {
  // Measured: with tfjs's own rounding of every constant (1 - beta in float64, then float32),
  // the largest difference over 20 steps is exactly 0 for all three, at every gradient scale.
  for (const cfg of CONFIGS) {
    for (const gradScale of [1, 1e-4, 100]) {
      it(`${JSON.stringify(cfg)}, gradients of scale ${gradScale}: ${STEPS} steps equal tf.train.${cfg.name}`, () => {
        const { ours, ref, optimizer } = trainBoth(cfg, 1000 + CONFIGS.indexOf(cfg), gradScale);
        expect(bitDiffs(ours, ref)).toEqual([]);
        expect(optimizer.state().iterations).toBe(STEPS);
        expect(ours.every(Number.isFinite)).toBe(true);
      });
    }
  }

  it('parameters actually move (the comparison is not between two no-ops)', () => {
    for (const cfg of CONFIGS) {
      const rnd = mulberry32(5);
      const p = randomVector(rnd, TOTAL, 1);
      const before = Float32Array.from(p);
      createOptimizer(cfg, TOTAL).apply(p, randomVector(rnd, TOTAL, 1));
      expect(bitDiffs(p, before).length).toBeGreaterThan(TOTAL * 0.9);
    }
  });

  for (const cfg of CONFIGS.filter((c, i) => CONFIGS.findIndex((d) => d.name === c.name) === i)) {
    it(`${cfg.name}: setLearningRate mid-run matches tfjs changing its learning rate at the same step`, () => {
      const lrAt = (s: number) => (s === 7 ? cfg.learningRate * 0.25 : s === 13 ? cfg.learningRate * 3 : undefined);
      const { ours, ref, optimizer } = trainBoth(cfg, 77, 1, lrAt);
      expect(bitDiffs(ours, ref)).toEqual([]);
      expect(optimizer.config.learningRate).toBe(cfg.learningRate * 3);
    });
  }
});

describe('setLearningRate', () => {
  for (const cfg of CONFIGS) {
    it(`${JSON.stringify(cfg)}: the next step uses the new rate, and only the rate changes`, () => {
      const rnd = mulberry32(11);
      const p0 = randomVector(rnd, TOTAL, 1);
      const warm = Array.from({ length: 3 }, () => randomVector(rnd, TOTAL, 1));
      const g = randomVector(rnd, TOTAL, 1);
      const newLr = cfg.learningRate / 8;

      // a: runs at the old rate, then switches
      const a = createOptimizer(cfg, TOTAL);
      const pa = Float32Array.from(p0);
      for (const w of warm) a.apply(pa, w);
      // b: same history, then restored into an optimizer configured with the new rate
      const stateAfterWarm = a.state();
      const b = createOptimizer({ ...cfg, learningRate: newLr }, TOTAL, stateAfterWarm);
      const pb = Float32Array.from(pa);
      // c: keeps the old rate
      const c = createOptimizer(cfg, TOTAL, stateAfterWarm);
      const pc = Float32Array.from(pa);

      a.setLearningRate(newLr);
      expect(a.config).toEqual({ ...cfg, learningRate: newLr });
      a.apply(pa, g);
      b.apply(pb, g);
      c.apply(pc, g);
      expect(bitDiffs(pa, pb)).toEqual([]);
      expect(bitDiffs(pa, pc).length).toBeGreaterThan(TOTAL * 0.9);
    });
  }

  it('sgd: a step at the new rate is exactly p - fround(lr * g)', () => {
    const o = createOptimizer({ name: 'sgd', learningRate: 1 }, 3);
    o.setLearningRate(0.5);
    const p = Float32Array.of(1, 2, 3);
    o.apply(p, Float32Array.of(2, -4, 0.5));
    expect(Array.from(p)).toEqual([0, 4, 2.75]);
  });
});

describe('state() round trip', () => {
  function continuesIdentically(cfg: OptimizerConfig) {
    const rnd = mulberry32(2024);
    const p0 = randomVector(rnd, TOTAL, 1);
    const grads = Array.from({ length: STEPS }, () => randomVector(rnd, TOTAL, 1));
    const half = STEPS / 2;

    const straight = createOptimizer(cfg, TOTAL);
    const p = Float32Array.from(p0);
    for (const g of grads) straight.apply(p, g);

    const first = createOptimizer(cfg, TOTAL);
    const q = Float32Array.from(p0);
    for (const g of grads.slice(0, half)) first.apply(q, g);
    // a checkpoint: structured-cloned, as if it went through storage or a data channel
    const saved = structuredClone(first.state());
    expect(saved.name).toBe(cfg.name);
    expect(saved.iterations).toBe(half);
    const resumed = createOptimizer(cfg, TOTAL, saved);
    // the restored optimizer owns its state: scribbling on the checkpoint changes nothing
    saved.m?.fill(123);
    saved.v?.fill(456);
    const r = Float32Array.from(q);
    for (const g of grads.slice(half)) resumed.apply(r, g);

    // and one restarted from scratch at the midpoint (state lost), to show the state matters
    const fresh = createOptimizer(cfg, TOTAL);
    const f = Float32Array.from(q);
    for (const g of grads.slice(half)) fresh.apply(f, g);

    return { p, r, f, straight, resumed };
  }

  for (const cfg of CONFIGS) {
    it(`${JSON.stringify(cfg)}: resuming from state() continues bit-exactly`, () => {
      const { p, r, f, straight, resumed } = continuesIdentically(cfg);
      expect(bitDiffs(r, p)).toEqual([]);
      const s1 = straight.state();
      const s2 = resumed.state();
      expect(s2.iterations).toBe(STEPS);
      expect(s2).toEqual(s1);
      if (cfg.name === 'sgd') {
        expect(s1.m).toBeUndefined();
        expect(bitDiffs(f, p)).toEqual([]); // sgd has no state besides the iteration count
      } else {
        expect(s1.m).toBeInstanceOf(Float32Array);
        expect(bitDiffs(f, p).length).toBeGreaterThan(TOTAL / 2);
      }
      if (cfg.name === 'adam') {
        expect(s1.v).toBeInstanceOf(Float32Array);
      }
    });
  }

  for (const cfg of CONFIGS.filter((c) => c.name !== 'sgd')) {
    it(`${JSON.stringify(cfg)}: state() is a snapshot, mutating it does not touch the live optimizer`, () => {
      const o: Optimizer = createOptimizer(cfg, 4);
      const p = Float32Array.of(1, 2, 3, 4);
      o.apply(p, Float32Array.of(1, -1, 0.5, 2));
      const s = o.state();
      const before = structuredClone(s);
      s.m!.fill(9);
      s.v?.fill(9);
      expect(o.state()).toEqual(before);
      // and the next step is the one it would have taken anyway
      const twin = createOptimizer(cfg, 4, before);
      const q = Float32Array.from(p);
      o.apply(p, Float32Array.of(0.1, 0.2, 0.3, 0.4));
      twin.apply(q, Float32Array.of(0.1, 0.2, 0.3, 0.4));
      expect(bitDiffs(p, q)).toEqual([]);
    });
  }

  it('adam: accBeta1/accBeta2 are beta^(t+1) accumulated in float32', () => {
    const cfg: OptimizerConfig = { name: 'adam', learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };
    const o = createOptimizer(cfg, 2);
    let a1 = Math.fround(0.9);
    let a2 = Math.fround(0.999);
    expect(o.state().accBeta1).toBe(a1);
    for (let t = 0; t < 5; t++) {
      o.apply(Float32Array.of(0, 0), Float32Array.of(1, -1));
      a1 = Math.fround(a1 * Math.fround(0.9));
      a2 = Math.fround(a2 * Math.fround(0.999));
    }
    expect(o.state().accBeta1).toBe(a1);
    expect(o.state().accBeta2).toBe(a2);
  });
});
