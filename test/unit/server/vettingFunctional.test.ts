/**
 * Vetting functional topologies (server/vetting/vetGraph.ts): branches joined by merge
 * layers and several inputs are accepted with tfjs's own shapes and parameter counts; more
 * than one output, cycles, references to nothing, shared layers, duplicate or reserved names,
 * layers that lead nowhere and graphs over the caps are refused with MODEL_REJECTED and a
 * message naming why.
 */
import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { vetSpec } from '../../../server/jobs.ts';
import { DEFAULT_VETTING_LIMITS } from '../../../server/vetting/limits.ts';
import { vetModelTopology, type DatasetShape } from '../../../server/vetting/vetTopology.ts';
import { errorCode, TabswarmError } from '../../../shared/errors.ts';
import { jobSpecSchema } from '../../../shared/jobSpec.ts';

const IRIS: DatasetShape = { featureShape: [4], classes: 3 };
const MNIST: DatasetShape = { featureShape: [28, 28, 1], classes: 10 };
type Json = Record<string, unknown>;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function refusal(f: () => unknown): TabswarmError {
  try {
    f();
  } catch (e) {
    expect(errorCode(e)).toBe('MODEL_REJECTED');
    return e as TabswarmError;
  }
  throw new Error('expected a refusal');
}

const toJson = (m: tf.LayersModel): Json => {
  const j = m.toJSON(undefined, false) as unknown as Json;
  m.dispose();
  return j;
};

/** Two inputs (iris's 4 features as [2] + [2]), two branches joined by Add and Concatenate, BN and Dropout on a branch. */
function twoInputs(): Json {
  const a = tf.input({ shape: [2], name: 'a' });
  const b = tf.input({ shape: [2], name: 'b' });
  const da = tf.layers.dense({ units: 8, activation: 'relu', name: 'da' }).apply(a) as tf.SymbolicTensor;
  const db = tf.layers.dense({ units: 8, useBias: false, name: 'db' }).apply(b) as tf.SymbolicTensor;
  const bn = tf.layers.batchNormalization({ name: 'bn' }).apply(db) as tf.SymbolicTensor;
  const drop = tf.layers.dropout({ rate: 0.2, name: 'drop' }).apply(bn) as tf.SymbolicTensor;
  const sum = tf.layers.add({ name: 'sum' }).apply([da, drop]) as tf.SymbolicTensor;
  const cat = tf.layers.concatenate({ name: 'cat' }).apply([sum, da]) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, activation: 'softmax', name: 'out' }).apply(cat) as tf.SymbolicTensor;
  return toJson(tf.model({ inputs: [a, b], outputs: out }));
}

/** One input with every merge class (Add, Multiply, Average, Maximum, Minimum, Concatenate on axis 1, Dot). */
function everyMerge(): Json {
  const x = tf.input({ shape: [4], name: 'x' });
  const p = tf.layers.dense({ units: 6, name: 'p' }).apply(x) as tf.SymbolicTensor;
  const q = tf.layers.dense({ units: 6, activation: 'tanh', name: 'q' }).apply(x) as tf.SymbolicTensor;
  const merged = [tf.layers.add({}), tf.layers.multiply({}), tf.layers.average({}), tf.layers.maximum({}), tf.layers.minimum({})].map((l) => l.apply([p, q]) as tf.SymbolicTensor);
  const dot = tf.layers.dot({ axes: -1, normalize: true }).apply([p, q]) as tf.SymbolicTensor;
  const cat = tf.layers.concatenate({ axis: 1 }).apply([...merged, dot]) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, activation: 'softmax' }).apply(cat) as tf.SymbolicTensor;
  return toJson(tf.model({ inputs: x, outputs: out }));
}

