/**
 * One replica of a job's model: builds the tfjs model from the job's Layers JSON, keeps the
 * master copy of the parameters as one flat Float32Array (in a fixed variable order), and
 * computes the SUM of per-sample gradients over a slice. Isomorphic (browser and Node):
 * the worker tab and the single-process reference share this exact code.
 *
 * Models with random layers or batch normalisation run a forward pass of their own in
 * training (see shared/exactness.ts): layer by layer in inference mode, with the masks and
 * noise of the random layers drawn from the counter-based generator (shared/counterRandom.ts)
 * per global sample position, and ghost batch norm over fixed sub-batches of the global batch.
 * Their non-trainable weights (`buffers`, e.g. moving statistics) are replicated state: every
 * replica updates them identically at commit (`applyUpdate`) from per-ghost-batch sums that
 * travel in the all-reduced vector, between the gradient and the bookkeeping slots.
 *
 * A functional model (several inputs or branches joined by merge layers, one output) runs the
 * same forward pass over its graph in topological order (tfjs's `model.layers`), each layer on
 * the outputs of its inbound layers. Several inputs take the dataset's feature vector split in
 * the model's input order, input k the next ∏(shape k) values (the vetter checks the sizes add
 * up: server/vetting/vetGraph.ts).
 */
import type * as tfjs from '@tensorflow/tfjs';
import { counterKey, counterNormal, counterUniform } from './counterRandom.ts';
import type { Dataset } from './datasets.ts';
import { TabswarmError } from './errors.ts';
import { ghostBatchSize } from './exactness.ts';
import { initialBuffers, initialParameters, variableSize, type VariableInfo } from './init.ts';
import { fail, layerGraph, type Graph } from './layerGraph.ts';
import type { JobSpec } from './jobSpec.ts';
import { TAIL, TAIL_SLOTS, batchTargets, lossConfig, lossSum, metricSums, targetTensor, type LossConfig } from './losses.ts';
import type { Optimizer } from './optimizer.ts';
import { stateHash, stateVector } from './stateCodec.ts';

type Tf = typeof tfjs;

/**
 * Gradient vector layout: [∑grad (size) | batch-norm sums (statsSize) | ∑loss | correct | ∑absErr | ∑sqErr | count];
 * the last EXTRA_SLOTS (shared/losses.ts TAIL) start at `tailOffset`, the whole is
 * `vectorLength` long. Without batch norm statsSize is 0.
 */
export const EXTRA_SLOTS = TAIL_SLOTS;

/** Where a slice lies in the run: which step, and its first position in the global batch. */
export interface SliceAt {
  step: number;
  start: number;
}

interface LayerVar {
  name: string;
  shape: number[];
  read(): tfjs.Variable;
}

interface BnLayer {
  index: number;
  channels: number;
  /** values per sample and channel (the product of the spatial axes) */
  spatial: number;
  momentum: number;
  epsilon: number;
  gamma: tfjs.Variable | null;
  beta: tfjs.Variable | null;
  meanOff: number;
  varOff: number;
  /** offset of [∑ n_g·mean_g (channels) | ∑ n_g·var_g (channels)] after the gradient */
  statsOff: number;
}

type Special =
  | { kind: 'bn'; bn: BnLayer }
  | { kind: 'bnFrozen' }
  | { kind: 'noise'; cls: 'Dropout' | 'SpatialDropout1D' | 'GaussianNoise' | 'GaussianDropout' | 'AlphaDropout'; rate: number; stddev: number };

const RANDOM_CLASSES = new Set(['Dropout', 'SpatialDropout1D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout']);

export class Replica {
  readonly vars: tfjs.Variable[];
  readonly varInfo: VariableInfo[];
  readonly size: number;
  params: Float32Array;
  /** non-trainable weights (model.nonTrainableWeights in order), replicated state */
  readonly bufferVars: tfjs.Variable[];
  readonly bufferInfo: VariableInfo[];
  readonly bufferSize: number;
  buffers: Float32Array;
  /** batch-norm sums between the gradient and the tail */
  readonly statsSize: number;
  /** index of ∑loss (then correct, ∑absErr, ∑sqErr, count: TAIL) in the gradient vector */
  readonly tailOffset: number;
  readonly vectorLength: number;
  /** the ghost batch size batch norm uses (the job's batch size when there is no batch norm) */
  readonly ghostBatch: number;
  /** training runs the layer-by-layer forward pass (random layers or batch norm present) */
  readonly ownForward: boolean;
  /** per-sample shape of each model input, in the model's input order */
  readonly inputShapes: number[][];
  private readonly graph: Graph | null;
  private readonly specials = new Map<number, Special>();
  private readonly bns: BnLayer[] = [];

