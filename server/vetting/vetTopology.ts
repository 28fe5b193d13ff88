/**
 * The static half of model vetting: walks a Layers topology (what `model.toJSON()` produces)
 * without tfjs, refusing any layer class outside server/vetting/layerRules.ts (and, in a
 * functional graph, mergeRules.ts) and any config field it does not know, infers each layer's
 * output shape from the dataset's feature shape, and totals parameters, activations and
 * compute against `VettingLimits`. Nothing here allocates in proportion to the model's size,
 * so a model with a billion parameters is refused in microseconds.
 *
 * A Sequential stack is walked here; a functional graph ('Model' / 'Functional': layers with
 * inbound nodes, several inputs or branches, one output) in vetGraph.ts.
 */
import { isObject, reject, type Json } from './fields.ts';
import { LAYER_RULES, type LayerCost } from './layerRules.ts';
import { checkName, checkOutput, checkTopKeys, commonFields, ConfigReader, endActivation, layerConfig, NAME, restatedInputShape, Tally, type DatasetShape, type StaticVetting, type VettedLayer } from './layerVet.ts';
import { DEFAULT_VETTING_LIMITS, type VettingLimits } from './limits.ts';
import { MERGE_RULES } from './mergeRules.ts';
import { vetGraph } from './vetGraph.ts';

export type { DatasetShape, StaticVetting, VettedLayer } from './layerVet.ts';

function checkInputShape(r: ConfigReader, featureShape: readonly number[]): void {
  const v = r.raw('batch_input_shape');
  const want = `[null, ${featureShape.join(', ')}]`;
  if (v === undefined || v === null) r.fail('batch_input_shape', `is required on the first layer and must be ${want} (the dataset's feature shape)`);
  const ok = Array.isArray(v) && v.length === featureShape.length + 1 && v[0] === null && featureShape.every((d, i) => v[i + 1] === d);
  if (!ok) r.fail('batch_input_shape', `must be ${want} (the dataset's feature shape), got ${JSON.stringify(v).slice(0, 80)}`);
}

function layerName(entry: Json, index: number, seen: Set<string>): string {
  const where = `layer ${index}`;
  const cfg = layerConfig(entry, where);
  if (cfg.name === undefined || cfg.name === null) return `#${index}`;
  const name = checkName(where, cfg.name);
  if (seen.has(name)) reject(`${where} (${name})`, 'config.name is used by an earlier layer');
  seen.add(name);
  return name;
}

export function vetModelTopology(model: unknown, dataset: DatasetShape, limits: VettingLimits = DEFAULT_VETTING_LIMITS): StaticVetting {
  if (!isObject(model)) reject('model', 'must be a Layers topology object');
  const cls = model.class_name;
  if (cls === 'Model' || cls === 'Functional') return vetGraph(model, dataset, limits);
  if (cls !== 'Sequential') reject('model', `class_name must be Sequential, Functional or Model, got ${JSON.stringify(cls)?.slice(0, 64)}`);
  checkTopKeys(model);
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
  const tally = new Tally(limits);
  let shape: readonly number[] = dataset.featureShape;
  let lastActivation = '';

  entries.forEach((entry: unknown, i: number) => {
    if (!isObject(entry)) reject(`layer ${i}`, 'must be an object {class_name, config}');
    for (const k of Object.keys(entry)) if (k !== 'class_name' && k !== 'config') reject(`layer ${i}`, `${k} is not a known key`);
    const className = entry.class_name;
    if (typeof className !== 'string') reject(`layer ${i}`, 'class_name must be a string');
    const name = layerName(entry, i, names);
    const where = `layer ${i} (${name}) ${className.slice(0, 64)}`;
    const isInput = className === 'InputLayer';
    if (Object.hasOwn(MERGE_RULES, className)) reject(where, 'a merge layer joins branches: it needs a functional model (tf.model), not a Sequential one');
    const rule = Object.hasOwn(LAYER_RULES, className) ? LAYER_RULES[className] : undefined;
    if (!rule && !isInput) reject(where, `class_name is not an allowed layer (allowed: InputLayer, ${Object.keys(LAYER_RULES).join(', ')}; in functional models also ${Object.keys(MERGE_RULES).join(', ')})`);
    if (isInput && i !== 0) reject(where, 'an InputLayer must be the first layer');
    const r = new ConfigReader(where, entry.config as Json, limits);
    r.raw('name');
    // tfjs's Sequential reads batch_input_shape on the first layer only; elsewhere it may only restate the shape
    if (i === 0) checkInputShape(r, dataset.featureShape);
    else restatedInputShape(r, shape);
    const trainable = commonFields(r);
    let cost: LayerCost;
    if (isInput) {
      if (r.raw('sparse') === true) r.fail('sparse', 'must be false');
      cost = { outputShape: [...shape], trainable: 0, nonTrainable: 0, macs: 0 };
    } else cost = rule!(r, shape);
    const normalised = r.finish();
    const params = tally.add(where, cost, trainable);
    lastActivation = endActivation(className, normalised);
    layers.push({ name, className, outputShape: [...cost.outputShape], params });
    outEntries.push({ class_name: className, config: normalised });
    shape = cost.outputShape;
  });

  const last = layers.at(-1)!;
  checkOutput(`layer ${layers.length - 1} (${last.name}) ${last.className}`, shape, lastActivation, dataset);
  const outCfg = legacy ? outEntries : { ...cfg, layers: outEntries };
  const { trainableParams, nonTrainableParams, activationFloatsPerSample, macsPerSample } = tally;
  return { trainableParams, nonTrainableParams, activationFloatsPerSample, macsPerSample, layers, outputShape: [...shape], lastActivation, model: { ...model, config: outCfg } };
}