/** A CNN branch and a dense branch of MNIST, concatenated. */
function mnistBranches(): Json {
  const x = tf.input({ shape: [28, 28, 1], name: 'img' });
  const c = tf.layers.conv2d({ filters: 2, kernelSize: 3, activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  const pool = tf.layers.maxPooling2d({ poolSize: 2 }).apply(c) as tf.SymbolicTensor;
  const f1 = tf.layers.flatten().apply(pool) as tf.SymbolicTensor;
  const f2 = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
  const d = tf.layers.dense({ units: 16, activation: 'relu' }).apply(f2) as tf.SymbolicTensor;
  const cat = tf.layers.concatenate().apply([f1, d]) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 10, activation: 'softmax' }).apply(cat) as tf.SymbolicTensor;
  return toJson(tf.model({ inputs: x, outputs: out }));
}

const cfg = (m: Json) => m.config as { layers: Json[]; input_layers: unknown[]; output_layers: unknown[] };
const clone = (m: Json) => structuredClone(m);
const byName = (m: Json, name: string) => cfg(m).layers.find((l) => l.name === name)!;
const spec = (model: Json, dataset = 'iris') => jobSpecSchema.parse({ model, optimizer: { name: 'adam', learningRate: 0.01 }, dataset: { id: dataset }, batchSize: 16, steps: 1 });

describe('functional topologies: accepted', () => {
  it('two inputs, branches joined by Add and Concatenate, BN and Dropout: tfjs builds it with the vetter\u2019s shapes and counts', async () => {
    const v = await vetSpec(tf, spec(twoInputs()));
    // da 2·8+8, db 2·8, bn γ β 2·8, out 16·3+3
    expect(v.trainableParams).toBe(24 + 16 + 16 + 51);
    expect(v.nonTrainableParams).toBe(16);
    const shapes = Object.fromEntries(v.layers.map((l) => [l.name, l.outputShape]));
    expect(shapes).toMatchObject({ a: [2], b: [2], sum: [8], cat: [16], out: [3] });
    // the normalised topology keeps the graph: tfjs rebuilds it with the same inputs and output
    const built = await tf.models.modelFromJSON(structuredClone(v.model) as never);
    expect(built.inputs.map((t) => t.shape)).toEqual([[null, 2], [null, 2]]);
    expect(built.outputs.map((t) => t.shape)).toEqual([[null, 3]]);
    built.dispose();
  });

  it('every merge class on one input', async () => {
    const v = await vetSpec(tf, spec(everyMerge()));
    const byClass = new Map(v.layers.map((l) => [l.className, l.outputShape]));
    for (const c of ['Add', 'Multiply', 'Average', 'Maximum', 'Minimum']) expect(byClass.get(c)).toEqual([6]);
    expect(byClass.get('Dot')).toEqual([1]);
    expect(byClass.get('Concatenate')).toEqual([31]);
  });

  it('a conv branch and a dense branch of MNIST', async () => {
    const v = await vetSpec(tf, spec(mnistBranches(), 'mnist'));
    expect(v.layers.find((l) => l.className === 'Concatenate')!.outputShape).toEqual([13 * 13 * 2 + 16]);
  });
});

