/**
 * Exactness for models with randomness and batch statistics: a slice's masks do not depend on
 * which slice a sample falls in, a gradient computed in ghost-aligned slices and summed equals
 * the one-slice gradient, moving statistics are replicated state, and the reference trained
 * with different slicings ends at the same weights.
 */
import { TAIL, TAIL_SLOTS } from '../../../shared/losses.ts';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDatasetFiles } from '../../../server/datasetFiles.ts';
import { maxAbsDiff, trainReference } from '../../../server/reference.ts';
import { BatchPlan, planSlices } from '../../../shared/batchPlan.ts';
import { counterKey, counterUniform } from '../../../shared/counterRandom.ts';
import { loadDataset, type Dataset } from '../../../shared/datasets.ts';
import { sliceGranularity, usesBatchStatistics } from '../../../shared/exactness.ts';
import { jobSpecSchema, type JobSpec } from '../../../shared/jobSpec.ts';
import { createOptimizer } from '../../../shared/optimizer.ts';
import { Replica } from '../../../shared/replica.ts';
import { decodeState, encodeState, stateHash } from '../../../shared/stateCodec.ts';

tf.setBackend('cpu');

function topology(layers: tf.layers.Layer[]): Record<string, unknown> {
  const m = tf.sequential({ layers });
  const json = m.toJSON(undefined, false) as unknown as Record<string, unknown>;
  m.dispose();
  return json;
}

function spec(layers: () => tf.layers.Layer[], o: Partial<JobSpec> = {}): JobSpec {
  return jobSpecSchema.parse({
    model: topology(layers()), optimizer: { name: 'adam', learningRate: 0.01 }, dataset: { id: 'iris' },
    batchSize: 30, steps: 20, seed: 5, ghostBatchSize: 8, ...o,
  });
}

// no bias before batch norm: its true gradient is 0, so its computed gradient is rounding noise
// that Adam scales up to ±learningRate steps, differently for every summation order
const bnDropoutMlp = () => [
  tf.layers.dense({ inputShape: [4], units: 16, useBias: false }),
  tf.layers.batchNormalization(),
  tf.layers.activation({ activation: 'relu' }),
  tf.layers.dropout({ rate: 0.3 }),
  tf.layers.dense({ units: 3, activation: 'softmax' }),
];

const everyRandomLayer = () => [
  tf.layers.dense({ inputShape: [4], units: 12, useBias: false }),
  tf.layers.gaussianNoise({ stddev: 0.2 }),
  tf.layers.batchNormalization({ momentum: 0.9 }),
  tf.layers.reshape({ targetShape: [4, 3] }),
  tf.layers.spatialDropout1d({ rate: 0.25 }),
  tf.layers.flatten(),
  tf.layers.gaussianDropout({ rate: 0.2 }),
  tf.layers.dense({ units: 8, activation: 'selu' }),
  tf.layers.alphaDropout({ rate: 0.1 }),
  tf.layers.dense({ units: 3, activation: 'softmax' }),
];

let iris: Dataset;
beforeAll(async () => {
  iris = await loadDataset(createDatasetFiles().source, 'iris', 'train');
});

/** Sum of the slices' vectors, in float32 as the ring adds them. */
async function sliced(r: Replica, s: JobSpec, step: number, weights: number[]): Promise<Float32Array> {
  const plan = new BatchPlan(iris.size, s.batchSize, s.seed);
  const sum = new Float32Array(r.vectorLength);
  const slices = planSlices(s.batchSize, weights.map((weight, i) => ({ peerId: String(i), weight })), { granularity: sliceGranularity(s) });
  for (const sl of slices) {
    if (sl.count === 0) continue;
    const v = await r.gradient(iris, plan.indices(step, sl.start, sl.count), { step, start: sl.start });
    for (let i = 0; i < sum.length; i++) sum[i] = sum[i]! + v[i]!;
  }
  return sum;
}

function close(a: Float32Array, b: Float32Array, tol: number) {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  expect(worst).toBeLessThanOrEqual(tol);
}

