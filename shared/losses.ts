/**
 * A job's loss and the metrics that follow its task, as pure functions of tfjs ops (the tf
 * namespace is passed in, so the worker tab and the single-process reference run the same
 * code), plus the layout of the bookkeeping slots at the end of the all-reduced vector.
 *
 * Every loss is a SUM over the slice's samples of a per-sample loss (the mean over a
 * sample's output elements, as Keras does), so slices sum to the global batch's loss exactly
 * as gradients do; the replicas divide by the sample count at commit.
 *
 *   loss                          task            labels            model output
 *   categoricalCrossentropy       classification  class ids         [numClasses], softmax
 *   sparseCategoricalCrossentropy classification  class ids         [numClasses], softmax (fromLogits: linear)
 *   binaryCrossentropy            binary          ids in {0, 1}     [1], sigmoid (fromLogits: linear)
 *   meanSquaredError              regression      float targets     the target shape
 *   meanAbsoluteError             regression      float targets     the target shape
 *   huber                         regression      float targets     the target shape (huberDelta, default 1)
 *
 * Labels are class ids for both cross-entropies (a dataset stores ids, never one-hot rows).
 */
import type * as tfjs from '@tensorflow/tfjs';
import { TabswarmError } from './errors.ts';

type Tf = typeof tfjs;

export const LOSSES = [
  'categoricalCrossentropy',
  'sparseCategoricalCrossentropy',
  'binaryCrossentropy',
  'meanSquaredError',
  'meanAbsoluteError',
  'huber',
] as const;
export type LossName = (typeof LOSSES)[number];
export type LossTask = 'classification' | 'binary' | 'regression';

export interface LossConfig {
  name: LossName;
  task: LossTask;
  /** the model's output is logits, not probabilities (the cross-entropies only) */
  fromLogits: boolean;
  /** huber's δ: quadratic below, linear above */
  delta: number;
}

export function lossTask(name: LossName): LossTask {
  if (name === 'binaryCrossentropy') return 'binary';
  if (name === 'meanSquaredError' || name === 'meanAbsoluteError' || name === 'huber') return 'regression';
  return 'classification';
}

/** The loss a job spec names (fields of shared/jobSpec.ts). */
export function lossConfig(spec: { loss: LossName; fromLogits?: boolean | undefined; huberDelta?: number | undefined }): LossConfig {
  return { name: spec.loss, task: lossTask(spec.loss), fromLogits: spec.fromLogits ?? false, delta: spec.huberDelta ?? 1 };
}

/**
 * The all-reduced vector ends in these float32 slots, after the gradient and the batch-norm
 * sums: [∑loss | correct | ∑absErr | ∑sqErr | count]. `correct` counts right answers
 * (classification, 0 for regression); ∑absErr and ∑sqErr sum each sample's mean absolute and
 * squared error over its target elements (regression, 0 for classification), so MAE = ∑absErr
 * / count and RMSE = √(∑sqErr / count). Every rank holds the same reduced bits of all five.
 */
export const TAIL = { loss: 0, correct: 1, absErr: 2, sqErr: 3, count: 4 } as const;
export const TAIL_SLOTS = 5;

/** −log(1e-7): the largest per-sample loss a clipped cross-entropy on probabilities gives; Infinity when unbounded */
export function maxSampleLoss(cfg: LossConfig): number {
  return cfg.task !== 'regression' && !cfg.fromLogits ? 16.2 : Infinity;
}

/** A slice's labels, as the loss wants them. */
export type BatchTargets =
  | { kind: 'onehot'; values: Float32Array; numClasses: number }
  | { kind: 'binary'; values: Float32Array }
  | { kind: 'values'; values: Float32Array; shape: number[] };

/** What `batchTargets` reads of a dataset (shared/datasets.ts Dataset). */
export interface LabelSource {
  numClasses: number;
  y: ArrayLike<number>;
  targets?: Float32Array | undefined;
  targetShape?: number[] | undefined;
}

/** The labels of samples `indices` of `ds`, for loss `cfg`. */
export function batchTargets(cfg: LossConfig, ds: LabelSource, indices: ArrayLike<number>): BatchTargets {
  const n = indices.length;
  if (cfg.task === 'regression') {
    if (!ds.targets || !ds.targetShape) throw new TabswarmError('DATASET_INVALID', `loss ${cfg.name} needs regression targets; the dataset holds class labels`);
    const T = ds.targetShape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(n * T);
    for (let i = 0; i < n; i++) {
      const k = indices[i]!;
      values.set(ds.targets.subarray(k * T, (k + 1) * T), i * T);
    }
    return { kind: 'values', values, shape: ds.targetShape };
  }
  if (ds.targets) throw new TabswarmError('DATASET_INVALID', `loss ${cfg.name} needs class labels; the dataset holds regression targets`);
  if (cfg.task === 'binary') {
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const c = ds.y[indices[i]!]!;
      if (c !== 0 && c !== 1) throw new TabswarmError('DATASET_INVALID', `binaryCrossentropy needs labels 0 or 1, sample ${indices[i]} has ${c}`);
      values[i] = c;
    }
    return { kind: 'binary', values };
  }
  const C = ds.numClasses;
  const values = new Float32Array(n * C);
  for (let i = 0; i < n; i++) values[i * C + ds.y[indices[i]!]!] = 1;
  return { kind: 'onehot', values, numClasses: C };
}

