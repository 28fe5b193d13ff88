/**
 * shared/backendSupport.ts against tfjs itself: the kernels it says WASM lacks are absent from
 * tfjs-backend-wasm's kernel registry (and present on CPU); profiling the replica's gradient of
 * every layer class the vetter allows, on the CPU backend, finds exactly the listed gaps (so a
 * class whose training needs a missing kernel cannot be left out); and the pure function that
 * backend choice and vetting use rules out WASM for exactly those jobs.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { vetSpec } from '../../server/vetting/vetSpec.ts';
import { LAYER_RULES } from '../../server/vetting/layerRules.ts';
import { MERGE_RULES } from '../../server/vetting/mergeRules.ts';
import { BACKEND_GAPS, backendCandidates, backendsUnableToTrain } from '../../shared/backendSupport.ts';
import { errorCode } from '../../shared/errors.ts';
import type { Dataset } from '../../shared/datasets.ts';
import { jobSpecSchema, type JobSpec } from '../../shared/jobSpec.ts';
import { presetSpec } from '../../shared/presets.ts';
import { Replica } from '../../shared/replica.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const L = tf.layers;
type Make = () => tf.layers.Layer;
const IMG = [6, 6, 2];
const SEQ = [5, 3];
const VEC = [4];

/** One example of every allowed layer class, with the per-sample input shape it takes. */
const SINGLE: Record<string, [number[], Make]> = {
  Dense: [VEC, () => L.dense({ units: 3 })],
  Flatten: [IMG, () => L.flatten()],
  Reshape: [VEC, () => L.reshape({ targetShape: [2, 2] })],
  Permute: [SEQ, () => L.permute({ dims: [2, 1] })],
  Dropout: [VEC, () => L.dropout({ rate: 0.5 })],
  SpatialDropout1D: [SEQ, () => L.spatialDropout1d({ rate: 0.5 })],
  GaussianNoise: [VEC, () => L.gaussianNoise({ stddev: 0.1 })],
  GaussianDropout: [VEC, () => L.gaussianDropout({ rate: 0.2 })],
  AlphaDropout: [VEC, () => L.alphaDropout({ rate: 0.2 })],
  Activation: [VEC, () => L.activation({ activation: 'tanh' })],
  ReLU: [VEC, () => L.reLU()],
  LeakyReLU: [VEC, () => L.leakyReLU()],
  ELU: [VEC, () => L.elu()],
  Softmax: [VEC, () => L.softmax()],
  Conv1D: [SEQ, () => L.conv1d({ filters: 2, kernelSize: 2 })],
  Conv2D: [IMG, () => L.conv2d({ filters: 2, kernelSize: 2 })],
  DepthwiseConv2D: [IMG, () => L.depthwiseConv2d({ kernelSize: 2 })],
  SeparableConv2D: [IMG, () => L.separableConv2d({ filters: 2, kernelSize: 2 })],
  Conv2DTranspose: [IMG, () => L.conv2dTranspose({ filters: 2, kernelSize: 2 })],
  MaxPooling1D: [SEQ, () => L.maxPooling1d({ poolSize: 2 })],
  MaxPooling2D: [IMG, () => L.maxPooling2d({ poolSize: 2 })],
  AveragePooling1D: [SEQ, () => L.averagePooling1d({ poolSize: 2 })],
  AveragePooling2D: [IMG, () => L.averagePooling2d({ poolSize: 2 })],
  GlobalMaxPooling1D: [SEQ, () => L.globalMaxPooling1d()],
  GlobalMaxPooling2D: [IMG, () => L.globalMaxPooling2d({})],
  GlobalAveragePooling1D: [SEQ, () => L.globalAveragePooling1d()],
  GlobalAveragePooling2D: [IMG, () => L.globalAveragePooling2d({})],
  BatchNormalization: [IMG, () => L.batchNormalization()],
  LayerNormalization: [VEC, () => L.layerNormalization()],
  Embedding: [VEC, () => L.embedding({ inputDim: 10, outputDim: 3 })],
  SimpleRNN: [SEQ, () => L.simpleRNN({ units: 2 })],
  GRU: [SEQ, () => L.gru({ units: 2 })],
  LSTM: [SEQ, () => L.lstm({ units: 2 })],
  ZeroPadding2D: [IMG, () => L.zeroPadding2d({ padding: 1 })],
  Cropping2D: [IMG, () => L.cropping2D({ cropping: 1 })],
  UpSampling2D: [IMG, () => L.upSampling2d({ size: [2, 2] })],
  RepeatVector: [VEC, () => L.repeatVector({ n: 2 })],
};