  private constructor(
    private readonly tf: Tf,
    readonly model: tfjs.LayersModel,
    private readonly seed: number,
    private readonly batchSize: number,
    ghost: number,
    /** the job's loss; metrics follow its task */
    readonly loss: LossConfig,
  ) {
    this.vars = model.trainableWeights.map((w) => (w as unknown as LayerVar).read());
    this.varInfo = model.trainableWeights.map((w) => ({ name: w.name, shape: [...w.shape] as number[] }));
    this.size = this.varInfo.reduce((a, v) => a + variableSize(v.shape), 0);
    this.params = initialParameters(this.varInfo, seed);
    const nonTrainable = model.nonTrainableWeights as unknown as LayerVar[];
    this.bufferVars = nonTrainable.map((w) => w.read());
    this.bufferInfo = nonTrainable.map((w) => ({ name: w.name, shape: [...w.shape] }));
    this.bufferSize = this.bufferInfo.reduce((a, v) => a + variableSize(v.shape), 0);
    this.buffers = initialBuffers(this.bufferInfo, seed);
    const bufferOffset = (w: LayerVar | undefined): number => {
      let off = 0;
      for (const x of nonTrainable) {
        if (x === w || (w && x.name === w.name)) return off;
        off += variableSize(x.shape);
      }
      throw new TabswarmError('INTERNAL', `non-trainable weight ${w?.name ?? '?'} not found`);
    };
    let stats = 0;
    model.layers.forEach((layer, index) => {
      const cls = layer.getClassName();
      const l = layer as unknown as Record<string, unknown>;
      if (cls === 'BatchNormalization') {
        if (!layer.trainable) {
          this.specials.set(index, { kind: 'bnFrozen' });
          return;
        }
        const shape = layer.outputShape as (number | null)[];
        const channels = shape.at(-1)!;
        const bn: BnLayer = {
          index, channels,
          spatial: shape.slice(1, -1).reduce<number>((a, b) => a * (b ?? 1), 1),
          momentum: l.momentum as number,
          epsilon: l.epsilon as number,
          gamma: l.scale ? (l.gamma as LayerVar).read() : null,
          beta: l.center ? (l.beta as LayerVar).read() : null,
          meanOff: bufferOffset(l.movingMean as LayerVar),
          varOff: bufferOffset(l.movingVariance as LayerVar),
          statsOff: this.size + stats,
        };
        stats += 2 * channels;
        this.bns.push(bn);
        this.specials.set(index, { kind: 'bn', bn });
      } else if (RANDOM_CLASSES.has(cls)) {
        this.specials.set(index, { kind: 'noise', cls: cls as Extract<Special, { kind: 'noise' }>['cls'], rate: Number(l.rate ?? 0), stddev: Number(l.stddev ?? 0) });
      }
    });
    this.statsSize = stats;
    this.tailOffset = this.size + stats;
    this.vectorLength = this.tailOffset + EXTRA_SLOTS;
    this.ghostBatch = ghost;
    this.ownForward = this.specials.size > 0;
    this.inputShapes = model.inputs.map((t) => t.shape.slice(1) as number[]);
    this.graph = layerGraph(model);
    this.writeParams();
    this.writeBuffers();
  }

  static async create(tf: Tf, spec: JobSpec): Promise<Replica> {
    const model = await tf.models.modelFromJSON(spec.model as unknown as Parameters<Tf['models']['modelFromJSON']>[0]);
    return new Replica(tf, model, spec.seed, spec.batchSize, ghostBatchSize(spec), lossConfig(spec));
  }

  /** Copies the master parameters into the tfjs variables. */
  writeParams(): void {
    this.assignFlat(this.vars, this.varInfo, this.params);
  }

