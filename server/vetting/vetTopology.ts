/**
 * The static half of model vetting: walks a Sequential Layers topology (what `model.toJSON()`
 * produces) without tfjs, refusing any layer class outside server/vetting/layerRules.ts and
 * any config field it does not know, infers each layer's output shape from the dataset's
 * feature shape, and totals parameters, activations and compute against `VettingLimits`.
 * Nothing here allocates in proportion to the model's size, so a model with a billion
 * parameters is refused in microseconds.
 *
 * Functional topologies ('Model' / 'Functional': a layer graph with inbound nodes) are refused
 * for now: every preset and the dashboard's form produce Sequential models.
 */
import { ConfigReader, isObject, reject, type Json } from './fields.ts';
import { LAYER_RULES, type LayerCost } from './layerRules.ts';
import { DEFAULT_VETTING_LIMITS, type VettingLimits } from './limits.ts';

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
  /** the last layer's output shape per sample, and its activation ('' when none is named) */
  outputShape: number[];
  lastActivation: string;
  /** the topology with int-or-array fields normalised to arrays (`kernel_size: 3` → `[3, 3]`) */
  model: Json;
}

const NAME = /^[A-Za-z0-9_.-]{1,128}$/;
const TOP_KEYS = new Set(['class_name', 'config', 'keras_version', 'backend']);
const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function checkInputShape(r: ConfigReader, featureShape: readonly number[]): void {
  const v = r.raw('batch_input_shape');
  const want = `[null, ${featureShape.join(', ')}]`;
  if (v === undefined || v === null) r.fail('batch_input_shape', `is required on the first layer and must be ${want} (the dataset's feature shape)`);
  const ok = Array.isArray(v) && v.length === featureShape.length + 1 && v[0] === null && featureShape.every((d, i) => v[i + 1] === d);
  if (!ok) r.fail('batch_input_shape', `must be ${want} (the dataset's feature shape), got ${JSON.stringify(v).slice(0, 80)}`);
}

/** The fields every layer may carry. */
function commonFields(r: ConfigReader, index: number, input: readonly number[], featureShape: readonly number[]): boolean {
  if (index === 0) checkInputShape(r, featureShape);
  else {
    const v = r.raw('batch_input_shape');
    // tfjs's Sequential reads it on the first layer only; elsewhere it may only restate the shape
    if (v !== undefined && v !== null && JSON.stringify(v) !== JSON.stringify([null, ...input])) {
      r.fail('batch_input_shape', `must be absent on a layer after the first (or equal [null, ${input.join(', ')}])`);
    }
  }
  r.oneOf('dtype', ['float32'], 'float32');
  return r.bool('trainable', true);
}

function layerName(entry: Json, index: number, seen: Set<string>): string {
  const cfg = entry.config;
  const where = `layer ${index}`;
  if (!isObject(cfg)) reject(`${where} ${String(entry.class_name).slice(0, 64)}`, 'config must be an object');
  const name = cfg.name;
  if (name === undefined || name === null) return `#${index}`;
  if (typeof name !== 'string' || !NAME.test(name)) reject(where, 'config.name must be 1 to 128 of A-Z a-z 0-9 _ . -');
  if (seen.has(name)) reject(`${where} (${name})`, 'config.name is used by an earlier layer');
  seen.add(name);
  return name;
}

