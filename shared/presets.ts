/**
 * Named jobs a owner can post as `{ "preset": NAME }`. Models are written with tfjs's own
 * layer API and stored as the Layers JSON that `model.toJSON()` produces, exactly like an
 * uploaded model would be.
 */
import type * as tfjs from '@tensorflow/tfjs';
import type { JobSpecInput } from './jobSpec.ts';
import { SOTU_CONTEXT, SOTU_VOCAB } from './sotu.ts';

type Tf = typeof tfjs;

export const PRESET_NAMES = ['iris-mlp', 'mnist-mlp', 'mnist-cnn', 'sotu-char'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

function topology(model: tfjs.Sequential): Record<string, unknown> {
  const json = model.toJSON(undefined, false) as unknown as Record<string, unknown>;
  model.dispose();
  return json;
}

export function presetSpec(tf: Tf, name: PresetName): JobSpecInput {
  switch (name) {
    case 'iris-mlp':
      return {
        name: 'Iris MLP',
        model: topology(
          tf.sequential({
            layers: [tf.layers.dense({ inputShape: [4], units: 16, activation: 'relu' }), tf.layers.dense({ units: 3, activation: 'softmax' })],
          }),
        ) as JobSpecInput['model'],
        optimizer: { name: 'adam', learningRate: 0.02 },
        dataset: { id: 'iris' },
        batchSize: 30,
        steps: 60,
        seed: 7,
      };
    case 'mnist-mlp':
      return {
        name: 'MNIST MLP',
        model: topology(
          tf.sequential({
            layers: [
              tf.layers.flatten({ inputShape: [28, 28, 1] }),
              tf.layers.dense({ units: 128, activation: 'relu' }),
              tf.layers.dense({ units: 10, activation: 'softmax' }),
            ],
          }),
        ) as JobSpecInput['model'],
        optimizer: { name: 'adam', learningRate: 0.002 },
        dataset: { id: 'mnist' },
        batchSize: 128,
        steps: 300,
        seed: 42,
        evalEvery: 50,
      };
    case 'mnist-cnn':
      return {
        name: 'MNIST CNN',
        model: topology(
          tf.sequential({
            layers: [
              tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 8, kernelSize: 3, activation: 'relu' }),
              tf.layers.maxPooling2d({ poolSize: 2 }),
              tf.layers.conv2d({ filters: 16, kernelSize: 3, activation: 'relu' }),
              tf.layers.maxPooling2d({ poolSize: 2 }),
              tf.layers.flatten(),
              tf.layers.dense({ units: 64, activation: 'relu' }),
              tf.layers.dense({ units: 10, activation: 'softmax' }),
            ],
          }),
        ) as JobSpecInput['model'],
        optimizer: { name: 'adam', learningRate: 0.002 },
        dataset: { id: 'mnist' },
        batchSize: 64,
        steps: 300,
        seed: 42,
        evalEvery: 50,
      };
    case 'sotu-char':
      // next character from the previous 32, on a 50k-sample slice of the addresses (the whole text is 322k samples)
      return {
        name: 'SOTU char model',
        model: topology(
          tf.sequential({
            layers: [
              tf.layers.embedding({ inputShape: [SOTU_CONTEXT], inputDim: SOTU_VOCAB, outputDim: 16 }),
              tf.layers.flatten(),
              tf.layers.dense({ units: 128, activation: 'relu' }),
              tf.layers.dense({ units: SOTU_VOCAB, activation: 'softmax' }),
            ],
          }),
        ) as JobSpecInput['model'],
        optimizer: { name: 'adam', learningRate: 0.003 },
        dataset: { id: 'sotu', trainSize: 50_000, testSize: 2_000 },
        batchSize: 128,
        steps: 500,
        seed: 11,
        evalEvery: 100,
      };
  }
}
