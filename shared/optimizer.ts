/**
 * Optimizers on flat Float32Arrays, following tfjs's own update rules (SGD, momentum,
 * Adam) so a swarm trains what `model.fit` with the same optimizer would. They run in
 * plain TypeScript on every replica, so the update is bit-identical whatever the tfjs backend.
 */
export type OptimizerConfig =
  | { name: 'sgd'; learningRate: number }
  | { name: 'momentum'; learningRate: number; momentum: number }
  | { name: 'adam'; learningRate: number; beta1: number; beta2: number; epsilon: number };

export interface OptimizerState {
  name: OptimizerConfig['name'];
  iterations: number;
  /** momentum accumulator or Adam's first moment */
  m?: Float32Array;
  /** Adam's second moment */
  v?: Float32Array;
  accBeta1?: number;
  accBeta2?: number;
}

export interface Optimizer {
  readonly config: OptimizerConfig;
  /** params -= update(grad); grad is already averaged over the global batch. */
  apply(params: Float32Array, grad: Float32Array): void;
  setLearningRate(lr: number): void;
  state(): OptimizerState;
}

export function createOptimizer(config: OptimizerConfig, size: number, restore?: OptimizerState): Optimizer {
  let cfg = { ...config };
  let iterations = restore?.iterations ?? 0;
  const fr = Math.fround;
  switch (cfg.name) {
    case 'sgd':
      return {
        get config() { return cfg; },
        apply(p, g) {
          const lr = fr(cfg.learningRate);
          for (let i = 0; i < p.length; i++) p[i] = p[i]! - fr(lr * g[i]!);
          iterations++;
        },
        setLearningRate(lr) { cfg = { ...cfg, learningRate: lr }; },
        state: () => ({ name: 'sgd', iterations }),
      };
    case 'momentum': {
      const m = restore?.m ? Float32Array.from(restore.m) : new Float32Array(size);
      return {
        get config() { return cfg; },
        apply(p, g) {
          const c = cfg as Extract<OptimizerConfig, { name: 'momentum' }>;
          const lr = fr(c.learningRate);
          const mu = fr(c.momentum);
          for (let i = 0; i < p.length; i++) {
            const acc = fr(fr(m[i]! * mu) + g[i]!);
            m[i] = acc;
            p[i] = p[i]! - fr(lr * acc);
          }
          iterations++;
        },
        setLearningRate(lr) { cfg = { ...cfg, learningRate: lr }; },
        state: () => ({ name: 'momentum', iterations, m: Float32Array.from(m) }),
      };
    }
    case 'adam': {
      const m = restore?.m ? Float32Array.from(restore.m) : new Float32Array(size);
      const v = restore?.v ? Float32Array.from(restore.v) : new Float32Array(size);
      const c0 = cfg;
      let accBeta1 = restore?.accBeta1 ?? fr(c0.beta1);
      let accBeta2 = restore?.accBeta2 ?? fr(c0.beta2);
      return {
        get config() { return cfg; },
        apply(p, g) {
          const c = cfg as Extract<OptimizerConfig, { name: 'adam' }>;
          const b1 = fr(c.beta1);
          const b2 = fr(c.beta2);
          // tfjs computes 1 - beta in float64 from the JS number, then rounds to float32
          const omb1 = fr(1 - c.beta1);
          const omb2 = fr(1 - c.beta2);
          const oneMinusAcc1 = fr(1 - accBeta1);
          const oneMinusAcc2 = fr(1 - accBeta2);
          const lr = fr(c.learningRate);
          const eps = fr(c.epsilon);
          for (let i = 0; i < p.length; i++) {
            const gi = g[i]!;
            const mi = fr(fr(m[i]! * b1) + fr(gi * omb1));
            const vi = fr(fr(v[i]! * b2) + fr(fr(gi * gi) * omb2));
            m[i] = mi;
            v[i] = vi;
            const mHat = fr(mi / oneMinusAcc1);
            const vHat = fr(vi / oneMinusAcc2);
            p[i] = fr(fr(fr(mHat / fr(fr(Math.sqrt(vHat)) + eps)) * -lr) + p[i]!);
          }
          accBeta1 = fr(accBeta1 * b1);
          accBeta2 = fr(accBeta2 * b2);
          iterations++;
        },
        setLearningRate(lr) { cfg = { ...cfg, learningRate: lr }; },
        state: () => ({ name: 'adam', iterations, m: Float32Array.from(m), v: Float32Array.from(v), accBeta1, accBeta2 }),
      };
    }
  }
}