describe('counter-based masks', () => {
  it('a draw depends on (seed, step, layer, position, element) only', () => {
    const k = counterKey(5, 3, 2);
    expect(counterUniform(k, 17, 4)).toBe(counterUniform(counterKey(5, 3, 2), 17, 4));
    const others = [counterUniform(counterKey(6, 3, 2), 17, 4), counterUniform(counterKey(5, 4, 2), 17, 4), counterUniform(counterKey(5, 3, 1), 17, 4), counterUniform(k, 18, 4), counterUniform(k, 17, 5)];
    expect(new Set([counterUniform(k, 17, 4), ...others]).size).toBe(6);
  });

  it("a sample's dropout mask is the same whichever slice (and position in it) computes it", async () => {
    const s = spec(() => [tf.layers.dense({ inputShape: [4], units: 16, activation: 'relu' }), tf.layers.dropout({ rate: 0.5 }), tf.layers.dense({ units: 3, activation: 'softmax' })], { batchSize: 12 });
    const r = await Replica.create(tf, s);
    try {
      const plan = new BatchPlan(iris.size, 12, s.seed);
      const idx = plan.indices(2);
      // sample at position 7 alone, and inside the slice [4, 12): its contribution is the same
      const alone = await r.gradient(iris, idx.subarray(7, 8), { step: 2, start: 7 });
      const inSlice = await r.gradient(iris, idx.subarray(4, 12), { step: 2, start: 4 });
      const rest = await sliced(r, s, 2, [1]); // whole batch
      expect(alone.some((x, i) => i < r.size && x !== 0)).toBe(true);
      // the 8-sample slice minus the other 7 one-sample slices is the lone sample
      const others = new Float32Array(r.vectorLength);
      for (const p of [4, 5, 6, 8, 9, 10, 11]) {
        const v = await r.gradient(iris, idx.subarray(p, p + 1), { step: 2, start: p });
        for (let i = 0; i < v.length; i++) others[i] = others[i]! + v[i]!;
      }
      for (let i = 0; i < r.size; i++) expect(Math.abs(inSlice[i]! - others[i]! - alone[i]!)).toBeLessThan(1e-5);
      // a different step draws a different mask
      const step3 = await r.gradient(iris, idx.subarray(7, 8), { step: 3, start: 7 });
      expect(Array.from(step3.subarray(0, r.size))).not.toEqual(Array.from(alone.subarray(0, r.size)));
      expect(rest.length).toBe(r.vectorLength);
    } finally {
      r.dispose();
    }
  });
});

describe('ghost batch norm + dropout: slicing does not change the gradient', () => {
  for (const [name, layers] of [['BN + Dropout MLP', bnDropoutMlp], ['every random layer + BN', everyRandomLayer]] as const) {
    it(`${name}: 3 unequal ghost-aligned slices summed = one slice (within 1e-6), over several steps`, async () => {
      const s = spec(layers);
      expect(usesBatchStatistics(s)).toBe(true);
      const r = await Replica.create(tf, s);
      try {
        expect(r.statsSize).toBeGreaterThan(0);
        for (const step of [0, 1, 7]) {
          const one = await sliced(r, s, step, [1]);
          const three = await sliced(r, s, step, [1, 2.2, 0.8]); // units of 8: [8, 16, 6]
          const slices = planSlices(30, [1, 2.2, 0.8].map((weight, i) => ({ peerId: String(i), weight })), { granularity: 8 });
          expect(slices.map((x) => x.count)).toEqual([8, 16, 6]);
          close(three, one, 1e-6);
          expect(three[r.tailOffset + TAIL.count]).toBe(30);
        }
      } finally {
        r.dispose();
      }
    });
  }

  it('a slice not cut on ghost boundaries is refused', async () => {
    const s = spec(bnDropoutMlp);
    const r = await Replica.create(tf, s);
    try {
      const plan = new BatchPlan(iris.size, 30, s.seed);
      await expect(r.gradient(iris, plan.indices(0, 3, 10), { step: 0, start: 3 })).rejects.toThrow(/ghost batch boundaries/);
      await expect(r.gradient(iris, plan.indices(0, 8, 10), { step: 0, start: 8 })).rejects.toThrow(/ghost batch boundaries/);
      await r.gradient(iris, plan.indices(0, 24, 6), { step: 0, start: 24 }); // ends at the batch end
    } finally {
      r.dispose();
    }
  });
});