const MERGE: Record<string, Make> = {
  Add: () => L.add(),
  Multiply: () => L.multiply(),
  Average: () => L.average(),
  Maximum: () => L.maximum(),
  Minimum: () => L.minimum(),
  Concatenate: () => L.concatenate(),
  Dot: () => L.dot({ axes: 1 }),
};

/**
 * LayerNormalization → layer → (Flatten) → Dense(3, softmax), or two Dense branches of one input
 * joined by the merge layer. The trainable LayerNormalization in front makes backpropagation
 * reach the layer's input, so the kernels of its input gradient run too (not for Embedding,
 * whose input is indices and is never differentiated).
 */
function exampleModel(cls: string): { model: tf.LayersModel; shape: number[] } {
  if (Object.hasOwn(MERGE, cls)) {
    const x = tf.input({ shape: VEC });
    const p = L.dense({ units: 3 }).apply(x) as tf.SymbolicTensor;
    const q = L.dense({ units: 3 }).apply(x) as tf.SymbolicTensor;
    const m = MERGE[cls]!().apply([p, q]) as tf.SymbolicTensor;
    return { model: tf.model({ inputs: x, outputs: L.dense({ units: 3, activation: 'softmax' }).apply(m) as tf.SymbolicTensor }), shape: VEC };
  }
  const [shape, make] = SINGLE[cls]!;
  const x = tf.input({ shape });
  const front = cls === 'Embedding' ? x : (L.layerNormalization().apply(x) as tf.SymbolicTensor);
  let h = make().apply(front) as tf.SymbolicTensor;
  if (h.shape.length > 2) h = L.flatten().apply(h) as tf.SymbolicTensor;
  return { model: tf.model({ inputs: x, outputs: L.dense({ units: 3, activation: 'softmax' }).apply(h) as tf.SymbolicTensor }), shape };
}

function specOf(model: tf.LayersModel): JobSpec {
  const json = model.toJSON(undefined, false) as unknown as Record<string, unknown>;
  model.dispose();
  return jobSpecSchema.parse({ model: json, optimizer: { name: 'sgd', learningRate: 0.1 }, dataset: { id: 'iris' }, batchSize: 4, steps: 1 });
}

/** Kernels the replica's gradient of `spec` runs on the CPU backend. */
async function gradientKernels(spec: JobSpec, shape: number[]): Promise<string[]> {
  const r = await Replica.create(tf, spec);
  try {
    const feat = shape.reduce((a, b) => a * b, 1);
    // small integers: valid Embedding indices, and ordinary features for every other layer
    const ds: Dataset = { id: 'iris', size: 4, featureShape: shape, numClasses: 3, x: Float32Array.from({ length: 4 * feat }, (_, i) => (i * 7) % 10), y: Uint8Array.from([0, 1, 2, 0]) };
    const profile = await tf.profile(async () => {
      await r.gradient(ds, [0, 1, 2, 3], { step: 0, start: 0 });
      return [];
    });
    return profile.kernelNames;
  } finally {
    r.dispose();
  }
}

