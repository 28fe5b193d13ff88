/**
 * Model vetting (server/vetting/): every preset passes with tfjs's own parameter count, and
 * what a stranger could post to hurt the server or the volunteers is refused with
 * MODEL_REJECTED and a message naming the layer and the field.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { JobRegistry, specFromBody, vetSpec } from '../../../server/jobs.ts';
import { restoreJobs } from '../../../server/store/restore.ts';
import { createStore } from '../../../server/store/store.ts';
import { DEFAULT_VETTING_LIMITS } from '../../../server/vetting/limits.ts';
import { vetModelTopology, type DatasetShape } from '../../../server/vetting/vetTopology.ts';
import { errorCode, TabswarmError } from '../../../shared/errors.ts';
import { PRESET_NAMES, presetSpec } from '../../../shared/presets.ts';

type Layer = { class_name: string; config: Record<string, unknown> };
const IRIS: DatasetShape = { featureShape: [4], classes: 3 };
const MNIST: DatasetShape = { featureShape: [28, 28, 1], classes: 10 };

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const seq = (...layers: Layer[]) => ({ class_name: 'Sequential', config: { name: 'm', layers } });
const dense = (units: number, extra: Record<string, unknown> = {}): Layer => ({ class_name: 'Dense', config: { units, activation: 'relu', ...extra } });
const softmaxOut = (units: number) => dense(units, { activation: 'softmax' });
const first = (l: Layer, shape: number[]): Layer => ({ ...l, config: { ...l.config, batch_input_shape: [null, ...shape] } });
const conv = (extra: Record<string, unknown>): Layer => ({ class_name: 'Conv2D', config: { filters: 4, kernel_size: [3, 3], activation: 'relu', ...extra } });
const mnistConv = (c: Layer) => seq(first(c, [28, 28, 1]), { class_name: 'Flatten', config: {} }, softmaxOut(10));

function refusal(f: () => unknown): TabswarmError {
  try {
    f();
  } catch (e) {
    expect(errorCode(e)).toBe('MODEL_REJECTED');
    return e as TabswarmError;
  }
  throw new Error('expected a refusal');
}

async function refusalAsync(p: Promise<unknown>): Promise<TabswarmError> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(errorCode(e)).toBe('MODEL_REJECTED');
  return e as TabswarmError;
}

describe('presets', () => {
  it.each(PRESET_NAMES)('%s passes, counting the trainable parameters tfjs counts', async (name) => {
    const spec = specFromBody(presetSpec(tf, name));
    const vetted = await vetSpec(tf, spec);
    const model = await tf.models.modelFromJSON(spec.model as never);
    expect(vetted.trainableParams).toBe(model.countParams());
    expect(vetted.layers.map((l) => l.outputShape)).toEqual(model.layers.map((l) => (l.outputShape as number[]).slice(1)));
    expect(vetted.layers.reduce((a, l) => a + l.params, 0)).toBe(vetted.trainableParams);
    expect(vetted.model).toEqual(spec.model); // tfjs's own serialization is already normal
    model.dispose();
  });
});

describe('refusals', () => {
  it('an unknown layer class', () => {
    const e = refusal(() => vetModelTopology(seq(first(dense(8), [4]), { class_name: 'Frobnicate', config: { name: 'f1' } }, softmaxOut(3)), IRIS));
    expect(e.message).toMatch(/layer 1 \(f1\) Frobnicate: class_name is not an allowed layer/);
  });

  it('Lambda and class "Function"', () => {
    for (const cls of ['Lambda', 'Function', 'TimeDistributed', 'Bidirectional', 'RNN']) {
      const e = refusal(() => vetModelTopology(seq(first(dense(8), [4]), { class_name: cls, config: { function: 'return process.exit()' } }, softmaxOut(3)), IRIS));
      expect(e.message).toContain(`${cls}: class_name is not an allowed layer`);
    }
    expect(refusal(() => vetModelTopology({ class_name: 'Function', config: { layers: [] } }, IRIS)).message).toMatch(/Sequential/);
    // a merge layer in a Sequential stack: refused, naming where it belongs
    expect(refusal(() => vetModelTopology(seq(first(dense(8), [4]), { class_name: 'Add', config: {} }, softmaxOut(3)), IRIS)).message).toMatch(/Add: a merge layer joins branches: it needs a functional model/);
  });

  it('a Dense with 1.25e9 parameters, statically and fast, without building it', async () => {
    const spec = specFromBody({ preset: 'mnist-mlp', model: seq(first({ class_name: 'Flatten', config: {} }, [28, 28, 1]), dense(1250), dense(1_000_000), softmaxOut(10)) });
    const before = tf.memory().numBytes;
    const t0 = performance.now();
    const e = await refusalAsync(vetSpec(tf, spec));
    expect(performance.now() - t0).toBeLessThan(50);
    expect(tf.memory().numBytes).toBe(before);
    expect(e.message).toMatch(/layer 2 \(#2\) Dense: brings the trainable parameters to 1251981250, over the limit of 20000000/);
  });

  it('kernel_size as a number is accepted and normalised to [h, w]', async () => {
    const spec = specFromBody({ preset: 'mnist-cnn', model: mnistConv(conv({ kernel_size: 3, strides: 2, name: 'conv2d_1' })) });
    const v = await vetSpec(tf, spec);
    const cfg = (v.model as { config: { layers: Layer[] } }).config.layers[0]!.config;
    expect(cfg.kernel_size).toEqual([3, 3]);
    expect(cfg.strides).toEqual([2, 2]);
    expect(v.layers[0]).toEqual({ name: 'conv2d_1', className: 'Conv2D', outputShape: [13, 13, 4], params: 40 });
  });

  it('kernel_size as a string, or of the wrong rank', () => {
    expect(refusal(() => vetModelTopology(mnistConv(conv({ kernel_size: '3', name: 'conv2d_1' })), MNIST)).message).toBe(
      'MODEL_REJECTED: model: layer 0 (conv2d_1) Conv2D: kernel_size must be a positive integer or [h, w]',
    );
    for (const k of ['3', [3], [3, 3, 3], [0, 3], 3.5, null]) {
      const e = refusal(() => vetModelTopology(mnistConv(conv({ kernel_size: k, name: 'conv2d_1' })), MNIST));
      expect(e.message).toMatch(/layer 0 \(conv2d_1\) Conv2D: kernel_size (must be a positive integer or \[h, w\]|is required)/);
    }
  });

  it('an input shape that is not the dataset feature shape, or none', () => {
    expect(refusal(() => vetModelTopology(seq(first(dense(8), [5]), softmaxOut(3)), IRIS)).message).toMatch(/layer 0 \(#0\) Dense: batch_input_shape must be \[null, 4\]/);
    expect(refusal(() => vetModelTopology(seq(dense(8), softmaxOut(3)), IRIS)).message).toMatch(/batch_input_shape is required/);
    expect(refusal(() => vetModelTopology(seq(first(dense(8), [28, 28]), softmaxOut(10)), MNIST)).message).toMatch(/batch_input_shape must be \[null, 28, 28, 1\]/);
  });

  it('output units that are not the class count, and an output without a softmax', () => {
    expect(refusal(() => vetModelTopology(seq(first(dense(8), [4]), softmaxOut(4)), IRIS)).message).toMatch(/layer 1 \(#1\) Dense: the model's output must be \[3\].*got \[4\]/);
    expect(refusal(() => vetModelTopology(seq(first(dense(8), [4]), dense(3)), IRIS)).message).toMatch(/must end in a softmax/);
  });

  it('an unknown config key, also in an initializer', () => {
    expect(refusal(() => vetModelTopology(seq(first(dense(8, { units_x: 1 }), [4]), softmaxOut(3)), IRIS)).message).toMatch(/layer 0 \(#0\) Dense: units_x is not a known key/);
    const init = { kernel_initializer: { class_name: 'RandomNormal', config: { mean: 0, stddev: 1, evil: 'x' } } };
    expect(refusal(() => vetModelTopology(seq(first(dense(8, init), [4]), softmaxOut(3)), IRIS)).message).toMatch(/kernel_initializer.config: evil is not a known key/);
    const cls = { kernel_initializer: { class_name: 'Function', config: {} } };
    expect(refusal(() => vetModelTopology(seq(first(dense(8, cls), [4]), softmaxOut(3)), IRIS)).message).toMatch(/kernel_initializer.class_name must be one of/);
  });

  it('a bad activation name', () => {
    for (const a of ['relu2', 'eval', 1, { class_name: 'relu' }]) {
      expect(refusal(() => vetModelTopology(seq(first(dense(8, { activation: a }), [4]), softmaxOut(3)), IRIS)).message).toMatch(/Dense: activation must be one of linear, relu/);
    }
  });

  it('wrong types and ranges', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ units: 0 }, /units must be an integer in \[1, /],
      [{ units: '8' }, /units must be an integer/],
      [{ units: 2 ** 40 }, /units must be an integer/],
      [{ use_bias: 'yes' }, /use_bias must be true or false/],
      [{ kernel_regularizer: { class_name: 'L1L2', config: { l1: 0.1, l2: 0 } } }, /kernel_regularizer must be null/],
      [{ dtype: 'int32' }, /dtype must be one of float32/],
      [{ name: '../../x' }, /config.name must be/],
      [{ trainable: 1 }, /trainable must be true or false/],
    ];
    for (const [extra, msg] of bad) expect(refusal(() => vetModelTopology(seq(first(dense(8, extra), [4]), softmaxOut(3)), IRIS)).message).toMatch(msg);
    const drop = (rate: unknown): Layer => ({ class_name: 'Dropout', config: { rate } });
    expect(refusal(() => vetModelTopology(seq(first(dense(8), [4]), drop(1.5), softmaxOut(3)), IRIS)).message).toMatch(/Dropout: rate must be a number in \[0, 0.99\]/);
    expect(refusal(() => vetModelTopology(seq(first(dense(8), [4]), { class_name: 'Conv2D', config: { filters: 2, kernel_size: 3 } }, softmaxOut(3)), IRIS)).message).toMatch(
      /layer 1 \(#1\) Conv2D: input must be \[height, width, channels\]/,
    );
  });

  it('an empty functional topology (functional graphs: vettingFunctional.test.ts)', () => {
    expect(refusal(() => vetModelTopology({ class_name: 'Model', config: { layers: [], input_layers: [], output_layers: [] } }, IRIS)).message).toMatch(/layers must be a non-empty array/);
  });

  it('activations over their cap per sample and per batch', async () => {
    const up = (s: number): Layer => ({ class_name: 'UpSampling2D', config: { size: [s, s] } });
    const big = seq(first(conv({ filters: 64, padding: 'same' }), [28, 28, 1]), up(32), { class_name: 'GlobalMaxPooling2D', config: {} }, softmaxOut(10));
    expect(refusal(() => vetModelTopology(big, MNIST)).message).toMatch(/UpSampling2D: brings the activations to \d+ floats per sample, over the limit/);
    const wide = seq(first(conv({ filters: 64, padding: 'same' }), [28, 28, 1]), { class_name: 'Flatten', config: {} }, softmaxOut(10));
    const spec = specFromBody({ preset: 'mnist-cnn', model: wide, batchSize: 8192 });
    expect((await refusalAsync(vetSpec(tf, spec))).message).toMatch(/a batch of 8192 needs about \d+ bytes of activations/);
  });

  it('limits are configurable', () => {
    const limits = { ...DEFAULT_VETTING_LIMITS, maxTrainableParams: 100 };
    expect(refusal(() => vetModelTopology(seq(first(dense(16), [4]), softmaxOut(3)), IRIS, limits)).message).toMatch(/over the limit of 100/);
  });

  it('a topology tfjs refuses is refused, not thrown as an internal error', async () => {
    // duplicate names pass the static check only when unnamed; Identity on a non-square kernel is tfjs's to refuse
    const spec = specFromBody({ preset: 'iris-mlp', model: seq(first(dense(8, { kernel_initializer: { class_name: 'Identity', config: { gain: 1 } } }), [4]), softmaxOut(3)) });
    const e = await refusalAsync(vetSpec(tf, spec));
    expect(e.message).toMatch(/tfjs could not build it/);
  });
});

describe('accepted layers', () => {
  it('a model with many allowed layer kinds matches tfjs shape for shape', async () => {
    const L = (class_name: string, config: Record<string, unknown> = {}): Layer => ({ class_name, config });
    const model = seq(
      L('InputLayer', { batch_input_shape: [null, 28, 28, 1] }),
      L('ZeroPadding2D', { padding: 1 }),
      L('Conv2D', { filters: 4, kernel_size: 3, strides: [2, 2], padding: 'same' }),
      L('BatchNormalization'),
      L('ReLU'),
      L('DepthwiseConv2D', { kernel_size: 3, depth_multiplier: 2 }),
      L('SeparableConv2D', { filters: 6, kernel_size: [3, 3], padding: 'same' }),
      L('Conv2DTranspose', { filters: 4, kernel_size: 3, strides: 2 }),
      L('Cropping2D', { cropping: [[1, 2], [0, 1]] }),
      L('AveragePooling2D', { pool_size: 2 }),
      L('UpSampling2D', { size: 2 }),
      L('MaxPooling2D', { pool_size: [3, 3], strides: 2, padding: 'same' }),
      L('GaussianNoise', { stddev: 0.1 }),
      L('Reshape', { target_shape: [78, 8] }),
      L('Permute', { dims: [2, 1] }),
      L('Conv1D', { filters: 5, kernel_size: 2, dilation_rate: 2 }),
      L('MaxPooling1D', { pool_size: 2 }),
      L('LayerNormalization', { axis: -1 }),
      L('LSTM', { units: 6, return_sequences: true }),
      L('GRU', { units: 5, return_sequences: true }),
      L('SpatialDropout1D', { rate: 0.1 }),
      L('SimpleRNN', { units: 7 }),
      L('RepeatVector', { n: 3 }),
      L('GlobalAveragePooling1D'),
      L('Dropout', { rate: 0.2 }),
      L('LeakyReLU', { alpha: 0.1 }),
      L('Dense', { units: 10 }),
      L('Softmax'),
    );
    const spec = specFromBody({ preset: 'mnist-cnn', model });
    const vetted = await vetSpec(tf, spec);
    const built = await tf.models.modelFromJSON(structuredClone(vetted.model) as never);
    const tfShapes = built.layers.map((l) => (l.outputShape as number[]).slice(1));
    expect(vetted.layers.map((l) => l.outputShape)).toEqual(tfShapes);
    expect(vetted.trainableParams).toBe(built.trainableWeights.reduce((a, w) => a + (w.shape as number[]).reduce((x, y) => x * y, 1), 0));
    built.dispose();
  });
});


describe('restore', () => {
  it('quarantines a stored job whose model fails vetting (listed as failed, with the reason), and restores the rest', async () => {
    const store = createStore({ memory: true, now: () => 1 });
    const good = specFromBody({ preset: 'iris-mlp' });
    const bad = specFromBody({ preset: 'iris-mlp', model: seq(first(dense(8), [4]), { class_name: 'Lambda', config: {} }, softmaxOut(3)) });
    for (const [id, spec] of [['good', good], ['bad', bad]] as const) store.createJob({ id, spec, status: 'waiting', tokenHash: 'ab'.repeat(32), createdAt: 1, learningRate: null });
    const jobs = new JobRegistry({ now: () => 1, coordinatorDeps: () => ({ now: () => 1, every: () => () => {} }) });
    const errors: unknown[] = [];
    const reports = await restoreJobs(store, jobs, () => 1, (level, msg, fields) => void (level === 'error' && errors.push({ msg, fields })), (spec) => vetSpec(tf, spec));
    expect(reports.map((r) => [r.jobId, r.status]).sort()).toEqual([['bad', 'failed'], ['good', 'waiting']]);
    expect(jobs.get('good').vetted.trainableParams).toBe(131);
    expect(jobs.get('bad').coordinator.status).toBe('failed');
    expect(jobs.get('bad').coordinator.failure).toMatch(/could not be restored after a restart: .*MODEL_REJECTED/);
    expect(store.loadJobs(() => {}).find((j) => j.id === 'bad')!.status).toBe('failed'); // not retried into a crash loop
    expect(JSON.stringify(errors)).toMatch(/job quarantined.*"jobId":"bad".*MODEL_REJECTED/);
    for (const j of jobs.jobs.values()) j.coordinator.destroy();
    store.close();
  });
});