describe('moving statistics are replicated state', () => {
  it('applyUpdate moves them identically on two replicas; the state hash, codec and setState carry them', async () => {
    const s = spec(bnDropoutMlp);
    const [a, b] = await Promise.all([Replica.create(tf, s), Replica.create(tf, s)]);
    try {
      expect(a.bufferSize).toBe(32);
      expect(a.size).toBe(4 * 16 + 32 + 16 * 3 + 3);
      const h0 = a.stateHash();
      const oa = createOptimizer(s.optimizer, a.size);
      const ob = createOptimizer(s.optimizer, b.size);
      for (let step = 0; step < 3; step++) {
        const va = await sliced(a, s, step, [1]);
        const vb = await sliced(b, s, step, [1, 1, 1]);
        // the swarm commits the same reduced vector everywhere
        a.applyUpdate(va, oa);
        b.applyUpdate(Float32Array.from(va), ob);
        expect(vb.length).toBe(va.length);
      }
      expect(a.stateHash()).toBe(b.stateHash());
      expect(a.stateHash()).not.toBe(h0);
      const mm = a.buffers.subarray(0, 16);
      expect(mm.some((x) => x !== 0)).toBe(true); // moving means moved off 0
      // inference reads the trained moving statistics
      const nt = a.model.nonTrainableWeights.map((w) => Array.from(w.read().dataSync()));
      expect(nt.flat()).toEqual(Array.from(a.buffers));
      const bytes = encodeState({ step: 3, params: a.params, optimizer: oa.state(), buffers: a.buffers });
      const st = decodeState(bytes);
      expect(stateHash(st)).toBe(a.stateHash());
      const c = await Replica.create(tf, s);
      c.setState(st.params, st.buffers);
      expect(c.stateHash()).toBe(a.stateHash());
      c.dispose();
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('a model without non-trainable weights hashes as before (hashFloat32 of params)', async () => {
    const s = spec(() => [tf.layers.dense({ inputShape: [4], units: 5, activation: 'relu' }), tf.layers.dense({ units: 3, activation: 'softmax' })]);
    const r = await Replica.create(tf, s);
    try {
      expect(r.ownForward).toBe(false);
      expect(r.vectorLength).toBe(r.size + TAIL_SLOTS);
      const { hashFloat32 } = await import('../../../shared/hash.ts');
      expect(r.stateHash()).toBe(hashFloat32(r.params));
    } finally {
      r.dispose();
    }
  });
});

describe('the reference', () => {
  it('ends within 1e-4 whatever the slicing (BN + Dropout MLP, 20 steps)', async () => {
    const s = spec(bnDropoutMlp);
    const src = createDatasetFiles().source;
    const one = await trainReference(s, src, 20);
    const three = await trainReference(s, src, 20, { sliceWeights: [1, 2.2, 0.8] });
    const four = await trainReference(s, src, 20, { sliceWeights: [1, 1, 1, 1] });
    expect(one.buffers.length).toBe(32);
    expect(maxAbsDiff(one.weights, three.weights)).toBeLessThanOrEqual(1e-4);
    expect(maxAbsDiff(one.weights, four.weights)).toBeLessThanOrEqual(1e-4);
    expect(one.losses.at(-1)!).toBeLessThan(one.losses[0]!);
  });

  it('computes on the wasm kernels when asked (what wasm tabs run), then leaves the process on cpu', async () => {
    const s = spec(bnDropoutMlp);
    const src = createDatasetFiles().source;
    const cpu = await trainReference(s, src, 20);
    const wasm = await trainReference(s, src, 20, { backend: 'wasm' });
    const wasmSliced = await trainReference(s, src, 20, { backend: 'wasm', sliceWeights: [1, 2.2, 0.8] });
    expect(tf.getBackend()).toBe('cpu');
    // other kernels: not the same bits, but the same training
    expect(maxAbsDiff(cpu.weights, wasm.weights)).toBeGreaterThan(0);
    expect(maxAbsDiff(cpu.weights, wasm.weights)).toBeLessThanOrEqual(1e-3);
    expect(maxAbsDiff(wasm.weights, wasmSliced.weights)).toBeLessThanOrEqual(1e-4);
  });
});

describe('the vetter on layers tabswarm cannot make exact', () => {
  it('refuses recurrent dropout above 0 (MODEL_REJECTED), accepts 0', async () => {
    const { vetModelTopology } = await import('../../../server/vetting/vetTopology.ts');
    const lstm = (cfg: Record<string, unknown>) => ({
      class_name: 'Sequential',
      config: { layers: [{ class_name: 'Reshape', config: { batch_input_shape: [null, 4], target_shape: [4, 1] } }, { class_name: 'LSTM', config: { units: 4, ...cfg } }, { class_name: 'Dense', config: { units: 3, activation: 'softmax' } }] },
    });
    const ds = { featureShape: [4], classes: 3 };
    expect(() => vetModelTopology(lstm({ dropout: 0.2 }), ds)).toThrow(/MODEL_REJECTED.*LSTM: dropout must be 0/);
    expect(() => vetModelTopology(lstm({ recurrent_dropout: 0.1 }), ds)).toThrow(/recurrent_dropout must be 0/);
    expect(() => vetModelTopology(lstm({ dropout: 0, recurrent_dropout: 0 }), ds)).not.toThrow();
  });
});

describe('model export', () => {
  it('weights.bin holds the trained moving statistics; tfjs loads it and predicts as the replica', async () => {
    const { modelLayout, layersArtifacts } = await import('../../../server/modelExport.ts');
    const s = spec(bnDropoutMlp);
    const r = await Replica.create(tf, s);
    try {
      const opt = createOptimizer(s.optimizer, r.size);
      for (let step = 0; step < 3; step++) r.applyUpdate(await sliced(r, s, step, [1]), opt);
      const layout = await modelLayout(tf, s);
      expect(layout.nonTrainableCount).toBe(r.bufferSize);
      // step 0: the params alone, buffers at the replicas' initial values
      const init = layersArtifacts(layout, s, r.params, {});
      expect(Array.from(new Float32Array(init.weights.buffer).subarray(r.size))).toEqual(Array.from({ length: 32 }, (_, i) => (i < 16 ? 0 : 1)));
      const art = layersArtifacts(layout, s, r.stateVector(), {});
      const loaded = await tf.loadLayersModel(tf.io.fromMemory({
        modelTopology: art.modelJson.modelTopology as object,
        weightSpecs: (art.modelJson.weightsManifest as { weights: tf.io.WeightsManifestEntry[] }[])[0]!.weights,
        weightData: art.weights.buffer.slice(art.weights.byteOffset, art.weights.byteOffset + art.weights.byteLength) as ArrayBuffer,
      }));
      const mm = loaded.nonTrainableWeights.map((w) => Array.from(w.read().dataSync())).flat();
      expect(mm).toEqual(Array.from(r.buffers));
      const x = tf.tensor(iris.x.subarray(0, 40), [10, 4]);
      const a = (r.model.predict(x) as tf.Tensor).dataSync();
      const b = (loaded.predict(x) as tf.Tensor).dataSync();
      expect(Array.from(b)).toEqual(Array.from(a));
      loaded.dispose();
    } finally {
      r.dispose();
    }
  });
});

describe('upload limits', () => {
  it("fit a BN model's final weights (params then moving statistics) and its version-2 checkpoint", async () => {
    const { uploadLimitBytes } = await import('../../../server/uploads.ts');
    const { vetModelTopology } = await import('../../../server/vetting/vetTopology.ts');
    const s = spec(bnDropoutMlp);
    const v = vetModelTopology(s.model, { featureShape: [4], classes: 3 });
    const r = await Replica.create(tf, s);
    try {
      expect([v.trainableParams, v.nonTrainableParams]).toEqual([r.size, r.bufferSize]);
      expect(r.stateVector().byteLength).toBeLessThanOrEqual(uploadLimitBytes(v, 'final'));
      const opt = createOptimizer(s.optimizer, r.size);
      opt.apply(r.params, new Float32Array(r.size));
      const bytes = encodeState({ step: 1, params: r.params, optimizer: opt.state(), buffers: r.buffers });
      expect(bytes.byteLength).toBeLessThanOrEqual(uploadLimitBytes(v, 'checkpoint'));
    } finally {
      r.dispose();
    }
  });
});
