/**
 * Functional models in the replica (shared/replica.ts): the training forward pass walks the
 * graph in topological order, several inputs take the feature vector split in input order,
 * the gradient does not depend on the slicing (ghost batch norm and counter-based dropout on a
 * branch), the reference ends at the same weights whatever the slicing, and the exported
 * model.json + weights.bin load with tfjs and predict what the replica predicts.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDatasetFiles } from '../../../server/datasetFiles.ts';
import { layersArtifacts, modelLayout } from '../../../server/modelExport.ts';
import { maxAbsDiff, trainReference } from '../../../server/reference.ts';
import { vetModelTopology } from '../../../server/vetting/vetTopology.ts';
import { BatchPlan, planSlices } from '../../../shared/batchPlan.ts';
import { loadDataset, type Dataset } from '../../../shared/datasets.ts';
import { sliceGranularity, usesBatchStatistics } from '../../../shared/exactness.ts';
import { jobSpecSchema, type JobSpec } from '../../../shared/jobSpec.ts';
import { createOptimizer } from '../../../shared/optimizer.ts';
import { Replica } from '../../../shared/replica.ts';

tf.setBackend('cpu');

const toJson = (m: tf.LayersModel): Record<string, unknown> => {
  const j = m.toJSON(undefined, false) as unknown as Record<string, unknown>;
  m.dispose();
  return j;
};

const spec = (model: Record<string, unknown>, o: Partial<JobSpec> = {}): JobSpec =>
  jobSpecSchema.parse({ model, optimizer: { name: 'adam', learningRate: 0.01 }, dataset: { id: 'iris' }, batchSize: 30, steps: 20, seed: 5, ghostBatchSize: 8, ...o });

/** iris's features as two inputs [2] + [2]; a BN + Dropout branch; joined by Add, then Concatenate. */
function branches(): Record<string, unknown> {
  const a = tf.input({ shape: [2], name: 'a' });
  const b = tf.input({ shape: [2], name: 'b' });
  const da = tf.layers.dense({ units: 8, activation: 'relu', name: 'da' }).apply(a) as tf.SymbolicTensor;
  const db = tf.layers.dense({ units: 8, useBias: false, name: 'db' }).apply(b) as tf.SymbolicTensor;
  const bn = tf.layers.batchNormalization({ name: 'bn' }).apply(db) as tf.SymbolicTensor;
  const relu = tf.layers.activation({ activation: 'relu', name: 'relu' }).apply(bn) as tf.SymbolicTensor;
  const drop = tf.layers.dropout({ rate: 0.3, name: 'drop' }).apply(relu) as tf.SymbolicTensor;
  const sum = tf.layers.add({ name: 'sum' }).apply([da, drop]) as tf.SymbolicTensor;
  const cat = tf.layers.concatenate({ name: 'cat' }).apply([sum, da]) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, activation: 'softmax', name: 'out' }).apply(cat) as tf.SymbolicTensor;
  return toJson(tf.model({ inputs: [a, b], outputs: out }));
}

let iris: Dataset;
beforeAll(async () => {
  iris = await loadDataset(createDatasetFiles().source, 'iris', 'train');
});

async function sliced(r: Replica, s: JobSpec, step: number, weights: number[]): Promise<Float32Array> {
  const plan = new BatchPlan(iris.size, s.batchSize, s.seed);
  const sum = new Float32Array(r.vectorLength);
  for (const sl of planSlices(s.batchSize, weights.map((weight, i) => ({ peerId: String(i), weight })), { granularity: sliceGranularity(s) })) {
    if (sl.count === 0) continue;
    const v = await r.gradient(iris, plan.indices(step, sl.start, sl.count), { step, start: sl.start });
    for (let i = 0; i < sum.length; i++) sum[i] = sum[i]! + v[i]!;
  }
  return sum;
}

