import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { jobSpecSchema, MAX_MODEL_JSON_BYTES, type JobSpecInput } from '../../shared/jobSpec.ts';
import { parseServerMessage, PROTOCOL_VERSION } from '../../shared/protocol.ts';

let MODEL: Record<string, unknown>;

beforeAll(async () => {
  await tf.setBackend('cpu');
  const m = tf.sequential({
    layers: [tf.layers.dense({ inputShape: [4], units: 8, activation: 'relu' }), tf.layers.dense({ units: 3, activation: 'softmax' })],
  });
  MODEL = m.toJSON(undefined, false) as unknown as Record<string, unknown>;
  m.dispose();
});

function minimal(): JobSpecInput {
  return {
    model: MODEL as JobSpecInput['model'],
    optimizer: { name: 'sgd', learningRate: 0.1 },
    dataset: { id: 'iris' },
    batchSize: 30,
    steps: 100,
  };
}

/** A spec reaches volunteers inside `welcome`; that is where it gets a coded answer. */
function parseViaWelcome(spec: unknown) {
  return parseServerMessage({ type: 'welcome', protocol: PROTOCOL_VERSION, peerId: 'p1', jobId: 'j1', spec, iceServers: [], heartbeatMs: 1000 });
}

describe('valid job specs', () => {
  it('a minimal spec parses with every default applied', () => {
    const spec = jobSpecSchema.parse(minimal());
    expect(spec).toEqual({
      name: 'job',
      model: MODEL,
      loss: 'categoricalCrossentropy',
      optimizer: { name: 'sgd', learningRate: 0.1 },
      dataset: { id: 'iris', trainSize: 0, testSize: 0 },
      batchSize: 30,
      steps: 100,
      seed: 1,
      chunkBytes: 64 * 1024,
      encoding: 'fp32',
      minWorkers: 1,
      evalEvery: 0,
      checkpointEvery: 25,
    });
    expect('backend' in spec).toBe(false);
  });

  it('keeps the whole tfjs topology, including keys the schema does not name', () => {
    const spec = jobSpecSchema.parse(minimal());
    expect(MODEL.class_name).toBe('Sequential');
    expect(Object.keys(MODEL).length).toBeGreaterThan(2); // keras_version, backend, ...
    expect(spec.model).toEqual(MODEL);
  });

  it('optimizer defaults: momentum 0.9; adam beta1 0.9, beta2 0.999, epsilon 1e-7', () => {
    expect(jobSpecSchema.parse({ ...minimal(), optimizer: { name: 'momentum', learningRate: 0.01 } }).optimizer).toEqual({
      name: 'momentum', learningRate: 0.01, momentum: 0.9,
    });
    expect(jobSpecSchema.parse({ ...minimal(), optimizer: { name: 'adam', learningRate: 0.001 } }).optimizer).toEqual({
      name: 'adam', learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7,
    });
  });

  it('a full spec keeps every given value', () => {
    const full = {
      name: 'MNIST CNN',
      model: MODEL,
      loss: 'categoricalCrossentropy' as const,
      optimizer: { name: 'adam' as const, learningRate: 0.002, beta1: 0.8, beta2: 0.99, epsilon: 1e-8 },
      dataset: { id: 'mnist' as const, trainSize: 6000, testSize: 1000 },
      batchSize: 8192,
      steps: 10_000_000,
      seed: 0xffffffff,
      chunkBytes: 64,
      encoding: 'fp32' as const,
      minWorkers: 4,
      evalEvery: 50,
      checkpointEvery: 1,
      backend: 'webgpu' as const,
    };
    expect(jobSpecSchema.parse(full)).toEqual(full);
  });

  it('boundary values are accepted', () => {
    for (const patch of [
      { batchSize: 1 },
      { steps: 1 },
      { seed: 0 },
      { chunkBytes: 256 * 1024 },
      { chunkBytes: 68 },
      { minWorkers: 1024 },
      { optimizer: { name: 'sgd', learningRate: 10 } },
      { optimizer: { name: 'momentum', learningRate: 1, momentum: 0 } },
      { optimizer: { name: 'momentum', learningRate: 1, momentum: 1 } },
      { optimizer: { name: 'adam', learningRate: 1, beta1: 0, beta2: 0 } },
      { model: { class_name: 'Functional', config: [] } },
      { name: 'x'.repeat(120) },
    ]) {
      const r = jobSpecSchema.safeParse({ ...minimal(), ...patch });
      expect(r.success, JSON.stringify(patch)).toBe(true);
    }
  });

  it('parses inside a welcome message with defaults applied', () => {
    const r = parseViaWelcome(minimal());
    expect(r.ok).toBe(true);
    if (r.ok && r.value.type === 'welcome') expect(r.value.spec.chunkBytes).toBe(65536);
  });
});

