/**
 * A small model for an uploaded dataset, as a declarative Sequential Layers topology (what
 * `model.toJSON()` gives, no tfjs needed in the page): Flatten when the features have more
 * than one axis, Dense(hidden, relu), then the output the loss wants — one unit per class
 * (softmax, or logits), one sigmoid (or logit) unit for binaryCrossentropy, or the target's
 * elements (linear, reshaped to the target shape) for a regression.
 */
import type { LossName } from '../../shared/losses.ts';
import { lossTask } from '../../shared/losses.ts';

export interface AutoModelInput {
  featureShape: readonly number[];
  numClasses: number | null;
  targetShape: readonly number[] | null;
  loss: LossName;
  fromLogits: boolean;
  hidden?: number;
}

const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

export function autoModel(o: AutoModelInput): Record<string, unknown> {
  const task = lossTask(o.loss);
  const layers: Record<string, unknown>[] = [];
  const input = { batch_input_shape: [null, ...o.featureShape] };
  if (o.featureShape.length > 1) layers.push({ class_name: 'Flatten', config: { name: 'flatten', ...input } });
  layers.push({ class_name: 'Dense', config: { name: 'hidden', units: o.hidden ?? 32, activation: 'relu', ...(layers.length === 0 ? input : {}) } });
  if (task === 'regression') {
    const t = o.targetShape ?? [1];
    layers.push({ class_name: 'Dense', config: { name: 'out', units: prod(t), activation: 'linear' } });
    if (t.length > 1) layers.push({ class_name: 'Reshape', config: { name: 'target', target_shape: [...t] } });
  } else if (task === 'binary') {
    layers.push({ class_name: 'Dense', config: { name: 'out', units: 1, activation: o.fromLogits ? 'linear' : 'sigmoid' } });
  } else {
    layers.push({ class_name: 'Dense', config: { name: 'out', units: o.numClasses ?? 2, activation: o.fromLogits ? 'linear' : 'softmax' } });
  }
  return { class_name: 'Sequential', config: { name: 'auto', layers } };
}