describe('functional models in the replica', () => {
  it('two inputs take the feature vector split in input order: [2] + [2] concatenated = one [4] input, bit for bit', async () => {
    const a = tf.input({ shape: [2] });
    const b = tf.input({ shape: [2] });
    const cat = tf.layers.concatenate().apply([a, b]) as tf.SymbolicTensor;
    const two = spec(toJson(tf.model({ inputs: [a, b], outputs: tf.layers.dense({ units: 3, activation: 'softmax' }).apply(cat) as tf.SymbolicTensor })));
    const one = spec(toJson(tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, activation: 'softmax' })] })));
    const [r2, r1] = await Promise.all([Replica.create(tf, two), Replica.create(tf, one)]);
    try {
      expect(r2.inputShapes).toEqual([[2], [2]]);
      expect(r2.size).toBe(r1.size);
      r2.setParams(r1.params);
      const idx = new BatchPlan(iris.size, 30, 5).indices(0);
      expect(Array.from(await r2.gradient(iris, idx))).toEqual(Array.from(await r1.gradient(iris, idx)));
      expect(await r2.accuracy(iris)).toBe(await r1.accuracy(iris));
      // swapping the inputs' roles changes the result: the split is by order, not by chance
      const swapped = Float32Array.from(r1.params);
      for (let i = 0; i < 6; i++) [swapped[i], swapped[i + 6]] = [swapped[i + 6]!, swapped[i]!];
      r2.setParams(swapped);
      expect(Array.from(await r2.gradient(iris, idx))).not.toEqual(Array.from(await r1.gradient(iris, idx)));
    } finally {
      r1.dispose();
      r2.dispose();
    }
  });

  it('the graph walk trains what tfjs computes: own forward (a frozen BN) = tfjs\u2019s model.apply, up to summation order', async () => {
    // BN with trainable: false runs in inference mode, so the own forward pass runs, yet matches tfjs's
    const x = tf.input({ shape: [4] });
    const p = tf.layers.dense({ units: 6, activation: 'relu' }).apply(x) as tf.SymbolicTensor;
    const q = tf.layers.dense({ units: 6, activation: 'tanh' }).apply(x) as tf.SymbolicTensor;
    const frozen = tf.layers.batchNormalization({ trainable: false }).apply(q) as tf.SymbolicTensor;
    const m = tf.layers.multiply().apply([p, frozen]) as tf.SymbolicTensor;
    const cat = tf.layers.concatenate().apply([m, p, tf.layers.dot({ axes: 1 }).apply([p, q]) as tf.SymbolicTensor]) as tf.SymbolicTensor;
    const s = spec(toJson(tf.model({ inputs: x, outputs: tf.layers.dense({ units: 3, activation: 'softmax' }).apply(cat) as tf.SymbolicTensor })));
    const r = await Replica.create(tf, s);
    try {
      expect(r.ownForward).toBe(true);
      const idx = new BatchPlan(iris.size, 30, 5).indices(0);
      const own = await r.gradient(iris, idx, { step: 0, start: 0 });
      const xs = tf.tensor(Array.from(idx).flatMap((k) => Array.from(iris.x.subarray(k * 4, k * 4 + 4))), [30, 4]);
      const ys = tf.oneHot(tf.tensor1d(Array.from(idx).map((k) => iris.y[k]!), 'int32'), 3);
      const { grads } = tf.variableGrads(() => tf.neg(tf.sum(tf.mul(ys, tf.log(tf.clipByValue(r.model.apply(xs, { training: false }) as tf.Tensor, 1e-7, 1))))) as tf.Scalar, r.vars);
      const want = r.vars.flatMap((v) => Array.from(grads[v.name]!.dataSync()));
      // equal up to the order in which backpropagation sums the gradients of a tensor used by several layers
      expect(want).toHaveLength(r.size);
      want.forEach((w, i) => expect(Math.abs(own[i]! - w)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(w))));
      expect(want.some((w) => w !== 0)).toBe(true);
    } finally {
      r.dispose();
    }
  });

  it('BN + Dropout on a branch: 3 unequal ghost-aligned slices summed = one slice (within 1e-6)', async () => {
    const s = spec(branches());
    expect(usesBatchStatistics(s)).toBe(true);
    const r = await Replica.create(tf, s);
    try {
      expect(r.statsSize).toBe(16);
      for (const step of [0, 3]) {
        const one = await sliced(r, s, step, [1]);
        const three = await sliced(r, s, step, [1, 2.2, 0.8]);
        let worst = 0;
        for (let i = 0; i < one.length; i++) worst = Math.max(worst, Math.abs(three[i]! - one[i]!) / Math.max(1, Math.abs(one[i]!)));
        expect(worst).toBeLessThanOrEqual(1e-6);
        expect(one.subarray(0, r.size).some((v) => v !== 0)).toBe(true);
      }
    } finally {
      r.dispose();
    }
  });

  it('the reference ends within 1e-4 whatever the slicing; the export loads in tfjs and predicts as the replica', async () => {
    const s = spec(branches());
    const src = createDatasetFiles().source;
    const one = await trainReference(s, src, 15);
    const three = await trainReference(s, src, 15, { sliceWeights: [1, 2.2, 0.8] });
    expect(maxAbsDiff(one.weights, three.weights)).toBeLessThanOrEqual(1e-4);
    expect(one.losses.at(-1)!).toBeLessThan(one.losses[0]!);

    const vetted = vetModelTopology(s.model, { featureShape: [4], classes: 3 });
    const r = await Replica.create(tf, s);
    try {
      expect([vetted.trainableParams, vetted.nonTrainableParams]).toEqual([r.size, r.bufferSize]);
      const opt = createOptimizer(s.optimizer, r.size);
      for (let step = 0; step < 3; step++) r.applyUpdate(await sliced(r, s, step, [1]), opt);
      const art = layersArtifacts(await modelLayout(tf, s), s, r.stateVector(), {});
      const loaded = await tf.loadLayersModel(tf.io.fromMemory({
        modelTopology: art.modelJson.modelTopology as object,
        weightSpecs: (art.modelJson.weightsManifest as { weights: tf.io.WeightsManifestEntry[] }[])[0]!.weights,
        weightData: art.weights.buffer.slice(art.weights.byteOffset, art.weights.byteOffset + art.weights.byteLength) as ArrayBuffer,
      }));
      expect(loaded.nonTrainableWeights.flatMap((w) => Array.from(w.read().dataSync()))).toEqual(Array.from(r.buffers));
      const x = [tf.tensor(Array.from({ length: 10 }, (_, i) => [iris.x[i * 4]!, iris.x[i * 4 + 1]!]), [10, 2]), tf.tensor(Array.from({ length: 10 }, (_, i) => [iris.x[i * 4 + 2]!, iris.x[i * 4 + 3]!]), [10, 2])];
      expect(Array.from((loaded.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from((r.model.predict(x) as tf.Tensor).dataSync()));
      loaded.dispose();
    } finally {
      r.dispose();
    }
  });
});
