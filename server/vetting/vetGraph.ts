/**
 * Vetting a functional topology (class_name 'Model' or 'Functional', what `tf.model(…).toJSON()`
 * produces): layers with `inbound_nodes`, `input_layers`, `output_layers`. Accepted: any DAG of
 * allowed layers whose branches join in merge layers (mergeRules.ts), with ONE output (the
 * loss compares one probability vector with the label) and one or more inputs.
 *
 * Stricter than tfjs so that a hostile graph is refused before tfjs sees it, in time linear in
 * its size: layers must be listed in topological order (every inbound reference names an
 * earlier layer, so a cycle or a forward reference cannot be written), every reference is
 * `[name, 0, 0, {}]` (a layer applied more than once — shared weights — is refused), names are
 * unique, every layer leads to the output, and fan-in and input counts are capped.
 *
 * Several inputs: the dataset's per-sample feature vector is split in `input_layers` order,
 * input k taking the next ∏(shape k) values in row-major order; the sizes must add up to the
 * dataset's feature size. One input must have the dataset's feature shape, as in a Sequential
 * model. shared/replica.ts feeds a model the same way.
 */
import { isObject, reject, type Json } from './fields.ts';
import { LAYER_RULES, type LayerCost } from './layerRules.ts';
import { checkName, checkOutput, checkTopKeys, commonFields, ConfigReader, endActivation, NAME, prod, restatedInputShape, Tally, type DatasetShape, type StaticVetting, type VettedLayer } from './layerVet.ts';
import type { VettingLimits } from './limits.ts';
import { MERGE_RULES, MIN_MERGE_INPUTS } from './mergeRules.ts';

const ENTRY_KEYS = new Set(['name', 'class_name', 'config', 'inbound_nodes']);
const CONFIG_KEYS = new Set(['name', 'layers', 'input_layers', 'output_layers']);
const MAX_INPUT_RANK = 4;

interface Ref {
  name: string;
  index: number;
}

/** `[name, 0, 0]` or `[name, 0, 0, {}]` naming a layer listed before `before` (or any layer when before is Infinity). */
function parseRef(where: string, v: unknown, index: ReadonlyMap<string, number>, before: number, withKwargs: boolean): Ref {
  if (!Array.isArray(v) || v.length < 3 || v.length > (withKwargs ? 4 : 3)) reject(where, `must be [layer name, 0, 0${withKwargs ? ', {}' : ''}]`);
  const [name, node, tensor, kwargs] = v as unknown[];
  if (typeof name !== 'string' || !NAME.test(name)) reject(where, 'must start with a layer name (1 to 128 of A-Z a-z 0-9 _ . -)');
  const i = index.get(name);
  if (i === undefined) reject(where, `refers to ${name}, which is not a layer of the model`);
  if (i >= before) reject(where, `refers to ${name}, which is not listed before it: layers must be in topological order (cycles are refused)`);
  if (node !== 0) reject(where, `node index must be 0 (a layer applied more than once, i.e. shared weights, is not supported), got ${JSON.stringify(node)?.slice(0, 20)}`);
  if (tensor !== 0) reject(where, `tensor index must be 0 (every allowed layer has one output), got ${JSON.stringify(tensor)?.slice(0, 20)}`);
  if (kwargs !== undefined && kwargs !== null && !(isObject(kwargs) && Object.keys(kwargs).length === 0)) reject(where, 'call arguments must be {} (none are supported)');
  return { name, index: i };
}

function inputShape(r: ConfigReader, limits: VettingLimits): number[] {
  const v = r.raw('batch_input_shape');
  const ok = Array.isArray(v) && v.length >= 2 && v.length <= MAX_INPUT_RANK + 1 && v[0] === null
    && v.slice(1).every((d) => Number.isSafeInteger(d) && (d as number) >= 1 && (d as number) <= limits.maxDimension);
  if (!ok) r.fail('batch_input_shape', `must be [null, d1, …] with 1 to ${MAX_INPUT_RANK} axes, each an integer in [1, ${limits.maxDimension}], got ${JSON.stringify(v)?.slice(0, 80)}`);
  if (r.raw('sparse') === true) r.fail('sparse', 'must be false');
  return (v as number[]).slice(1);
}