describe('invalid job specs are rejected, naming the field', () => {
  const big = { class_name: 'Sequential', config: { layers: [], pad: 'x'.repeat(MAX_MODEL_JSON_BYTES) } };
  // under the limit in UTF-16 code units, over it in bytes (3 UTF-8 bytes per character)
  const bigInBytes = { class_name: 'Sequential', config: { layers: [], pad: '€'.repeat(Math.ceil(MAX_MODEL_JSON_BYTES / 3) + 10) } };

  const table: [string, Record<string, unknown>, string, RegExp?][] = [
    ['unknown optimizer', { optimizer: { name: 'rmsprop', learningRate: 0.1 } }, 'optimizer.name'],
    ['optimizer without a name', { optimizer: { learningRate: 0.1 } }, 'optimizer.name'],
    ['zero learning rate', { optimizer: { name: 'sgd', learningRate: 0 } }, 'optimizer.learningRate'],
    ['negative learning rate', { optimizer: { name: 'adam', learningRate: -0.01 } }, 'optimizer.learningRate'],
    ['huge learning rate', { optimizer: { name: 'sgd', learningRate: 11 } }, 'optimizer.learningRate'],
    ['missing learning rate', { optimizer: { name: 'sgd' } }, 'optimizer.learningRate'],
    ['momentum above 1', { optimizer: { name: 'momentum', learningRate: 0.1, momentum: 1.5 } }, 'optimizer.momentum'],
    ['adam beta1 = 1', { optimizer: { name: 'adam', learningRate: 0.1, beta1: 1 } }, 'optimizer.beta1'],
    ['adam beta2 negative', { optimizer: { name: 'adam', learningRate: 0.1, beta2: -0.1 } }, 'optimizer.beta2'],
    ['adam epsilon 0', { optimizer: { name: 'adam', learningRate: 0.1, epsilon: 0 } }, 'optimizer.epsilon'],
    ['negative batch', { batchSize: -8 }, 'batchSize'],
    ['zero batch', { batchSize: 0 }, 'batchSize'],
    ['fractional batch', { batchSize: 2.5 }, 'batchSize'],
    ['batch too large', { batchSize: 8193 }, 'batchSize'],
    ['batch as a string', { batchSize: '32' }, 'batchSize'],
    ['zero steps', { steps: 0 }, 'steps'],
    ['chunkBytes not a multiple of 4', { chunkBytes: 1026 }, 'chunkBytes', /multiple of 4/],
    ['chunkBytes too small', { chunkBytes: 60 }, 'chunkBytes'],
    ['chunkBytes too large', { chunkBytes: 256 * 1024 + 4 }, 'chunkBytes'],
    ['unknown dataset', { dataset: { id: 'cifar10' } }, 'dataset.id'],
    ['dataset without id', { dataset: {} }, 'dataset.id'],
    ['negative trainSize', { dataset: { id: 'mnist', trainSize: -1 } }, 'dataset.trainSize'],
    ['extra top-level key', { learningRate: 0.1 }, '', /learningRate/],
    ['model JSON too big', { model: big }, 'model', new RegExp(`at most ${MAX_MODEL_JSON_BYTES} bytes`)],
    ['model JSON too big in UTF-8 bytes', { model: bigInBytes }, 'model', /bytes/],
    ['model without class_name', { model: { config: {} } }, 'model.class_name'],
    ['model config not an object', { model: { class_name: 'Sequential', config: 'layers' } }, 'model.config'],
    ['negative seed', { seed: -1 }, 'seed'],
    ['seed past 32 bits', { seed: 2 ** 32 }, 'seed'],
    ['unknown encoding', { encoding: 'bf16' }, 'encoding'],
    ['unknown backend', { backend: 'metal' }, 'backend'],
    ['unknown loss', { loss: 'hinge' }, 'loss'],
    ['zero minWorkers', { minWorkers: 0 }, 'minWorkers'],
    ['zero checkpointEvery', { checkpointEvery: 0 }, 'checkpointEvery'],
    ['name too long', { name: 'x'.repeat(121) }, 'name'],
  ];
  const missing = ['model', 'optimizer', 'dataset', 'batchSize', 'steps'] as const;

  for (const [what, patch, field, msg] of table) {
    it(`${what} → ${field || '(root)'}`, () => {
      const spec = { ...minimal(), ...patch };
      const r = jobSpecSchema.safeParse(spec);
      expect(r.success).toBe(false);
      if (r.success) return;
      const issue = r.error.issues[0]!;
      expect(issue.path.join('.')).toBe(field);
      if (msg) expect(issue.message).toMatch(msg);

      const w = parseViaWelcome(spec);
      expect(w.ok).toBe(false);
      if (w.ok) return;
      expect(w.code).toBe('BAD_REQUEST');
      expect(w.message.startsWith(field ? `spec.${field}: ` : 'spec: ')).toBe(true);
      if (msg) expect(w.message).toMatch(msg);
    });
  }

  for (const key of missing) {
    it(`missing ${key} → ${key}`, () => {
      const spec: Record<string, unknown> = { ...minimal() };
      delete spec[key];
      const w = parseViaWelcome(spec);
      expect(w.ok).toBe(false);
      if (!w.ok) {
        expect(w.code).toBe('BAD_REQUEST');
        expect(w.message).toBe(`spec.${key}: Required`);
      }
    });
  }

  it('not an object at all', () => {
    for (const bad of [null, 42, 'spec', []]) expect(jobSpecSchema.safeParse(bad).success).toBe(false);
  });
});
