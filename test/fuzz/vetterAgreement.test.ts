/**
 * Property: where the static vetter accepts a model, tfjs builds it with the same output shape
 * at every layer and the same trainable parameter count. Random stacks of the 2-D layers on
 * MNIST's [28, 28, 1] and of the 1-D and recurrent layers on SOTU's embedded sequences, with
 * int-or-array windows, strides, paddings and dilations.
 */
import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { vetModelTopology, type DatasetShape } from '../../server/vetting/vetTopology.ts';
import { shortReport } from './arbitraries.ts';

type Layer = { class_name: string; config: Record<string, unknown> };
const L = (class_name: string, config: Record<string, unknown> = {}): Layer => ({ class_name, config });
const seed = Number(process.env.FUZZ_SEED ?? 20261130);

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const pad = fc.constantFrom('valid', 'same');
const win2 = fc.oneof(fc.integer({ min: 1, max: 5 }), fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 2, maxLength: 2 }));
const win1 = fc.oneof(fc.integer({ min: 1, max: 5 }), fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 1 }));
const filters = fc.integer({ min: 1, max: 4 });
const units = fc.integer({ min: 1, max: 5 });

const layers2d = fc.oneof(
  fc.record({ filters, kernel_size: win2, strides: win2, padding: pad, dilation_rate: fc.constantFrom(1, 2) }).map((c) => L('Conv2D', c)),
  fc.record({ kernel_size: win2, strides: win2, padding: pad, depth_multiplier: fc.integer({ min: 1, max: 3 }) }).map((c) => L('DepthwiseConv2D', c)),
  fc.record({ filters, kernel_size: win2, strides: win2, padding: pad, depth_multiplier: fc.integer({ min: 1, max: 2 }) }).map((c) => L('SeparableConv2D', c)),
  fc.record({ filters, kernel_size: win2, strides: win2, padding: pad }).map((c) => L('Conv2DTranspose', c)),
  fc.record({ pool_size: win2, strides: win2, padding: pad }).map((c) => L('MaxPooling2D', c)),
  fc.record({ pool_size: win2, padding: pad }).map((c) => L('AveragePooling2D', c)),
  fc.record({ padding: win2 }).map((c) => L('ZeroPadding2D', c)),
  fc.record({ cropping: win2 }).map((c) => L('Cropping2D', c)),
  fc.record({ size: win2 }).map((c) => L('UpSampling2D', c)),
  fc.constant(L('BatchNormalization')),
);

const layers1d = fc.oneof(
  fc.record({ filters, kernel_size: win1, strides: win1, padding: pad, dilation_rate: fc.constantFrom(1, 2) }).map((c) => L('Conv1D', c)),
  fc.record({ pool_size: win1, strides: win1, padding: pad }).map((c) => L('MaxPooling1D', c)),
  fc.record({ pool_size: win1, padding: pad }).map((c) => L('AveragePooling1D', c)),
  fc.record({ units, return_sequences: fc.constant(true), use_bias: fc.boolean() }).map((c) => L('LSTM', c)),
  fc.record({ units, return_sequences: fc.constant(true), use_bias: fc.boolean() }).map((c) => L('GRU', c)),
  fc.record({ units, return_sequences: fc.constant(true) }).map((c) => L('SimpleRNN', c)),
  fc.record({ units }).map((c) => L('Dense', c)),
  fc.constant(L('SpatialDropout1D', { rate: 0.1 })),
  fc.constant(L('LayerNormalization')),
  fc.constant(L('Permute', { dims: [2, 1] })),
);

async function agrees(first: Layer, middle: Layer[], ds: DatasetShape): Promise<'refused' | 'agreed'> {
  const model = { class_name: 'Sequential', config: { name: 'm', layers: [first, ...middle, L('Flatten'), L('Dense', { units: ds.classes, activation: 'softmax' })] } };
  let v: ReturnType<typeof vetModelTopology>;
  try {
    v = vetModelTopology(model, ds);
  } catch {
    return 'refused'; // e.g. a kernel larger than what is left of the input
  }
  const built = await tf.models.modelFromJSON(structuredClone(v.model) as never);
  try {
    expect(v.layers.map((l) => l.outputShape)).toEqual(built.layers.map((l) => (l.outputShape as number[]).slice(1)));
    expect(v.trainableParams).toBe(built.trainableWeights.reduce((a, w) => a + (w.shape as number[]).reduce((x, y) => x * y, 1), 0));
  } finally {
    built.dispose();
  }
  return 'agreed';
}

describe('static vetting agrees with tfjs', () => {
  it.each([
    ['2-D layers on [28, 28, 1]', layers2d, L('InputLayer', { batch_input_shape: [null, 28, 28, 1] }), { featureShape: [28, 28, 1], classes: 10 }],
    ['1-D and recurrent layers on embedded [32]', layers1d, L('Embedding', { batch_input_shape: [null, 32], input_dim: 97, output_dim: 4 }), { featureShape: [32], classes: 97 }],
  ] as const)('%s', async (_name, layer, first, ds) => {
    let agreed = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(layer, { minLength: 1, maxLength: 4 }), async (middle) => {
        if ((await agrees(first, middle, ds)) === 'agreed') agreed++;
      }),
      { numRuns: 150, seed, endOnFailure: true, asyncReporter: shortReport },
    );
    expect(agreed).toBeGreaterThan(100);
  }, 60_000);
});