describe('functional topologies: refused with a reason', () => {
  it('several outputs', () => {
    const x = tf.input({ shape: [4] });
    const o1 = tf.layers.dense({ units: 3, activation: 'softmax' }).apply(x) as tf.SymbolicTensor;
    const o2 = tf.layers.dense({ units: 3, activation: 'softmax' }).apply(x) as tf.SymbolicTensor;
    const m = toJson(tf.model({ inputs: x, outputs: [o1, o2] }));
    expect(refusal(() => vetModelTopology(m, IRIS)).message).toMatch(/output_layers: 2 outputs; tabswarm trains models with one output/);
  });

  it('inputs whose sizes do not add up to the dataset\u2019s features, or one input of another shape', () => {
    const m = twoInputs();
    (byName(m, 'b').config as Json).batch_input_shape = [null, 3];
    expect(refusal(() => vetModelTopology(m, IRIS)).message).toMatch(/the 2 inputs take 5 values per sample \(\[2\] \+ \[3\]\), the dataset has 4/);
    expect(refusal(() => vetModelTopology(everyMerge(), { featureShape: [5], classes: 3 })).message).toMatch(/input_layers\[0\] \(x\): must have the dataset's feature shape \[5\]/);
  });

  it('a cycle, a reference to a later layer or to itself, a reference to nothing', () => {
    const later = twoInputs();
    (byName(later, 'da').inbound_nodes as unknown[][][])[0]![0]![0] = 'cat';
    expect(refusal(() => vetModelTopology(later, IRIS)).message).toMatch(/refers to cat, which is not listed before it: layers must be in topological order \(cycles are refused\)/);
    const self = twoInputs();
    (byName(self, 'cat').inbound_nodes as unknown[][][])[0]![1]![0] = 'cat';
    expect(refusal(() => vetModelTopology(self, IRIS)).message).toMatch(/refers to cat, which is not listed before it/);
    const dangling = twoInputs();
    (byName(dangling, 'sum').inbound_nodes as unknown[][][])[0]![0]![0] = 'ghost';
    expect(refusal(() => vetModelTopology(dangling, IRIS)).message).toMatch(/refers to ghost, which is not a layer of the model/);
    const out = twoInputs();
    cfg(out).output_layers = [['nowhere', 0, 0]];
    expect(refusal(() => vetModelTopology(out, IRIS)).message).toMatch(/output_layers\[0\]: refers to nowhere/);
  });

  it('duplicate names, reserved names, an entry name unlike its config name', () => {
    const dup = twoInputs();
    const catLayer = byName(dup, 'cat');
    catLayer.name = 'sum';
    (catLayer.config as Json).name = 'sum';
    expect(refusal(() => vetModelTopology(dup, IRIS)).message).toMatch(/\(sum\): name is used by an earlier layer/);
    for (const reserved of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      const m = twoInputs();
      const l = byName(m, 'out');
      l.name = reserved;
      (l.config as Json).name = reserved;
      cfg(m).output_layers = [[reserved, 0, 0]];
      expect(refusal(() => vetModelTopology(m, IRIS)).message).toMatch(/is reserved/);
    }
    const unlike = twoInputs();
    byName(unlike, 'out').name = 'other';
    expect(refusal(() => vetModelTopology(unlike, IRIS)).message).toMatch(/config.name must equal the entry/);
  });

  it('a shared layer (applied twice), a non-zero node or tensor index, call arguments', () => {
    const x = tf.input({ shape: [4] });
    const shared = tf.layers.dense({ units: 4, activation: 'relu' });
    const h = shared.apply(shared.apply(x)) as tf.SymbolicTensor;
    const m = toJson(tf.model({ inputs: x, outputs: tf.layers.dense({ units: 3, activation: 'softmax' }).apply(h) as tf.SymbolicTensor }));
    expect(refusal(() => vetModelTopology(m, IRIS)).message).toMatch(/applied 2 times .*shared weights/);
    for (const [k, v, why] of [[1, 1, /node index must be 0/], [2, 1, /tensor index must be 0/], [3, { training: true }, /call arguments must be \{\}/]] as const) {
      const g = twoInputs();
      (byName(g, 'sum').inbound_nodes as unknown[][][])[0]![0]![k] = v;
      expect(refusal(() => vetModelTopology(g, IRIS)).message).toMatch(why);
    }
  });

  it('a layer off the path to the output, an input nobody uses, an InputLayer not in input_layers', () => {
    const off = twoInputs();
    cfg(off).layers.push({ name: 'idle', class_name: 'Dense', config: { name: 'idle', units: 4 }, inbound_nodes: [[['da', 0, 0, {}]]] });
    expect(refusal(() => vetModelTopology(off, IRIS)).message).toMatch(/\(idle\) Dense: does not lead to the model.s output/);
    const unused = twoInputs();
    (byName(unused, 'da').inbound_nodes as unknown[][][])[0]![0]![0] = 'b';
    expect(refusal(() => vetModelTopology(unused, IRIS)).message).toMatch(/\(a\) InputLayer: does not lead to the model.s output/);
    const unlisted = twoInputs();
    cfg(unlisted).input_layers = [['a', 0, 0]];
    expect(refusal(() => vetModelTopology(unlisted, IRIS)).message).toMatch(/\(b\) InputLayer: is not listed in input_layers/);
    const notInput = twoInputs();
    cfg(notInput).input_layers = [['a', 0, 0], ['da', 0, 0]];
    expect(refusal(() => vetModelTopology(notInput, IRIS)).message).toMatch(/da is not an InputLayer/);
  });

  it('merges with mismatched shapes, one input, or on the batch axis; merges in a Sequential model; two inputs to a Dense', () => {
    const add = everyMerge();
    const q = cfg(add).layers.find((l) => l.name === 'q')!;
    (q.config as Json).units = 5;
    expect(refusal(() => vetModelTopology(add, IRIS)).message).toMatch(/Add: inputs must all have one shape/);
    const one = twoInputs();
    (byName(one, 'sum').inbound_nodes as unknown[][][])[0]!.pop();
    expect(refusal(() => vetModelTopology(one, IRIS)).message).toMatch(/a merge layer needs at least 2 inputs/);
    const axis0 = twoInputs();
    (byName(axis0, 'cat').config as Json).axis = 0;
    expect(refusal(() => vetModelTopology(axis0, IRIS)).message).toMatch(/axis must be an integer in \[-1, -1\] or \[1, 1\] \(not the batch axis 0\)/);
    const seq = { class_name: 'Sequential', config: { layers: [{ class_name: 'Dense', config: { units: 4, batch_input_shape: [null, 4] } }, { class_name: 'Add', config: {} }] } };
    expect(refusal(() => vetModelTopology(seq, IRIS)).message).toMatch(/a merge layer joins branches: it needs a functional model/);
    const two = twoInputs();
    (byName(two, 'out').inbound_nodes as unknown[][][])[0]!.push(['da', 0, 0, {}]);
    expect(refusal(() => vetModelTopology(two, IRIS)).message).toMatch(/must list exactly one input \(only merge layers join branches\)/);
  });

  it('huge fan-in, fan-out and input counts stay under the caps', () => {
    const wide = (n: number): Json => {
      const layers: Json[] = [{ name: 'x', class_name: 'InputLayer', config: { name: 'x', batch_input_shape: [null, 4] }, inbound_nodes: [] }];
      for (let i = 0; i < n; i++) layers.push({ name: `d${i}`, class_name: 'Dense', config: { name: `d${i}`, units: 3 }, inbound_nodes: [[['x', 0, 0, {}]]] });
      layers.push({ name: 'sum', class_name: 'Add', config: { name: 'sum' }, inbound_nodes: [layers.slice(1).map((l) => [l.name, 0, 0, {}])] });
      layers.push({ name: 'out', class_name: 'Softmax', config: { name: 'out' }, inbound_nodes: [[['sum', 0, 0, {}]]] });
      return { class_name: 'Functional', config: { name: 'm', layers, input_layers: [['x', 0, 0]], output_layers: [['out', 0, 0]] } };
    };
    expect(vetModelTopology(wide(DEFAULT_VETTING_LIMITS.maxMergeInputs), IRIS).layers).toHaveLength(DEFAULT_VETTING_LIMITS.maxMergeInputs + 3);
    expect(refusal(() => vetModelTopology(wide(DEFAULT_VETTING_LIMITS.maxMergeInputs + 1), IRIS)).message).toMatch(/must list 2 to 32 inputs/);
    expect(refusal(() => vetModelTopology(wide(400), IRIS)).message).toMatch(/layers: at most 256/);
    const many = (n: number): Json => {
      const ins = Array.from({ length: n }, (_, i) => ({ name: `i${i}`, class_name: 'InputLayer', config: { name: `i${i}`, batch_input_shape: [null, 1] }, inbound_nodes: [] }));
      const layers: Json[] = [...ins, { name: 'cat', class_name: 'Concatenate', config: { name: 'cat' }, inbound_nodes: [ins.map((l) => [l.name, 0, 0, {}])] }, { name: 'out', class_name: 'Dense', config: { name: 'out', units: 3, activation: 'softmax' }, inbound_nodes: [[['cat', 0, 0, {}]]] }];
      return { class_name: 'Model', config: { layers, input_layers: ins.map((l) => [l.name, 0, 0]), output_layers: [['out', 0, 0]] } };
    };
    expect(vetModelTopology(many(16), { featureShape: [16], classes: 3 }).layers).toHaveLength(18);
    expect(refusal(() => vetModelTopology(many(17), { featureShape: [17], classes: 3 })).message).toMatch(/input_layers: at most 16 inputs/);
    // a deep chain of merges of ever wider concatenations runs into the activation cap, not the server's memory
    const deep: Json[] = [{ name: 'x', class_name: 'InputLayer', config: { name: 'x', batch_input_shape: [null, 28, 28, 1] }, inbound_nodes: [] }];
    for (let i = 0; i < 30; i++) deep.push({ name: `c${i}`, class_name: 'Concatenate', config: { name: `c${i}` }, inbound_nodes: [Array.from({ length: 32 }, () => [deep.at(-1)!.name, 0, 0, {}])] });
    const huge = { class_name: 'Model', config: { layers: deep, input_layers: [['x', 0, 0]], output_layers: [['c29', 0, 0]] } };
    expect(refusal(() => vetModelTopology(huge, MNIST)).message).toMatch(/over the limit of|outside \[1, 1048576\]/);
  });

  it('valid-looking hostile graphs: every mutation of a good graph is accepted or refused with MODEL_REJECTED, never thrown otherwise', () => {
    const names = ['a', 'b', 'da', 'db', 'bn', 'drop', 'sum', 'cat', 'out', 'ghost', '__proto__', ''];
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('ref' as const), layer: fc.integer({ min: 0, max: 8 }), slot: fc.integer({ min: 0, max: 3 }), to: fc.constantFrom(...names) }),
      fc.record({ kind: fc.constant('index' as const), layer: fc.integer({ min: 0, max: 8 }), pos: fc.integer({ min: 1, max: 3 }), value: fc.constantFrom<unknown>(0, 1, -1, '0', null, {}, [0], 1e9) }),
      fc.record({ kind: fc.constant('nodes' as const), layer: fc.integer({ min: 0, max: 8 }), value: fc.constantFrom<unknown>([], [[]], null, 'x', [[['a', 0, 0, {}]], [['a', 0, 0, {}]]], { 0: 1 }) }),
      fc.record({ kind: fc.constant('swap' as const), i: fc.integer({ min: 0, max: 8 }), j: fc.integer({ min: 0, max: 8 }) }),
      fc.record({ kind: fc.constant('io' as const), key: fc.constantFrom('input_layers', 'output_layers'), value: fc.constantFrom<unknown>([], null, [['a', 0, 0], ['a', 0, 0]], [['out', 0, 0], ['out', 0, 0]], [['b', 0, 0], ['a', 0, 0]], [['cat', 0, 0]], 'out') }),
    );
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (ms) => {
        const m = clone(base);
        const layers = cfg(m).layers;
        for (const mu of ms) {
          if (mu.kind === 'ref' || mu.kind === 'index') {
            const node = (layers[mu.layer]!.inbound_nodes as unknown[][][] | undefined)?.[0];
            const ref = node?.[mu.kind === 'ref' ? mu.slot % Math.max(1, node.length) : 0];
            if (Array.isArray(ref)) ref[mu.kind === 'ref' ? 0 : mu.pos] = mu.kind === 'ref' ? mu.to : mu.value;
          } else if (mu.kind === 'nodes') layers[mu.layer]!.inbound_nodes = mu.value;
          else if (mu.kind === 'swap') [layers[mu.i], layers[mu.j]] = [layers[mu.j]!, layers[mu.i]!];
          else (m.config as Json)[mu.key] = mu.value;
        }
        try {
          const v = vetModelTopology(m, IRIS);
          expect(v.layers.at(-1)!.outputShape).toEqual([3]);
        } catch (e) {
          expect(errorCode(e), String(e)).toBe('MODEL_REJECTED');
        }
      }),
      { numRuns: 400, seed: Number(process.env.FUZZ_SEED ?? 20261130) },
    );
  });
});

let base: Json;
beforeAll(() => {
  base = twoInputs();
});