describe('backend gaps', () => {
  it('the kernels listed as missing on WASM are absent from its registry and present on CPU', () => {
    const kernels = new Set(Object.values(BACKEND_GAPS.wasm!).flat());
    expect(kernels).toEqual(new Set(['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput', 'UnsortedSegmentSum']));
    expect(tf.getKernelsForBackend('wasm').length).toBeGreaterThan(100); // the WASM backend's kernels are registered
    for (const k of kernels) {
      expect(tf.getKernel(k, 'wasm'), k).toBeUndefined();
      expect(tf.getKernel(k, 'cpu'), k).toBeDefined();
    }
  });

  it('profiling every allowed class\u2019s gradient finds exactly the listed WASM gaps', async () => {
    const allowed = [...Object.keys(LAYER_RULES), ...Object.keys(MERGE_RULES)].sort();
    expect([...Object.keys(SINGLE), ...Object.keys(MERGE)].sort()).toEqual(allowed);
    const found: Record<string, string[]> = {};
    for (const cls of allowed) {
      const { model, shape } = exampleModel(cls);
      const kernels = await gradientKernels(specOf(model), shape);
      expect(kernels.length, cls).toBeGreaterThan(5);
      // the profile also names ops with a custom gradient (fusedMatMul__op): only registered kernels count
      const missing = [...new Set(kernels.filter((k) => tf.getKernel(k, 'cpu') && !tf.getKernel(k, 'wasm')))].sort();
      if (missing.length) found[cls] = missing;
    }
    expect(found).toEqual(Object.fromEntries(Object.entries(BACKEND_GAPS.wasm!).map(([c, k]) => [c, [...k].sort()])));
  }, 60_000);
});

describe('backendsUnableToTrain', () => {
  it('rules out wasm for convolutions and Embedding, in Sequential and functional models, and nothing for an MLP', () => {
    const cnn = jobSpecSchema.parse(presetSpec(tf, 'mnist-cnn'));
    expect(backendsUnableToTrain(cnn)).toEqual({ wasm: 'wasm cannot train Conv2D (no Conv2DBackpropFilter kernel)' });
    const sotu = jobSpecSchema.parse(presetSpec(tf, 'sotu-char'));
    expect(backendsUnableToTrain(sotu).wasm).toMatch(/^wasm cannot train .*Embedding.* \(no .*UnsortedSegmentSum.* kernel\)$/);
    expect(backendsUnableToTrain(jobSpecSchema.parse(presetSpec(tf, 'mnist-mlp')))).toEqual({});
    const { model } = exampleModel('SeparableConv2D');
    expect(backendsUnableToTrain(specOf(model))).toEqual({ wasm: 'wasm cannot train SeparableConv2D (no Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropFilter, DepthwiseConv2dNativeBackpropInput kernel)' });
    expect(backendsUnableToTrain(specOf(exampleModel('Concatenate').model))).toEqual({});
    expect(backendsUnableToTrain({ model: { class_name: 'Sequential', config: [{ class_name: 'Embedding', config: {} }] } } as never).wasm).toMatch(/Embedding/);
  });
});

describe('backend choice', () => {
  const cnn = () => jobSpecSchema.parse(presetSpec(tf, 'mnist-cnn'));
  const mlp = () => jobSpecSchema.parse(presetSpec(tf, 'mnist-mlp'));

  it('skips wasm for a job it cannot train, with a note; keeps it otherwise', () => {
    expect(backendCandidates({ webgpuHardware: false, exclude: [], spec: cnn() })).toEqual({ candidates: ['webgl', 'cpu'], notes: ['skipped wasm cannot train Conv2D (no Conv2DBackpropFilter kernel)'] });
    expect(backendCandidates({ webgpuHardware: true, exclude: [], spec: mlp() })).toEqual({ candidates: ['webgpu', 'webgl', 'wasm', 'cpu'], notes: [] });
    expect(backendCandidates({ webgpuHardware: false, exclude: ['webgl'], spec: mlp() })).toEqual({ candidates: ['wasm', 'cpu'], notes: ['webgl excluded after a failure'] });
    expect(backendCandidates({ webgpuHardware: false, exclude: ['webgl'], spec: cnn() }).candidates).toEqual(['cpu']);
  });

  it('a job that requires wasm for a model wasm cannot train is refused at creation (MODEL_REJECTED)', async () => {
    const err = await vetSpec(tf, { ...cnn(), backend: 'wasm' }).catch((e: unknown) => e);
    expect(errorCode(err)).toBe('MODEL_REJECTED');
    expect((err as Error).message).toMatch(/requires backend wasm, but wasm cannot train Conv2D \(no Conv2DBackpropFilter kernel\)/);
    await expect(vetSpec(tf, { ...cnn(), backend: 'cpu' })).resolves.toBeDefined();
    await expect(vetSpec(tf, { ...mlp(), backend: 'wasm' })).resolves.toBeDefined();
  });
});
