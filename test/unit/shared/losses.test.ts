/**
 * The losses of shared/losses.ts against tfjs's own (summed over samples, each sample's
 * loss the mean over its output elements), the metric sums, and replicas on every task:
 * a regression's gradient summed over slices equals the one-slice gradient, and a classifier
 * of 300 classes (16-bit class ids) learns.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { BatchPlan } from '../../../shared/batchPlan.ts';
import type { Dataset } from '../../../shared/datasets.ts';
import { jobSpecSchema, type JobSpecInput } from '../../../shared/jobSpec.ts';
import { TAIL, evalCounts, lossConfig, lossSum, metricSums, taskMetrics, type LossName } from '../../../shared/losses.ts';
import { createOptimizer } from '../../../shared/optimizer.ts';
import { Replica } from '../../../shared/replica.ts';

await tf.setBackend('cpu');
const SUM = tf.Reduction.SUM;
const value = (t: tf.Tensor) => t.dataSync()[0]!;
const cfg = (name: LossName, o: { fromLogits?: boolean; huberDelta?: number } = {}) => lossConfig({ loss: name, ...o });

describe('losses equal tfjs\'s own, summed over samples', () => {
  const pred = tf.tensor([[0.5, -1.2, 3], [2, 0.1, -0.4]]);
  const y = tf.tensor([[1, -1, 2.5], [0, 0, 0]]);
  it('meanSquaredError, meanAbsoluteError, huber (per sample: mean over the 3 outputs)', () => {
    expect(value(lossSum(tf, cfg('meanSquaredError'), pred, y))).toBeCloseTo(value(tf.losses.meanSquaredError(y, pred, undefined, SUM)) / 3, 5);
    expect(value(lossSum(tf, cfg('meanAbsoluteError'), pred, y))).toBeCloseTo(value(tf.losses.absoluteDifference(y, pred, undefined, SUM)) / 3, 5);
    expect(value(lossSum(tf, cfg('huber', { huberDelta: 0.7 }), pred, y))).toBeCloseTo(value(tf.losses.huberLoss(y, pred, undefined, 0.7, SUM)) / 3, 5);
  });
  it('cross-entropies on logits and on probabilities', () => {
    const onehot = tf.tensor([[0, 0, 1], [1, 0, 0]]);
    const ref = value(tf.losses.softmaxCrossEntropy(onehot, pred, undefined, 0, SUM));
    expect(value(lossSum(tf, cfg('sparseCategoricalCrossentropy', { fromLogits: true }), pred, onehot))).toBeCloseTo(ref, 5);
    expect(value(lossSum(tf, cfg('sparseCategoricalCrossentropy'), tf.softmax(pred), onehot))).toBeCloseTo(ref, 5);
    expect(value(lossSum(tf, cfg('categoricalCrossentropy'), tf.softmax(pred), onehot))).toBeCloseTo(ref, 5);
    const z = tf.tensor([[1.5], [-0.3], [4]]);
    const b = tf.tensor([[1], [0], [0]]);
    const bref = value(tf.losses.sigmoidCrossEntropy(b, z, undefined, 0, SUM));
    expect(value(lossSum(tf, cfg('binaryCrossentropy', { fromLogits: true }), z, b))).toBeCloseTo(bref, 5);
    expect(value(lossSum(tf, cfg('binaryCrossentropy'), tf.sigmoid(z), b))).toBeCloseTo(bref, 4);
  });
  it('metric sums follow the task', () => {
    expect([...metricSums(tf, cfg('meanSquaredError'), pred, y).dataSync()].map((v) => +v.toFixed(4))).toEqual([0, +((0.5 + 0.2 + 0.5 + 2 + 0.1 + 0.4) / 3).toFixed(4), +((0.25 + 0.04 + 0.25 + 4 + 0.01 + 0.16) / 3).toFixed(4)]);
    expect([...metricSums(tf, cfg('sparseCategoricalCrossentropy'), pred, tf.tensor([[0, 0, 1], [0, 1, 0]])).dataSync()]).toEqual([1, 0, 0]);
    expect([...metricSums(tf, cfg('binaryCrossentropy', { fromLogits: true }), tf.tensor([[1.5], [-0.3], [4]]), tf.tensor([[1], [0], [0]])).dataSync()]).toEqual([2, 0, 0]);
    expect(taskMetrics('regression', { correct: 0, absErr: 6, sqErr: 16, count: 4 })).toEqual({ accuracy: null, mae: 1.5, rmse: 2 });
    expect(taskMetrics('classification', { correct: 3, absErr: 0, sqErr: 0, count: 4 })).toEqual({ accuracy: 0.75, mae: null, rmse: null });
    expect(evalCounts('regression', { correct: 0, absErr: 1, sqErr: 2, count: 3 })).toEqual({ correct: 0, count: 3, absErr: 1, sqErr: 2 });
    expect(evalCounts('classification', { correct: 2, absErr: 0, sqErr: 0, count: 3 })).toEqual({ correct: 2, count: 3 });
  });
});

function topology(layers: tf.layers.Layer[]): JobSpecInput['model'] {
  const m = tf.sequential({ layers });
  const json = m.toJSON(undefined, false) as unknown as JobSpecInput['model'];
  m.dispose();
  return json;
}
const specOf = (o: Partial<JobSpecInput> & Pick<JobSpecInput, 'model'>) =>
  jobSpecSchema.parse({ optimizer: { name: 'adam', learningRate: 0.05 }, dataset: { id: 'ds_0123456789abcdef01234567' }, batchSize: 24, steps: 10, seed: 3, ...o });

/** y = A·x + b (2 targets from 3 features), no noise */
function linearDataset(n: number): Dataset {
  const x = new Float32Array(n * 3);
  const targets = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    for (let f = 0; f < 3; f++) x[i * 3 + f] = Math.fround(Math.sin(i * 1.3 + f * 2.1));
    targets[i * 2] = Math.fround(2 * x[i * 3]! - x[i * 3 + 1]! + 0.5);
    targets[i * 2 + 1] = Math.fround(x[i * 3 + 2]! * 3 - 1);
  }
  return { id: 'lin', size: n, featureShape: [3], numClasses: 0, x, y: new Uint8Array(0), task: 'regression', targetShape: [2], targets };
}