/** The labels as a tensor shaped like the model's output for `n` samples. */
export function targetTensor(tf: Tf, t: BatchTargets, n: number): tfjs.Tensor {
  if (t.kind === 'onehot') return tf.tensor(t.values, [n, t.numClasses]);
  if (t.kind === 'binary') return tf.tensor(t.values, [n, 1]);
  return tf.tensor(t.values, [n, ...t.shape]);
}

const prodRest = (shape: readonly number[]) => shape.slice(1).reduce((a, b) => a * b, 1);

/** ∑ over samples of the per-sample loss (a scalar; differentiable in `pred`). */
export function lossSum(tf: Tf, cfg: LossConfig, pred: tfjs.Tensor, y: tfjs.Tensor): tfjs.Scalar {
  switch (cfg.name) {
    case 'categoricalCrossentropy':
    case 'sparseCategoricalCrossentropy':
      // one-hot rows × log-probabilities; from probabilities clipped as Keras does
      if (cfg.fromLogits) return tf.neg(tf.sum(tf.mul(y, tf.logSoftmax(pred)))) as tfjs.Scalar;
      return tf.neg(tf.sum(tf.mul(y, tf.log(tf.clipByValue(pred, 1e-7, 1))))) as tfjs.Scalar;
    case 'binaryCrossentropy': {
      if (cfg.fromLogits) {
        // max(z, 0) − z·y + log(1 + e^−|z|): stable for any z
        return tf.sum(tf.add(tf.sub(tf.relu(pred), tf.mul(pred, y)), tf.log(tf.add(1, tf.exp(tf.neg(tf.abs(pred))))))) as tfjs.Scalar;
      }
      const p = tf.clipByValue(pred, 1e-7, 1 - 1e-7);
      return tf.neg(tf.sum(tf.add(tf.mul(y, tf.log(p)), tf.mul(tf.sub(1, y), tf.log(tf.sub(1, p)))))) as tfjs.Scalar;
    }
    case 'meanSquaredError':
    case 'meanAbsoluteError':
    case 'huber': {
      const e = tf.sub(pred, y);
      const T = prodRest(pred.shape);
      let f: tfjs.Tensor;
      if (cfg.name === 'meanSquaredError') f = tf.square(e);
      else if (cfg.name === 'meanAbsoluteError') f = tf.abs(e);
      else {
        // ½q² + δ(|e| − q), q = min(|e|, δ): ½e² below δ, δ(|e| − ½δ) above
        const a = tf.abs(e);
        const q = tf.minimum(a, cfg.delta);
        f = tf.add(tf.mul(0.5, tf.square(q)), tf.mul(cfg.delta, tf.sub(a, q)));
      }
      return tf.div(tf.sum(f), T) as tfjs.Scalar;
    }
  }
}

/** [correct, ∑absErr, ∑sqErr] of `pred` against `y` (see TAIL); not differentiated. */
export function metricSums(tf: Tf, cfg: LossConfig, pred: tfjs.Tensor, y: tfjs.Tensor): tfjs.Tensor1D {
  return tf.tidy(() => {
    const zero = tf.scalar(0);
    if (cfg.task === 'classification') {
      const correct = tf.sum(tf.cast(tf.equal(tf.argMax(pred, 1), tf.argMax(y, 1)), 'float32'));
      return tf.stack([correct, zero, zero]) as tfjs.Tensor1D;
    }
    if (cfg.task === 'binary') {
      const yes = tf.greater(pred, cfg.fromLogits ? 0 : 0.5);
      const correct = tf.sum(tf.cast(tf.equal(tf.cast(yes, 'float32'), y), 'float32'));
      return tf.stack([correct, zero, zero]) as tfjs.Tensor1D;
    }
    const e = tf.sub(pred, y);
    const T = prodRest(pred.shape);
    return tf.stack([zero, tf.div(tf.sum(tf.abs(e)), T), tf.div(tf.sum(tf.square(e)), T)]) as tfjs.Tensor1D;
  });
}

/** The test-set metrics a task reports, from summed slots (an evaluation's or a step's). */
export interface TaskMetrics {
  accuracy: number | null;
  mae: number | null;
  rmse: number | null;
}

export function taskMetrics(task: LossTask, s: { correct: number; absErr: number; sqErr: number; count: number }): TaskMetrics {
  if (!(s.count > 0)) return { accuracy: null, mae: null, rmse: null };
  if (task === 'regression') return { accuracy: null, mae: s.absErr / s.count, rmse: Math.sqrt(s.sqErr / s.count) };
  return { accuracy: s.correct / s.count, mae: null, rmse: null };
}

/** An evaluation part as it goes on the wire: error sums only for a regression (their presence marks one). */
export function evalCounts(task: LossTask, r: { correct: number; absErr: number; sqErr: number; count: number }): { correct: number; count: number; absErr?: number; sqErr?: number } {
  return task === 'regression' ? { correct: 0, count: r.count, absErr: r.absErr, sqErr: r.sqErr } : { correct: r.correct, count: r.count };
}
