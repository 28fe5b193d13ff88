/**
 * What vetting a Sequential stack (vetTopology.ts) and a functional graph (vetGraph.ts) share:
 * the model's top-level keys, layer names, the running totals checked against the caps after
 * every layer, and the check of the model's one output against the dataset.
 */
import { ConfigReader, isObject, reject, type Json } from './fields.ts';
import type { LayerCost } from './layerRules.ts';
import type { VettingLimits } from './limits.ts';

export interface DatasetShape {
  /** per-sample feature shape, e.g. [28, 28, 1] */
  featureShape: readonly number[];
  /**
   * the loss wants one probability per class from the last layer; absent: the output is left
   * to the task check (server/vetting/vetTask.ts), which knows the job's loss
   */
  classes?: number;
}

export interface VettedLayer {
  name: string;
  className: string;
  /** per sample, without the batch axis */
  outputShape: number[];
  /** trainable parameters of this layer */
  params: number;
}

export interface StaticVetting {
  trainableParams: number;
  nonTrainableParams: number;
  /** floats per sample summed over every layer's output */
  activationFloatsPerSample: number;
  macsPerSample: number;
  layers: VettedLayer[];
  /** the output layer's shape per sample, and its activation ('' when none is named) */
  outputShape: number[];
  lastActivation: string;
  /** the topology with int-or-array fields normalised to arrays (`kernel_size: 3` → `[3, 3]`) */
  model: Json;
}

export const NAME = /^[A-Za-z0-9_.-]{1,128}$/;
const TOP_KEYS = new Set(['class_name', 'config', 'keras_version', 'backend']);
export const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** class_name, config, and short keras_version / backend strings; nothing else. */
export function checkTopKeys(model: Json): void {
  for (const k of Object.keys(model)) {
    if (!TOP_KEYS.has(k)) reject('model', `${k} is not a known key`);
    if (k !== 'config' && k !== 'class_name' && (typeof model[k] !== 'string' || (model[k] as string).length > 64)) reject('model', `${k} must be a short string`);
  }
}

/**
 * A layer name: 1 to 128 of A-Z a-z 0-9 _ . -, and not a name every JavaScript object
 * answers to (`__proto__`, `constructor`, `toString`…): tfjs looks layers up by name in plain
 * objects when it rebuilds a graph.
 */
export function checkName(where: string, name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name)) reject(where, 'config.name must be 1 to 128 of A-Z a-z 0-9 _ . -');
  if (name in Object.prototype) reject(where, `config.name ${name} is reserved (a property of every JavaScript object)`);
  return name;
}

/** dtype and trainable, which every layer may carry; returns trainable. */
export function commonFields(r: ConfigReader): boolean {
  r.oneOf('dtype', ['float32'], 'float32');
  return r.bool('trainable', true);
}

/** A layer after the first may only restate its input shape in batch_input_shape. */
export function restatedInputShape(r: ConfigReader, input: readonly number[]): void {
  const v = r.raw('batch_input_shape');
  if (v !== undefined && v !== null && JSON.stringify(v) !== JSON.stringify([null, ...input])) {
    r.fail('batch_input_shape', `must be absent on a layer that is not an input (or equal [null, ${input.join(', ')}])`);
  }
}

/** Parameters, activations and compute so far, checked against the caps as each layer is added. */
export class Tally {
  trainableParams = 0;
  nonTrainableParams = 0;
  activationFloatsPerSample = 0;
  macsPerSample = 0;

  constructor(private readonly limits: VettingLimits) {}

  /** Adds a layer's cost; returns its trainable parameters (0 for a frozen layer). */
  add(where: string, cost: LayerCost, trainable: boolean): number {
    const { limits } = this;
    for (const d of cost.outputShape) {
      if (!Number.isSafeInteger(d) || d < 1 || d > limits.maxDimension) {
        reject(where, `output shape [${cost.outputShape.join(', ')}] has an axis outside [1, ${limits.maxDimension}]`);
      }
    }
    const params = trainable ? cost.trainable : 0;
    this.trainableParams += params;
    this.nonTrainableParams += cost.nonTrainable + (trainable ? 0 : cost.trainable);
    this.activationFloatsPerSample += prod(cost.outputShape);
    this.macsPerSample += cost.macs;
    if (this.trainableParams > limits.maxTrainableParams) reject(where, `brings the trainable parameters to ${this.trainableParams}, over the limit of ${limits.maxTrainableParams}`);
    if (this.trainableParams + this.nonTrainableParams > limits.maxTotalParams) {
      reject(where, `brings the parameters to ${this.trainableParams + this.nonTrainableParams}, over the limit of ${limits.maxTotalParams}`);
    }
    if (this.activationFloatsPerSample > limits.maxActivationFloatsPerSample) {
      reject(where, `brings the activations to ${this.activationFloatsPerSample} floats per sample, over the limit of ${limits.maxActivationFloatsPerSample}`);
    }
    if (this.macsPerSample > limits.maxMacsPerSample) reject(where, `brings the compute to ${this.macsPerSample} multiply-adds per sample, over the limit of ${limits.maxMacsPerSample}`);
    return params;
  }
}

/** The activation a layer ends in ('softmax' for a Softmax layer), from its normalised config. */
export function endActivation(className: string, normalised: Json): string {
  return className === 'Softmax' ? 'softmax' : typeof normalised.activation === 'string' ? normalised.activation : '';
}

/** The model's output against what the loss wants of the dataset. */
export function checkOutput(where: string, shape: readonly number[], lastActivation: string, dataset: DatasetShape): void {
  if (dataset.classes === undefined) return;
  if (shape.length !== 1 || shape[0] !== dataset.classes) {
    reject(where, `the model's output must be [${dataset.classes}] (one probability per class of the dataset), got [${shape.join(', ')}]`);
  }
  if (lastActivation !== 'softmax') reject(where, 'the last layer must end in a softmax (the loss is cross-entropy on probabilities)');
}

/** A layer entry's config as an object, or a refusal naming the layer. */
export function layerConfig(entry: Json, where: string): Json {
  if (!isObject(entry.config)) reject(`${where} ${String(entry.class_name).slice(0, 64)}`, 'config must be an object');
  return entry.config;
}

export { ConfigReader };
