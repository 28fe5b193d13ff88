/**
 * A functional model in the swarm, end to end: 3 headless Chromium tabs train a tf.model with
 * two inputs (iris's 4 features split [2] + [2]) and two branches — a Dense one, and a
 * Dense → BatchNormalization → ReLU → Dropout one — joined by Add, then Concatenate, then a
 * softmax Dense. A global batch of 50 in ghost batches of 10 (5 over 3 tabs: the slices
 * cannot be equal). Every replica's state hash is equal, the downloaded weights (params then
 * moving statistics) are within 1e-4 of the single-process reference, and the downloaded
 * model.json + weights.bin, fed the split features, scores what the replicas scored. Then a
 * tab that joins the same model mid-job takes its state (moving statistics included) from a
 * donor and ends bit-identical, at the reference's weights.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, trainReference } from '../../server/reference.ts';
import { datasetSource, downloadedAccuracy, exactHarness, finished, type ExactHarness } from './exactHarness.ts';
import { waitFor } from './helpers.ts';

let h: ExactHarness;

beforeAll(async () => {
  h = await exactHarness();
}, 60_000);

afterAll(async () => {
  await h?.close();
});

function twoBranches(): Record<string, unknown> {
  const a = tf.input({ shape: [2], name: 'sepal' });
  const b = tf.input({ shape: [2], name: 'petal' });
  const da = tf.layers.dense({ units: 12, activation: 'relu', name: 'da' }).apply(a) as tf.SymbolicTensor;
  // no bias before batch norm: its true gradient is 0 and Adam would amplify the rounding noise
  const db = tf.layers.dense({ units: 12, useBias: false, name: 'db' }).apply(b) as tf.SymbolicTensor;
  const bn = tf.layers.batchNormalization({ name: 'bn' }).apply(db) as tf.SymbolicTensor;
  const relu = tf.layers.activation({ activation: 'relu', name: 'relu' }).apply(bn) as tf.SymbolicTensor;
  const drop = tf.layers.dropout({ rate: 0.25, name: 'drop' }).apply(relu) as tf.SymbolicTensor;
  const sum = tf.layers.add({ name: 'sum' }).apply([da, drop]) as tf.SymbolicTensor;
  const cat = tf.layers.concatenate({ name: 'cat' }).apply([sum, drop]) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, activation: 'softmax', name: 'out' }).apply(cat) as tf.SymbolicTensor;
  const m = tf.model({ inputs: [a, b], outputs: out });
  const json = m.toJSON(undefined, false) as unknown as Record<string, unknown>;
  m.dispose();
  return json;
}

describe('exact functional model', () => {
  it('two inputs, Add + Concatenate, BN + Dropout on a branch, 3 tabs on unequal slices: replicas equal, weights = reference, download scores the same', async () => {
    const STEPS = 20;
    const s = await h.start({
      preset: 'iris-mlp', model: twoBranches(), batchSize: 50, ghostBatchSize: 10, steps: STEPS, minWorkers: 3,
      optimizer: { name: 'adam', learningRate: 0.02 },
    }, 'wasm');
    for (let i = 0; i < 3; i++) await s.open();
    const done = await finished(s, 150_000);
    expect(done.spec.model.class_name).toBe('Model');
    expect(await s.steps()).toEqual(Array.from({ length: STEPS }, (_, i) => i));
    const finals = done.members.filter((m) => m.final);
    expect(finals).toHaveLength(3);
    expect(new Set(finals.map((m) => m.final!.paramHash)).size).toBe(1);
    // unequal slices, cut on ghost batch boundaries
    const samples = finals.map((m) => m.samplesDone);
    expect(samples.every((n) => n % 10 === 0)).toBe(true);
    expect(samples.reduce((a, b) => a + b, 0)).toBe(50 * STEPS);
    expect(new Set(samples).size).toBeGreaterThan(1);

    const swarm = await s.weights();
    // da 2·12 + 12, db 2·12, bn γ β 2·12, out 24·3 + 3; then moving mean and variance 2·12
    expect(swarm.length).toBe(36 + 24 + 24 + 75 + 24);
    const ref = await trainReference(done.spec, datasetSource(), STEPS);
    expect(ref.losses.at(-1)!).toBeLessThan(ref.losses[0]!);
    expect(maxAbsDiff(swarm, ref.weights)).toBeLessThanOrEqual(1e-4);
    expect(swarm.subarray(swarm.length - 24).some((x, i) => x !== (i < 12 ? 0 : 1))).toBe(true);

    expect(done.testAccuracy).not.toBeNull();
    const { accuracy, count } = await downloadedAccuracy(h.server.url, s, done);
    expect(count).toBe(30);
    expect(accuracy).toBe(done.testAccuracy);
  }, 240_000);

  it('a tab that joins mid-job syncs the functional model’s state from a donor and ends bit-identical; weights = reference', async () => {
    const STEPS = 24;
    const s = await h.start({
      preset: 'iris-mlp', model: twoBranches(), batchSize: 30, ghostBatchSize: 10, steps: STEPS, minWorkers: 2,
      optimizer: { name: 'adam', learningRate: 0.02 },
    }, 'wasm');
    // the first tab holds at the compute of step 8 until the joiner is ready, so the job cannot end before it syncs
    const first = await s.open(async (p) => {
      await p.addInitScript(() => {
        const w = window as unknown as { __tabswarmPhase: (p: string, s: number) => Promise<void> | void; __release: () => void };
        const gate = new Promise<void>((r) => (w.__release = r));
        w.__tabswarmPhase = (phase, step) => (phase === 'compute' && step === 8 ? gate : undefined);
      });
    });
    await s.open();
    await waitFor('step 6', async () => (await s.view()).step >= 6);
    await s.open();
    await waitFor('the joiner to be ready (dataset loaded)', async () => {
      const v = await s.view();
      return v.members.length >= 3 && v.members.every((m) => m.state !== 'joining');
    });
    await first.evaluate(() => (window as unknown as { __release: () => void }).__release());
    const done = await finished(s, 150_000);
    expect(await s.steps()).toEqual(Array.from({ length: STEPS }, (_, i) => i));
    const sync = (await s.events()).find((e) => e.kind === 'sync' && /state of step \d+ from /.test(e.detail));
    expect(Number(/state of step (\d+)/.exec(sync?.detail ?? '')?.[1])).toBeGreaterThanOrEqual(8);
    const finals = done.members.filter((m) => m.state === 'active').map((m) => m.final!.paramHash);
    expect(finals).toHaveLength(3);
    expect(new Set(finals).size).toBe(1);
    const swarm = await s.weights();
    const ref = await trainReference(done.spec, datasetSource(), STEPS);
    expect(swarm.length).toBe(ref.weights.length);
    expect(maxAbsDiff(swarm, ref.weights)).toBeLessThanOrEqual(1e-4);
  }, 240_000);
});
