/**
 * One replica of a job's model: builds the tfjs model from the job's Layers JSON, keeps the
 * master copy of the parameters as one flat Float32Array (in a fixed variable order), and
 * computes the SUM of per-sample gradients over a slice. Isomorphic (browser and Node):
 * the worker tab and the single-process reference share this exact code.
 */
import type * as tfjs from '@tensorflow/tfjs';
import type { Dataset } from './datasets.ts';
import { initialParameters, variableSize, type VariableInfo } from './init.ts';
import type { JobSpec } from './jobSpec.ts';

type Tf = typeof tfjs;

/** Gradient vector layout: [∑grad (P values) | ∑loss | correct | count]. */
export const EXTRA_SLOTS = 3;

export class Replica {
  readonly vars: tfjs.Variable[];
  readonly varInfo: VariableInfo[];
  readonly size: number;
  params: Float32Array;

  private constructor(
    private readonly tf: Tf,
    readonly model: tfjs.LayersModel,
    seed: number,
  ) {
    this.vars = model.trainableWeights.map((w) => (w as unknown as { read(): tfjs.Variable }).read());
    this.varInfo = model.trainableWeights.map((w) => ({ name: w.name, shape: [...w.shape] as number[] }));
    this.size = this.varInfo.reduce((a, v) => a + variableSize(v.shape), 0);
    this.params = initialParameters(this.varInfo, seed);
    this.writeParams();
  }

  static async create(tf: Tf, spec: JobSpec): Promise<Replica> {
    const model = await tf.models.modelFromJSON(spec.model as unknown as Parameters<Tf['models']['modelFromJSON']>[0]);
    return new Replica(tf, model, spec.seed);
  }

  /** Copies the master parameters into the tfjs variables. */
  writeParams(): void {
    const { tf } = this;
    let off = 0;
    this.vars.forEach((v, i) => {
      const shape = this.varInfo[i]!.shape;
      const n = variableSize(shape);
      const t = tf.tensor(this.params.subarray(off, off + n), shape, 'float32');
      v.assign(t);
      t.dispose();
      off += n;
    });
  }

  setParams(p: Float32Array): void {
    if (p.length !== this.size) throw new RangeError(`expected ${this.size} parameters, got ${p.length}`);
    this.params = Float32Array.from(p);
    this.writeParams();
  }

  private batch(ds: Dataset, indices: ArrayLike<number>) {
    const feat = ds.featureShape.reduce((a, b) => a * b, 1);
    const xs = new Float32Array(indices.length * feat);
    const ys = new Float32Array(indices.length * ds.numClasses);
    for (let i = 0; i < indices.length; i++) {
      const k = indices[i]!;
      xs.set(ds.x.subarray(k * feat, (k + 1) * feat), i * feat);
      ys[i * ds.numClasses + ds.y[k]!] = 1;
    }
    return { xs, ys, feat };
  }

  /** Sum of per-sample gradients, loss and correct predictions over `indices`. */
  async gradient(ds: Dataset, indices: ArrayLike<number>): Promise<Float32Array> {
    const out = new Float32Array(this.size + EXTRA_SLOTS);
    await this.gradientInto(ds, indices, out);
    return out;
  }

  /**
   * Like `gradient`, written into `out` (length size + EXTRA_SLOTS, zeroed), calling
   * `filled(offset, length)` as each part lands: every variable's gradient as soon as its
   * read-back completes (all are requested at once, so on GPU backends the last layers,
   * which backpropagation finishes first, come first), then the loss, correct and count slots.
   * The all-reduce consumes the parts while the rest is still computed or read back.
   */
  async gradientInto(ds: Dataset, indices: ArrayLike<number>, out: Float32Array, filled: (offset: number, length: number) => void = () => {}): Promise<void> {
    const { tf } = this;
    const n = indices.length;
    if (n === 0) {
      out.fill(0);
      filled(0, out.length);
      return;
    }
    const { xs, ys } = this.batch(ds, indices);
    const x = tf.tensor(xs, [n, ...ds.featureShape]);
    const y = tf.tensor(ys, [n, ds.numClasses]);
    let probs: tfjs.Tensor | null = null;
    const { value, grads } = tf.variableGrads(() => {
      const p = this.model.apply(x, { training: true }) as tfjs.Tensor;
      probs = tf.keep(p);
      return tf.neg(tf.sum(tf.mul(y, tf.log(tf.clipByValue(p, 1e-7, 1))))) as tfjs.Scalar;
    }, this.vars);
    const correct = tf.tidy(() => tf.sum(tf.equal(tf.argMax(probs!, 1), tf.argMax(y, 1))));
    try {
      let off = 0;
      const reads: Promise<void>[] = [];
      for (const v of this.vars) {
        const at = off;
        const g = grads[v.name]!;
        off += g.size;
        reads.push(g.data().then((data) => {
          out.set(data as Float32Array, at);
          filled(at, g.size);
        }));
      }
      const failed = (await Promise.allSettled(reads)).find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      out[this.size] = (await value.data())[0]!;
      out[this.size + 1] = (await correct.data())[0]!;
      out[this.size + 2] = n;
      filled(this.size, EXTRA_SLOTS);
    } finally {
      tf.dispose([x, y, value, correct, probs!, ...Object.values(grads)]);
    }
  }

  /** Fraction of `ds` (its first `limit` samples) classified correctly. */
  async accuracy(ds: Dataset, limit = ds.size, batch = 1000): Promise<number> {
    const { tf } = this;
    let correct = 0;
    const n = Math.min(limit, ds.size);
    for (let s = 0; s < n; s += batch) {
      const idx = Array.from({ length: Math.min(batch, n - s) }, (_, i) => s + i);
      const { xs, ys } = this.batch(ds, idx);
      const c = tf.tidy(() => {
        const p = this.model.predict(tf.tensor(xs, [idx.length, ...ds.featureShape])) as tfjs.Tensor;
        return tf.sum(tf.equal(tf.argMax(p, 1), tf.argMax(tf.tensor(ys, [idx.length, ds.numClasses]), 1)));
      });
      correct += (await c.data())[0]!;
      c.dispose();
    }
    return n === 0 ? 0 : correct / n;
  }

  /** Right answers among test samples [start, end): a part of a distributed evaluation (counts sum exactly). */
  async countCorrect(ds: Dataset, start: number, end: number, batch = 1000): Promise<{ correct: number; count: number }> {
    const { tf } = this;
    const hi = Math.min(end, ds.size);
    let correct = 0;
    for (let s = start; s < hi; s += batch) {
      const idx = Array.from({ length: Math.min(batch, hi - s) }, (_, i) => s + i);
      const { xs, ys } = this.batch(ds, idx);
      const c = tf.tidy(() => {
        const p = this.model.predict(tf.tensor(xs, [idx.length, ...ds.featureShape])) as tfjs.Tensor;
        return tf.sum(tf.equal(tf.argMax(p, 1), tf.argMax(tf.tensor(ys, [idx.length, ds.numClasses]), 1)));
      });
      correct += (await c.data())[0]!;
      c.dispose();
    }
    return { correct, count: Math.max(0, hi - start) };
  }

  dispose(): void {
    this.model.dispose();
  }
}