describe('replicas on every task', () => {
  it('regression (MSE, MAE, huber): three slices summed equal one slice; training lowers the loss', async () => {
    const ds = linearDataset(96);
    for (const loss of ['meanSquaredError', 'meanAbsoluteError', 'huber'] as const) {
      const spec = specOf({ model: topology([tf.layers.dense({ inputShape: [3], units: 8, activation: 'tanh' }), tf.layers.dense({ units: 2 })]), loss });
      const r = await Replica.create(tf, spec);
      const plan = new BatchPlan(ds.size, spec.batchSize, spec.seed);
      const opt = createOptimizer(spec.optimizer, r.size);
      const losses: number[] = [];
      for (let s = 0; s < 40; s++) {
        const one = await r.gradient(ds, plan.indices(s, 0, 24), { step: s, start: 0 });
        const parts = await Promise.all([[0, 5], [5, 11], [16, 8]].map(([a, n]) => r.gradient(ds, plan.indices(s, a!, n!), { step: s, start: a! })));
        const sum = new Float32Array(one.length);
        for (const p of parts) for (let i = 0; i < sum.length; i++) sum[i] = sum[i]! + p[i]!;
        for (let i = 0; i < sum.length; i++) expect(Math.abs(sum[i]! - one[i]!)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(one[i]!)));
        expect(one[r.tailOffset + TAIL.count]).toBe(24);
        expect(one[r.tailOffset + TAIL.correct]).toBe(0);
        losses.push(one[r.tailOffset + TAIL.loss]! / 24);
        r.applyUpdate(one, opt);
      }
      expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.5);
      const ev = await r.evaluate(ds, 0, ds.size);
      expect(ev.count).toBe(96);
      expect(ev.absErr / ev.count).toBeGreaterThan(0);
      r.dispose();
    }
  }, 60_000);

  it('300 classes (16-bit class ids), sparse cross-entropy from logits: learns, and counts right answers', async () => {
    const C = 300;
    const n = 600;
    const x = new Float32Array(n * 8);
    const y = new Uint16Array(n);
    for (let i = 0; i < n; i++) {
      y[i] = (i * 7) % C;
      for (let f = 0; f < 8; f++) x[i * 8 + f] = Math.fround(Math.cos(y[i]! * (f + 1) * 0.37));
    }
    const ds: Dataset = { id: 'many', size: n, featureShape: [8], numClasses: C, x, y, task: 'classification' };
    expect(ds.y).toBeInstanceOf(Uint16Array);
    const spec = specOf({ model: topology([tf.layers.dense({ inputShape: [8], units: C })]), loss: 'sparseCategoricalCrossentropy', fromLogits: true, batchSize: 60 });
    const r = await Replica.create(tf, spec);
    const plan = new BatchPlan(ds.size, spec.batchSize, spec.seed);
    const opt = createOptimizer(spec.optimizer, r.size);
    const losses: number[] = [];
    for (let s = 0; s < 60; s++) {
      const g = await r.gradient(ds, plan.indices(s, 0, 60), { step: s, start: 0 });
      losses.push(g[r.tailOffset + TAIL.loss]! / 60);
      r.applyUpdate(g, opt);
    }
    expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.7);
    const ev = await r.evaluate(ds, 0, n);
    expect(ev.correct).toBeGreaterThan(n / C);
    expect(ev.correct).toBeLessThanOrEqual(n);
    r.dispose();
  }, 60_000);

  it('binary cross-entropy on probabilities and on logits: learns a separable 0/1 labelling', async () => {
    const n = 200;
    const x = new Float32Array(n * 2);
    const y = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      x[i * 2] = Math.fround(Math.sin(i * 0.7));
      x[i * 2 + 1] = Math.fround(Math.cos(i * 1.1));
      y[i] = x[i * 2]! + x[i * 2 + 1]! > 0 ? 1 : 0;
    }
    const ds: Dataset = { id: 'bin', size: n, featureShape: [2], numClasses: 2, x, y, task: 'classification' };
    for (const fromLogits of [false, true]) {
      const spec = specOf({ model: topology([tf.layers.dense({ inputShape: [2], units: 1, activation: fromLogits ? 'linear' : 'sigmoid' })]), loss: 'binaryCrossentropy', fromLogits, batchSize: 50 });
      const r = await Replica.create(tf, spec);
      const plan = new BatchPlan(ds.size, spec.batchSize, spec.seed);
      const opt = createOptimizer(spec.optimizer, r.size);
      const losses: number[] = [];
      for (let s = 0; s < 40; s++) {
        const g = await r.gradient(ds, plan.indices(s, 0, 50), { step: s, start: 0 });
        losses.push(g[r.tailOffset + TAIL.loss]! / 50);
        r.applyUpdate(g, opt);
      }
      expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.6);
      expect((await r.evaluate(ds, 0, n)).correct).toBeGreaterThan(0.9 * n);
      r.dispose();
    }
  }, 60_000);
});

describe('standardisation from the upload statistics', () => {
  it('(x − mean) / std per feature in float32; a constant feature is only centred', async () => {
    const { standardizeFeatures } = await import('../../../shared/datasetShards.ts');
    const x = Float32Array.from([10, 5, 12, 5, 14, 5]);
    standardizeFeatures(x, { mean: [12, 5], std: [Math.sqrt(8 / 3), 0] });
    const s = Math.fround(Math.sqrt(8 / 3));
    expect([...x]).toEqual([Math.fround(-2 / s), 0, 0, 0, Math.fround(2 / s), 0]);
    expect(() => standardizeFeatures(new Float32Array(5), { mean: [0, 0], std: [1, 1] })).toThrow(/DATASET_INVALID/);
  });
});
