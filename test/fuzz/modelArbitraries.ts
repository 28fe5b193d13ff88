/**
 * fast-check generators of job specs whose models look valid: Sequential topologies of layer
 * classes tfjs registers (and a few it must never see), with configs of tfjs's own keys
 * holding values of the right type, the wrong type, or out of range. A share of them is
 * fully valid, so the accepted path (vetting's tfjs build, the dashboard feed) is exercised too.
 */
import fc from 'fast-check';
import { DATASETS } from '../../shared/datasets.ts';
import { DATASET_IDS } from '../../shared/jobSpec.ts';
import { wrongValue } from './arbitraries.ts';

type Layer = { class_name: string; config: Record<string, unknown> };

const ACTS = ['linear', 'relu', 'tanh', 'sigmoid', 'softmax', 'elu', 'selu', 'softplus', 'hard_sigmoid', 'swish', 'Relu', 'lambda', ''];

/** A value a layer config field might hold: mostly plausible, sometimes anything. */
const fieldValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.integer({ min: -2, max: 9 }), weight: 4 },
  { arbitrary: fc.array(fc.integer({ min: -1, max: 6 }), { minLength: 1, maxLength: 3 }), weight: 3 },
  { arbitrary: fc.constantFrom(...ACTS, 'valid', 'same', 'causal', 'channels_first', 'channels_last', 'nearest', 'float32', 'int32'), weight: 3 },
  { arbitrary: fc.double({ min: -1, max: 2, noNaN: true }), weight: 2 },
  { arbitrary: fc.constantFrom(true, false, null), weight: 2 },
  { arbitrary: fc.constantFrom({ class_name: 'GlorotUniform', config: { seed: null } }, { class_name: 'Orthogonal', config: {} }, { class_name: 'L1L2', config: { l1: 0.1 } }), weight: 1 },
  { arbitrary: wrongValue, weight: 1 },
);

/** tfjs's serialized config keys across its layers, and a couple it has never heard of. */
const KEYS = [
  'units', 'filters', 'kernel_size', 'strides', 'padding', 'activation', 'rate', 'pool_size', 'target_shape', 'dims', 'input_dim', 'output_dim',
  'n', 'size', 'cropping', 'depth_multiplier', 'use_bias', 'return_sequences', 'axis', 'alpha', 'stddev', 'kernel_initializer', 'data_format',
  'dilation_rate', 'recurrent_activation', 'max_value', 'name', 'trainable', 'dtype', 'return_state', 'stateful', 'mask_zero', 'function', 'units_x',
];

const anyConfig = fc.dictionary(fc.constantFrom(...KEYS), fieldValue, { maxKeys: 5 });

/** Any class tfjs registers (layers, initializers, optimizers, activations) plus ones it must never build. */
export function anyLayer(classNames: readonly string[]): fc.Arbitrary<Layer> {
  return fc.record({ class_name: fc.constantFrom(...classNames, 'Lambda', 'Function', '__proto__', 'constructor'), config: anyConfig });
}

/** Valid layers for a [features] input (iris), with random but right-typed values. */
const goodVectorLayer: fc.Arbitrary<Layer> = fc.oneof(
  fc.record({ units: fc.integer({ min: 1, max: 8 }), activation: fc.constantFrom('relu', 'tanh', 'linear', 'sigmoid') }).map((c) => ({ class_name: 'Dense', config: c })),
  fc.double({ min: 0, max: 0.9, noNaN: true }).map((rate) => ({ class_name: 'Dropout', config: { rate } })),
  fc.constantFrom('relu', 'elu', 'tanh').map((activation) => ({ class_name: 'Activation', config: { activation } })),
  fc.constant({ class_name: 'BatchNormalization', config: {} }),
  fc.constant({ class_name: 'LayerNormalization', config: { axis: -1 } }),
  fc.double({ min: 0, max: 1, noNaN: true }).map((stddev) => ({ class_name: 'GaussianNoise', config: { stddev } })),
  fc.constant({ class_name: 'LeakyReLU', config: { alpha: 0.2 } }),
);

/** A valid layer with one field replaced by a random value. */
const nearMissLayer = fc.tuple(goodVectorLayer, fc.constantFrom(...KEYS), fieldValue).map(([l, k, v]) => ({ class_name: l.class_name, config: { ...l.config, [k]: v } }));

/** A full job spec (small batch and step counts) around a generated model. */
export function fuzzJobSpec(classNames: readonly string[]): fc.Arbitrary<Record<string, unknown>> {
  const layer = fc.oneof({ arbitrary: goodVectorLayer, weight: 4 }, { arbitrary: anyLayer(classNames), weight: 2 }, { arbitrary: nearMissLayer, weight: 2 });
  return fc
    .record({
      dataset: fc.oneof({ arbitrary: fc.constant('iris' as const), weight: 6 }, { arbitrary: fc.constantFrom(...DATASET_IDS), weight: 1 }),
      first: layer,
      inputShape: fc.oneof({ arbitrary: fc.constant('dataset' as const), weight: 8 }, { arbitrary: fc.array(fc.oneof(fc.integer({ min: 0, max: 30 }), fc.constant(null)), { maxLength: 4 }), weight: 1 }),
      middle: fc.array(layer, { maxLength: 3 }),
      last: fc.oneof({ arbitrary: fc.constant('softmax' as const), weight: 6 }, { arbitrary: layer, weight: 1 }),
      flattenFirst: fc.boolean(),
    })
    .map(({ dataset, first, inputShape, middle, last, flattenFirst }) => {
      const ds = DATASETS[dataset];
      const shape = inputShape === 'dataset' ? [null, ...ds.featureShape] : inputShape;
      // non-vector datasets get a Flatten first most of the time, so vector layers fit after it
      const head: Layer[] = dataset !== 'iris' && flattenFirst ? [{ class_name: 'Flatten', config: { batch_input_shape: shape } }, first] : [{ ...first, config: { ...first.config, batch_input_shape: shape } }];
      const out: Layer = last === 'softmax' ? { class_name: 'Dense', config: { units: ds.numClasses, activation: 'softmax' } } : last;
      return {
        name: 'fuzz',
        model: { class_name: 'Sequential', config: { name: 'fuzz', layers: [...head, ...middle, out] } },
        optimizer: { name: 'sgd', learningRate: 0.1 },
        dataset: { id: dataset },
        batchSize: 8,
        steps: 1,
      };
    });
}