export function vetGraph(model: Json, dataset: DatasetShape, limits: VettingLimits): StaticVetting {
  checkTopKeys(model);
  const cfg = isObject(model.config) ? model.config : reject('model', 'config must be an object');
  for (const k of Object.keys(cfg)) if (!CONFIG_KEYS.has(k)) reject('model.config', `${k} is not a known key`);
  if (cfg.name !== undefined && (typeof cfg.name !== 'string' || !NAME.test(cfg.name))) reject('model.config', 'name must be 1 to 128 of A-Z a-z 0-9 _ . -');
  const entries = cfg.layers;
  if (!Array.isArray(entries) || entries.length < 1) reject('model.config', 'layers must be a non-empty array');
  if (entries.length > limits.maxLayers) reject('model.config', `layers: at most ${limits.maxLayers}, got ${entries.length}`);

  // names first: a reference must be to a layer that exists (checked below to be earlier)
  const index = new Map<string, number>();
  entries.forEach((entry: unknown, i: number) => {
    if (!isObject(entry)) reject(`layer ${i}`, 'must be an object {name, class_name, config, inbound_nodes}');
    for (const k of Object.keys(entry)) if (!ENTRY_KEYS.has(k)) reject(`layer ${i}`, `${k} is not a known key`);
    const name = checkName(`layer ${i}`, entry.name);
    if (!isObject(entry.config)) reject(`layer ${i} (${name})`, 'config must be an object');
    if (entry.config.name !== name) reject(`layer ${i} (${name})`, 'config.name must equal the entry\u2019s name');
    if (index.has(name)) reject(`layer ${i} (${name})`, 'name is used by an earlier layer');
    index.set(name, i);
  });

  const outs = cfg.output_layers;
  if (!Array.isArray(outs) || outs.length < 1) reject('model.config', 'output_layers must be a non-empty array');
  if (outs.length !== 1) reject('model.config', `output_layers: ${outs.length} outputs; tabswarm trains models with one output (the loss compares one probability vector with each sample's label)`);
  const output = parseRef('model.config: output_layers[0]', outs[0], index, Infinity, false);

  const ins = cfg.input_layers;
  if (!Array.isArray(ins) || ins.length < 1) reject('model.config', 'input_layers must be a non-empty array');
  if (ins.length > limits.maxModelInputs) reject('model.config', `input_layers: at most ${limits.maxModelInputs} inputs, got ${ins.length}`);
  const inputs = ins.map((v: unknown, k: number) => parseRef(`model.config: input_layers[${k}]`, v, index, Infinity, false));
  const inputOrder = new Map<number, number>();
  inputs.forEach((ref, k) => {
    if ((entries[ref.index] as Json).class_name !== 'InputLayer') reject(`model.config: input_layers[${k}]`, `${ref.name} is not an InputLayer`);
    if (inputOrder.has(ref.index)) reject(`model.config: input_layers[${k}]`, `${ref.name} is listed twice`);
    inputOrder.set(ref.index, k);
  });

  const shapes: number[][] = [];
  const inbound: number[][] = [];
  const layers: VettedLayer[] = [];
  const outEntries: Json[] = [];
  const activations: string[] = [];
  const tally = new Tally(limits);

  entries.forEach((e: unknown, i: number) => {
    const entry = e as Json;
    const name = entry.name as string;
    const className = entry.class_name;
    if (typeof className !== 'string') reject(`layer ${i} (${name})`, 'class_name must be a string');
    const where = `layer ${i} (${name}) ${className.slice(0, 64)}`;
    const isInput = className === 'InputLayer';
    const merge = Object.hasOwn(MERGE_RULES, className) ? MERGE_RULES[className]! : undefined;
    const rule = Object.hasOwn(LAYER_RULES, className) ? LAYER_RULES[className]! : undefined;
    if (!rule && !merge && !isInput) reject(where, `class_name is not an allowed layer (allowed: InputLayer, ${[...Object.keys(LAYER_RULES), ...Object.keys(MERGE_RULES)].join(', ')})`);

    const nodes = entry.inbound_nodes;
    let refs: Ref[] = [];
    if (isInput) {
      if (nodes !== undefined && !(Array.isArray(nodes) && nodes.length === 0)) reject(where, 'inbound_nodes must be [] on an InputLayer');
      if (!inputOrder.has(i)) reject(where, 'is not listed in input_layers');
    } else {
      if (!Array.isArray(nodes) || nodes.length === 0) reject(where, 'inbound_nodes must be [[[layer name, 0, 0, {}], …]]: a layer needs an input');
      if (nodes.length > 1) reject(where, `is applied ${nodes.length} times (inbound_nodes has ${nodes.length} nodes): a layer applied more than once (shared weights) is not supported`);
      const node = nodes[0];
      const most = merge ? limits.maxMergeInputs : 1;
      if (!Array.isArray(node) || node.length < 1 || node.length > most) {
        reject(where, merge ? `inbound_nodes[0] must list ${MIN_MERGE_INPUTS} to ${limits.maxMergeInputs} inputs` : 'inbound_nodes[0] must list exactly one input (only merge layers join branches)');
      }
      refs = node.map((v: unknown, k: number) => parseRef(`${where}: inbound_nodes[0][${k}]`, v, index, i, true));
      if (merge && refs.length < MIN_MERGE_INPUTS) reject(where, `a merge layer needs at least ${MIN_MERGE_INPUTS} inputs, got ${refs.length}`);
    }
    inbound.push(refs.map((ref) => ref.index));

    const r = new ConfigReader(where, entry.config as Json, limits);
    r.raw('name');
    let cost: LayerCost;
    if (isInput) {
      const shape = inputShape(r, limits);
      cost = { outputShape: shape, trainable: 0, nonTrainable: 0, macs: 0 };
    } else if (merge) {
      const b = r.raw('batch_input_shape');
      if (b !== undefined && b !== null) r.fail('batch_input_shape', 'must be absent on a merge layer');
      cost = merge(r, refs.map((ref) => shapes[ref.index]!));
    } else {
      const input = shapes[refs[0]!.index]!;
      restatedInputShape(r, input);
      cost = rule!(r, input);
    }
    const trainable = commonFields(r);
    const normalised = r.finish();
    const params = tally.add(where, cost, trainable);
    shapes.push([...cost.outputShape]);
    activations.push(endActivation(className, normalised));
    layers.push({ name, className, outputShape: [...cost.outputShape], params });
    outEntries.push({ name, class_name: className, config: normalised, inbound_nodes: isInput ? [] : [refs.map((ref) => [ref.name, 0, 0, {}])] });
  });

  // every layer leads to the output: tfjs would build a layer off that path, but train nothing of it
  const used = new Uint8Array(entries.length);
  used[output.index] = 1;
  for (let i = entries.length - 1; i >= 0; i--) if (used[i]) for (const j of inbound[i]!) used[j] = 1;
  const unused = used.findIndex((u) => u === 0);
  if (unused >= 0) reject(`layer ${unused} (${layers[unused]!.name}) ${layers[unused]!.className}`, 'does not lead to the model\u2019s output (every layer and input must)');

  // the dataset's feature vector, split over the inputs in input_layers order
  const inputShapes = inputs.map((ref) => shapes[ref.index]!);
  const feature = prod(dataset.featureShape);
  if (inputs.length === 1) {
    const s = inputShapes[0]!;
    if (s.length !== dataset.featureShape.length || s.some((d, k) => d !== dataset.featureShape[k])) {
      reject(`model.config: input_layers[0] (${inputs[0]!.name})`, `must have the dataset's feature shape [${dataset.featureShape.join(', ')}], got [${s.join(', ')}]`);
    }
  } else {
    const total = inputShapes.reduce((a, s) => a + prod(s), 0);
    if (total !== feature) {
      reject('model.config: input_layers', `the ${inputs.length} inputs take ${total} values per sample (${inputShapes.map((s) => `[${s.join(', ')}]`).join(' + ')}), the dataset has ${feature}: several inputs take the dataset's feature vector split in input_layers order, so their sizes must add up to it`);
    }
  }

  const last = layers[output.index]!;
  checkOutput(`layer ${output.index} (${last.name}) ${last.className}`, last.outputShape, activations[output.index]!, dataset);
  const outCfg = { ...cfg, layers: outEntries, input_layers: inputs.map((ref) => [ref.name, 0, 0]), output_layers: [[output.name, 0, 0]] };
  const { trainableParams, nonTrainableParams, activationFloatsPerSample, macsPerSample } = tally;
  return { trainableParams, nonTrainableParams, activationFloatsPerSample, macsPerSample, layers, outputShape: [...last.outputShape], lastActivation: activations[output.index]!, model: { ...model, config: outCfg } };
}