export function vetModelTopology(model: unknown, dataset: DatasetShape, limits: VettingLimits = DEFAULT_VETTING_LIMITS): StaticVetting {
  if (!isObject(model)) reject('model', 'must be a Layers topology object');
  const cls = model.class_name;
  if (cls === 'Model' || cls === 'Functional') reject('model', `class_name ${cls}: functional topologies are not accepted yet; use Sequential`);
  if (cls !== 'Sequential') reject('model', `class_name must be Sequential, got ${JSON.stringify(cls)?.slice(0, 64)}`);
  for (const k of Object.keys(model)) {
    if (!TOP_KEYS.has(k)) reject('model', `${k} is not a known key`);
    if (k !== 'config' && k !== 'class_name' && (typeof model[k] !== 'string' || (model[k] as string).length > 64)) reject('model', `${k} must be a short string`);
  }
  const legacy = Array.isArray(model.config); // tfjs also reads a bare array of layers
  const cfg: Json = legacy ? { layers: model.config } : isObject(model.config) ? model.config : reject('model', 'config must be an object');
  for (const k of Object.keys(cfg)) if (k !== 'name' && k !== 'layers') reject('model.config', `${k} is not a known key`);
  if (cfg.name !== undefined && (typeof cfg.name !== 'string' || !NAME.test(cfg.name))) reject('model.config', 'name must be 1 to 128 of A-Z a-z 0-9 _ . -');
  const entries = cfg.layers;
  if (!Array.isArray(entries) || entries.length < 1) reject('model.config', 'layers must be a non-empty array');
  if (entries.length > limits.maxLayers) reject('model.config', `layers: at most ${limits.maxLayers}, got ${entries.length}`);

  const names = new Set<string>();
  const layers: VettedLayer[] = [];
  const outEntries: Json[] = [];
  let shape: readonly number[] = dataset.featureShape;
  let trainableParams = 0;
  let nonTrainableParams = 0;
  let activationFloatsPerSample = 0;
  let macsPerSample = 0;
  let lastActivation = '';

  entries.forEach((entry: unknown, i: number) => {
    if (!isObject(entry)) reject(`layer ${i}`, 'must be an object {class_name, config}');
    for (const k of Object.keys(entry)) if (k !== 'class_name' && k !== 'config') reject(`layer ${i}`, `${k} is not a known key`);
    const className = entry.class_name;
    if (typeof className !== 'string') reject(`layer ${i}`, 'class_name must be a string');
    const name = layerName(entry, i, names);
    const where = `layer ${i} (${name}) ${className.slice(0, 64)}`;
    const isInput = className === 'InputLayer';
    const rule = Object.hasOwn(LAYER_RULES, className) ? LAYER_RULES[className] : undefined;
    if (!rule && !isInput) reject(where, `class_name is not an allowed layer (allowed: InputLayer, ${Object.keys(LAYER_RULES).join(', ')})`);
    if (isInput && i !== 0) reject(where, 'an InputLayer must be the first layer');
    const r = new ConfigReader(where, entry.config as Json, limits);
    r.raw('name');
    const trainable = commonFields(r, i, shape, dataset.featureShape);
    let cost: LayerCost;
    if (isInput) {
      if (r.raw('sparse') === true) r.fail('sparse', 'must be false');
      cost = { outputShape: [...shape], trainable: 0, nonTrainable: 0, macs: 0 };
    } else cost = rule!(r, shape);
    const normalised = r.finish();
    for (const d of cost.outputShape) {
      if (!Number.isSafeInteger(d) || d < 1 || d > limits.maxDimension) {
        reject(where, `output shape [${cost.outputShape.join(', ')}] has an axis outside [1, ${limits.maxDimension}]`);
      }
    }
    const params = trainable ? cost.trainable : 0;
    trainableParams += params;
    nonTrainableParams += cost.nonTrainable + (trainable ? 0 : cost.trainable);
    activationFloatsPerSample += prod(cost.outputShape);
    macsPerSample += cost.macs;
    if (trainableParams > limits.maxTrainableParams) reject(where, `brings the trainable parameters to ${trainableParams}, over the limit of ${limits.maxTrainableParams}`);
    if (trainableParams + nonTrainableParams > limits.maxTotalParams) reject(where, `brings the parameters to ${trainableParams + nonTrainableParams}, over the limit of ${limits.maxTotalParams}`);
    if (activationFloatsPerSample > limits.maxActivationFloatsPerSample) {
      reject(where, `brings the activations to ${activationFloatsPerSample} floats per sample, over the limit of ${limits.maxActivationFloatsPerSample}`);
    }
    if (macsPerSample > limits.maxMacsPerSample) reject(where, `brings the compute to ${macsPerSample} multiply-adds per sample, over the limit of ${limits.maxMacsPerSample}`);
    lastActivation = className === 'Softmax' ? 'softmax' : typeof normalised.activation === 'string' ? normalised.activation : '';
    layers.push({ name, className, outputShape: [...cost.outputShape], params });
    outEntries.push({ class_name: className, config: normalised });
    shape = cost.outputShape;
  });

  const last = layers.at(-1)!;
  const where = `layer ${layers.length - 1} (${last.name}) ${last.className}`;
  if (dataset.classes !== undefined) {
    if (shape.length !== 1 || shape[0] !== dataset.classes) {
      reject(where, `the model's output must be [${dataset.classes}] (one probability per class of the dataset), got [${shape.join(', ')}]`);
    }
    if (lastActivation !== 'softmax') reject(where, 'the last layer must end in a softmax (the loss is cross-entropy on probabilities)');
  }

  const outCfg = legacy ? outEntries : { ...cfg, layers: outEntries };
  return { trainableParams, nonTrainableParams, activationFloatsPerSample, macsPerSample, layers, outputShape: [...shape], lastActivation, model: { ...model, config: outCfg } };
}