  /** Copies the master non-trainable weights into the tfjs variables (inference reads them). */
  writeBuffers(): void {
    this.assignFlat(this.bufferVars, this.bufferInfo, this.buffers);
  }

  /** Assigns consecutive ranges of `flat` to `vars`, in order. */
  private assignFlat(vars: readonly tfjs.Variable[], info: readonly { shape: number[] }[], flat: Float32Array): void {
    const { tf } = this;
    let off = 0;
    vars.forEach((v, i) => {
      const shape = info[i]!.shape;
      const n = variableSize(shape);
      const t = tf.tensor(flat.subarray(off, off + n), shape, 'float32');
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

  /**
   * Loads a synced or checkpointed state. Without `buffers` (a version-1 state, written before
   * they were replicated) the non-trainable weights return to their seeded initial values,
   * which is what they were then.
   */
  setState(params: Float32Array, buffers?: Float32Array): void {
    const b = buffers && buffers.length > 0 ? buffers : initialBuffers(this.bufferInfo, this.seed);
    if (b.length !== this.bufferSize) throw new RangeError(`expected ${this.bufferSize} non-trainable values, got ${b.length}`);
    this.setParams(params);
    this.buffers = Float32Array.from(b);
    this.writeBuffers();
  }

  /** params then buffers: what the final upload carries. */
  stateVector(): Float32Array {
    return Float32Array.from(stateVector(this.params, this.buffers));
  }

  /** The hash to report as paramHash: covers the non-trainable weights; hashFloat32(params) for a model without. */
  stateHash(): string {
    return stateHash({ params: this.params, buffers: this.buffers });
  }

  /**
   * Commit: the optimizer step from the all-reduced vector (gradient sum / count), then the
   * moving statistics of every batch-norm layer from the per-ghost-batch sums, as tfjs's
   * `moving -= (moving - batch) * (1 - momentum)`, in float32 — identical on every replica.
   */
  applyUpdate(vec: Float32Array, optimizer: Optimizer): void {
    if (vec.length !== this.vectorLength) throw new RangeError(`expected a vector of ${this.vectorLength}, got ${vec.length}`);
    const count = vec[this.tailOffset + TAIL.count]!;
    if (!(count > 0)) return;
    const P = this.size;
    const grad = new Float32Array(P);
    for (let i = 0; i < P; i++) grad[i] = vec[i]! / count;
    optimizer.apply(this.params, grad);
    const fr = Math.fround;
    for (const bn of this.bns) {
      const n = count * bn.spatial;
      const decay = fr(1 - bn.momentum);
      for (let c = 0; c < bn.channels; c++) {
        const mean = fr(vec[bn.statsOff + c]! / n);
        const variance = fr(vec[bn.statsOff + bn.channels + c]! / n);
        const m = this.buffers[bn.meanOff + c]!;
        const v = this.buffers[bn.varOff + c]!;
        this.buffers[bn.meanOff + c] = fr(m - fr(fr(m - mean) * decay));
        this.buffers[bn.varOff + c] = fr(v - fr(fr(v - variance) * decay));
      }
    }
    this.writeParams();
    if (this.bns.length > 0) this.writeBuffers();
  }

  private batch(ds: Dataset, indices: ArrayLike<number>) {
    const feat = ds.featureShape.reduce((a, b) => a * b, 1);
    const xs = new Float32Array(indices.length * feat);
    for (let i = 0; i < indices.length; i++) {
      const k = indices[i]!;
      xs.set(ds.x.subarray(k * feat, (k + 1) * feat), i * feat);
    }
    return { xs, targets: batchTargets(this.loss, ds, indices), feat };
  }

  /**
   * The model's input for a batch of `n` samples: one tensor of the dataset's feature shape, or,
   * for a model with several inputs, the feature vector split in input order.
   */
  private feed(xs: Float32Array, n: number, ds: Dataset): tfjs.Tensor | tfjs.Tensor[] {
    const { tf } = this;
    if (this.inputShapes.length === 1) return tf.tensor(xs, [n, ...ds.featureShape]);
    const feat = ds.featureShape.reduce((a, b) => a * b, 1);
    let off = 0;
    return this.inputShapes.map((shape) => {
      const size = variableSize(shape);
      const part = new Float32Array(n * size);
      for (let i = 0; i < n; i++) part.set(xs.subarray(i * feat + off, i * feat + off + size), i * size);
      off += size;
      return tf.tensor(part, [n, ...shape]);
    });
  }

  /** Sum of per-sample gradients, loss and correct predictions over `indices`. */
  async gradient(ds: Dataset, indices: ArrayLike<number>, at?: SliceAt): Promise<Float32Array> {
    const out = new Float32Array(this.vectorLength);
    await this.gradientInto(ds, indices, out, undefined, at);
    return out;
  }

  /** Ghost batch sizes of the slice [start, start + n), cut on multiples of the ghost batch size. */
  private ghosts(start: number, n: number, strict: boolean): number[] {
    const G = this.ghostBatch;
    if (strict && this.bns.length > 0 && (start % G !== 0 || ((start + n) % G !== 0 && start + n !== this.batchSize))) {
      throw new TabswarmError('BAD_REQUEST', `slice [${start}, ${start + n}) is not cut on ghost batch boundaries (multiples of ${G}): plan slices with planSlices(…, { granularity: sliceGranularity(spec) })`);
    }
    const out: number[] = [];
    for (let p = start; p < start + n; ) {
      const end = Math.min((Math.floor(p / G) + 1) * G, start + n);
      out.push(end - p);
      p = end;
    }
    return out;
  }

  /** The training forward pass of a model with random layers or batch norm; `stats` gets the batch-norm sums. */
  private forwardTrain(x: tfjs.Tensor | tfjs.Tensor[], at: SliceAt, ghosts: number[], stats: tfjs.Tensor[]): tfjs.Tensor {
    const layers = this.model.layers;
    const g = this.graph;
    if (!g) {
      // Sequential: a chain
      let h = x as tfjs.Tensor;
      layers.forEach((layer, index) => {
        if (layer.getClassName() !== 'InputLayer') h = this.trainLayer(layer, index, h, at, ghosts, stats);
      });
      return h;
    }
    // functional: model.layers is in topological order, inputs first
    const xs = Array.isArray(x) ? x : [x];
    const values: (tfjs.Tensor | undefined)[] = new Array(layers.length);
    g.inputs.forEach((i, k) => (values[i] = xs[k]));
    layers.forEach((layer, index) => {
      if (values[index]) return;
      const ins = g.inbound[index]!.map((j) => values[j] ?? fail(`layer ${layer.name} comes before its input ${layers[j]!.name}`));
      values[index] = this.trainLayer(layer, index, ins.length === 1 ? ins[0]! : ins, at, ghosts, stats);
    });
    return values[g.output]!;
  }

  /** One layer of the training forward pass: its own tfjs call in inference mode, or ghost batch norm, or counter-based noise. */
  private trainLayer(layer: tfjs.layers.Layer, index: number, h: tfjs.Tensor | tfjs.Tensor[], at: SliceAt, ghosts: number[], stats: tfjs.Tensor[]): tfjs.Tensor {
    const sp = this.specials.get(index);
    if (!sp || sp.kind === 'bnFrozen') return layer.apply(h, { training: false }) as tfjs.Tensor;
    if (sp.kind === 'bn') return this.ghostNorm(h as tfjs.Tensor, sp.bn, ghosts, stats);
    return this.noise(h as tfjs.Tensor, index, sp, at);
  }

  private ghostNorm(h: tfjs.Tensor, bn: BnLayer, ghosts: number[], stats: tfjs.Tensor[]): tfjs.Tensor {
    const { tf } = this;
    const rest = h.shape.slice(1);
    const axes = rest.map((_, i) => i + 1).slice(0, -1).map((a) => a + 1); // [2 .. rank] of [k, g, ...rest], except channels
    // runs of equal ghost sizes: [k × g] each, normalised in one reshape
    const runs: { g: number; k: number }[] = [];
    for (const g of ghosts) {
      const last = runs.at(-1);
      if (last && last.g === g) last.k++;
      else runs.push({ g, k: 1 });
    }
    const outs: tfjs.Tensor[] = [];
    let s1: tfjs.Tensor | null = null;
    let s2: tfjs.Tensor | null = null;
    let off = 0;
    for (const { g, k } of runs) {
      const part = runs.length === 1 ? h : tf.slice(h, off, k * g);
      off += k * g;
      const xr = tf.reshape(part, [k, g, ...rest]);
      const { mean, variance } = tf.moments(xr, [1, ...axes], true);
      // y = (x − mean)·rsqrt(var + ε)·γ + β as x·A + C: two passes over the activations, not four
      let a = tf.rsqrt(tf.add(variance, bn.epsilon));
      if (bn.gamma) a = tf.mul(a, bn.gamma);
      let c = tf.neg(tf.mul(mean, a));
      if (bn.beta) c = tf.add(c, bn.beta);
      outs.push(tf.reshape(tf.add(tf.mul(xr, a), c), [k * g, ...rest]));
      const w = g * bn.spatial;
      const m1 = tf.mul(tf.sum(tf.reshape(mean, [k, bn.channels]), 0), w);
      const m2 = tf.mul(tf.sum(tf.reshape(variance, [k, bn.channels]), 0), w);
      s1 = s1 ? tf.add(s1, m1) : m1;
      s2 = s2 ? tf.add(s2, m2) : m2;
    }
    stats.push(tf.keep(tf.concat([s1!, s2!])));
    return outs.length === 1 ? outs[0]! : tf.concat(outs, 0);
  }

  private noise(h: tfjs.Tensor, index: number, sp: Extract<Special, { kind: 'noise' }>, at: SliceAt): tfjs.Tensor {
    const { tf } = this;
    const n = h.shape[0]!;
    const per = h.size / Math.max(1, n);
    const key = counterKey(this.seed, at.step, index);
    const fill = (len: number, f: (pos: number, e: number) => number) => {
      const a = new Float32Array(n * len);
      for (let i = 0; i < n; i++) for (let e = 0; e < len; e++) a[i * len + e] = f(at.start + i, e);
      return a;
    };
    const { rate } = sp;
    switch (sp.cls) {
      case 'Dropout': {
        if (!(rate > 0 && rate < 1)) return h;
        const scale = 1 / (1 - rate);
        return tf.mul(h, tf.tensor(fill(per, (p, e) => (counterUniform(key, p, e) >= rate ? scale : 0)), h.shape));
      }
      case 'SpatialDropout1D': {
        if (!(rate > 0 && rate < 1)) return h;
        const scale = 1 / (1 - rate);
        const c = h.shape.at(-1)!;
        return tf.mul(h, tf.tensor(fill(c, (p, e) => (counterUniform(key, p, e) >= rate ? scale : 0)), [n, 1, c]));
      }
      case 'GaussianNoise':
        if (!(sp.stddev > 0)) return h;
        return tf.add(h, tf.tensor(fill(per, (p, e) => sp.stddev * counterNormal(key, p, e)), h.shape));
      case 'GaussianDropout': {
        if (!(rate > 0 && rate < 1)) return h;
        const sd = Math.sqrt(rate / (1 - rate));
        return tf.mul(h, tf.tensor(fill(per, (p, e) => 1 + sd * counterNormal(key, p, e)), h.shape));
      }
      case 'AlphaDropout': {
        if (!(rate > 0 && rate < 1)) return h;
        const alphaP = -1.6732632423543772 * 1.0507009873554805;
        const a = 1 / Math.sqrt((1 - rate) * (1 + rate * alphaP * alphaP));
        const b = -a * alphaP * rate;
        const kept = tf.tensor(fill(per, (p, e) => (counterUniform(key, p, e) >= rate ? 1 : 0)), h.shape);
        // tfjs's: (x·kept + (kept − 1)·α′)·a + b
        return tf.add(tf.mul(tf.add(tf.mul(h, kept), tf.mul(tf.add(kept, -1), alphaP)), a), b);
      }
    }
  }

  /**
   * Like `gradient`, written into `out` (length size + EXTRA_SLOTS, zeroed), calling
   * `filled(offset, length)` as each part lands: every variable's gradient as soon as its
   * read-back completes (all are requested at once, so on GPU backends the last layers,
   * which backpropagation finishes first, come first), then the loss, correct and count slots.
   * The all-reduce consumes the parts while the rest is still computed or read back.
   *
   * `at` (step, and the slice's first position in the global batch) keys the random layers'
   * draws and places the ghost batches; a model with random layers or batch norm needs it in
   * training (without it: step 0, position 0, no boundary check — fine for calibration only).
   * `out` is `vectorLength` long: [gradient | batch-norm sums | loss, correct, count].
   */
  async gradientInto(ds: Dataset, indices: ArrayLike<number>, out: Float32Array, filled: (offset: number, length: number) => void = () => {}, at?: SliceAt): Promise<void> {
    const { tf } = this;
    const n = indices.length;
    if (out.length !== this.vectorLength) throw new RangeError(`expected a vector of ${this.vectorLength} (size + statsSize + EXTRA_SLOTS), got ${out.length}`);
    if (n === 0) {
      out.fill(0);
      filled(0, out.length);
      return;
    }
    const { xs, targets } = this.batch(ds, indices);
    const x = this.feed(xs, n, ds);
    const y = targetTensor(tf, targets, n);
    let probs: tfjs.Tensor | null = null;
    const stats: tfjs.Tensor[] = [];
    const ghosts = this.ownForward ? this.ghosts(at?.start ?? 0, n, at !== undefined) : [];
    const { value, grads } = tf.variableGrads(() => {
      const p = this.ownForward ? this.forwardTrain(x, at ?? { step: 0, start: 0 }, ghosts, stats) : (this.model.apply(x, { training: true }) as tfjs.Tensor);
      probs = tf.keep(p);
      return lossSum(tf, this.loss, p, y);
    }, this.vars);
    const metrics = metricSums(tf, this.loss, probs!, y);
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
      let so = this.size;
      for (const st of stats) {
        const at2 = so;
        so += st.size;
        reads.push(st.data().then((data) => out.set(data as Float32Array, at2)));
      }
      const failed = (await Promise.allSettled(reads)).find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      if (this.statsSize > 0) filled(this.size, this.statsSize);
      const T = this.tailOffset;
      const m = await metrics.data();
      out[T + TAIL.loss] = (await value.data())[0]!;
      out[T + TAIL.correct] = m[0]!;
      out[T + TAIL.absErr] = m[1]!;
      out[T + TAIL.sqErr] = m[2]!;
      out[T + TAIL.count] = n;
      filled(T, EXTRA_SLOTS);
    } finally {
      tf.dispose([x, y, value, metrics, probs!, ...stats, ...Object.values(grads)].flat());
    }
  }

  /** Fraction of `ds` (its first `limit` samples) classified correctly (0 for a regression job). */
  async accuracy(ds: Dataset, limit = ds.size, batch = 1000): Promise<number> {
    const n = Math.min(limit, ds.size);
    const r = await this.evaluate(ds, 0, n, batch);
    return n === 0 ? 0 : r.correct / n;
  }

  /**
   * The task's metric sums over samples [start, end) (shared/losses.ts TAIL): right answers for
   * a classifier, ∑ per-sample mean absolute and squared error for a regression; a part of a
   * distributed evaluation, or the whole test set.
   */
  async evaluate(ds: Dataset, start: number, end: number, batch = 1000): Promise<{ correct: number; absErr: number; sqErr: number; count: number }> {
    const { tf } = this;
    const hi = Math.min(end, ds.size);
    let correct = 0;
    let absErr = 0;
    let sqErr = 0;
    for (let s = start; s < hi; s += batch) {
      const idx = Array.from({ length: Math.min(batch, hi - s) }, (_, i) => s + i);
      const { xs, targets } = this.batch(ds, idx);
      const m = tf.tidy(() => {
        const p = this.model.predict(this.feed(xs, idx.length, ds)) as tfjs.Tensor;
        return metricSums(tf, this.loss, p, targetTensor(tf, targets, idx.length));
      });
      const v = await m.data();
      m.dispose();
      correct += v[0]!;
      absErr += v[1]!;
      sqErr += v[2]!;
    }
    return { correct, absErr, sqErr, count: Math.max(0, hi - start) };
  }

  dispose(): void {
    this.model.dispose();
  }
}
