/**
 * Exactness for batch statistics and randomness beyond the one MLP run (exactBn.test.ts):
 * a Conv2D + BatchNormalization + Dropout CNN on unequal slices; the same BN + Dropout job
 * trained twice, by 2 and by 3 tabs, ending at the same weights; a joiner that syncs mid-job;
 * a restart from the server's checkpoint; and the downloaded model scoring exactly what the
 * replicas scored. Every comparison covers the moving statistics: the replicas' final hash
 * covers them and the served weights are params then moving statistics.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PrivateJobView as JobView } from '../../server/jobViews.ts';
import { maxAbsDiff, trainReference } from '../../server/reference.ts';
import { waitFor } from './helpers.ts';
import { datasetSource as source, downloadedAccuracy, exactHarness, finished, type ExactHarness, type Started } from './exactHarness.ts';

let h: ExactHarness;

beforeAll(async () => {
  h = await exactHarness();
}, 60_000);

afterAll(async () => {
  await h?.close();
});

const start = (body: Record<string, unknown>, backend: string) => h.start(body, backend);

function topology(layers: tf.layers.Layer[]): Record<string, unknown> {
  const m = tf.sequential({ layers });
  const json = m.toJSON(undefined, false) as unknown as Record<string, unknown>;
  m.dispose();
  return json;
}

const cnn = () =>
  topology([
    // no bias before batch norm: its true gradient is 0 and Adam would amplify the rounding noise
    tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 4, kernelSize: 3, useBias: false }),
    tf.layers.batchNormalization(),
    tf.layers.activation({ activation: 'relu' }),
    tf.layers.maxPooling2d({ poolSize: 2 }),
    tf.layers.flatten(),
    tf.layers.dropout({ rate: 0.25 }),
    tf.layers.dense({ units: 10, activation: 'softmax' }),
  ]);

const mlp = () =>
  topology([
    tf.layers.flatten({ inputShape: [28, 28, 1] }),
    tf.layers.dense({ units: 32, useBias: false }),
    tf.layers.batchNormalization(),
    tf.layers.activation({ activation: 'relu' }),
    tf.layers.dropout({ rate: 0.3 }),
    tf.layers.dense({ units: 10, activation: 'softmax' }),
  ]);

// the CNN job of the first test, scored again from its download by the last
let cnnJob: { s: Started; done: JobView } | null = null;

describe('exact batch norm + dropout, more', () => {
  it('CNN (Conv2D → BN → ReLU → MaxPool → Dropout → Dense), 3 tabs on unequal slices: replicas equal, weights with moving statistics = reference', async () => {
    const STEPS = 8;
    // 80 = 5 ghost batches of 16 over 3 members: the slices cannot be equal (2, 2, 1 ghost batches)
    const s = await start({
      model: cnn(), batchSize: 80, ghostBatchSize: 16, steps: STEPS, minWorkers: 3,
      dataset: { trainSize: 1024, testSize: 300 },
    }, 'cpu');
    for (let i = 0; i < 3; i++) await s.open();
    const done = await finished(s, 150_000);
    cnnJob = { s, done };
    expect(await s.steps()).toEqual(Array.from({ length: STEPS }, (_, i) => i));
    const finals = done.members.filter((m) => m.final);
    expect(finals).toHaveLength(3);
    expect(new Set(finals.map((m) => m.final!.paramHash)).size).toBe(1);
    // the coordinator really cut unequal slices, on ghost batch boundaries
    // (slices follow the members' measured speeds and may change from step to step, but every
    // one is whole ghost batches; 5 ghost batches never split 3 ways equally)
    const samples = finals.map((m) => m.samplesDone);
    expect(finals.map((m) => m.stepsDone)).toEqual([STEPS, STEPS, STEPS]);
    expect(samples.every((n) => n % 16 === 0)).toBe(true);
    expect(samples.reduce((a, b) => a + b, 0)).toBe(80 * STEPS);
    expect(new Set(samples).size).toBeGreaterThan(1);
    const swarm = await s.weights();
    // conv 3·3·4, BN γ β 2·4, dense 13·13·4·10 + 10; then moving mean and variance 2·4
    expect(swarm.length).toBe(36 + 8 + 6760 + 10 + 8);
    const ref = await trainReference(done.spec, source(), STEPS);
    expect(maxAbsDiff(swarm, ref.weights)).toBeLessThanOrEqual(1e-4);
    // the moving statistics moved off their initial values (0 and 1)
    expect(swarm.subarray(swarm.length - 8).some((x, i) => x !== (i < 4 ? 0 : 1))).toBe(true);
  }, 200_000);

  it('the same BN + Dropout job trained by 2 tabs and by 3 tabs (other slicings) ends within 1e-4, moving statistics included', async () => {
    const STEPS = 16;
    // 48 = 3 ghost batches of 16: 2 tabs split them 2 + 1, 3 tabs at most 1 + 1 + 1
    const body = { model: mlp(), batchSize: 48, ghostBatchSize: 16, steps: STEPS, seed: 11, dataset: { trainSize: 1024, testSize: 100 } };
    const runs: Float32Array[] = [];
    for (const workers of [2, 3]) {
      const s = await start({ ...body, minWorkers: workers }, 'wasm');
      for (let i = 0; i < workers; i++) await s.open();
      const done = await finished(s, 150_000);
      expect(await s.steps()).toEqual(Array.from({ length: STEPS }, (_, i) => i));
      const finals = done.members.filter((m) => m.final);
      expect(finals).toHaveLength(workers);
      expect(new Set(finals.map((m) => m.final!.paramHash)).size).toBe(1);
      expect(finals.reduce((a, m) => a + m.samplesDone, 0)).toBe(48 * STEPS);
      expect(finals.every((m) => m.samplesDone % 16 === 0)).toBe(true);
      runs.push(await s.weights());
    }
    const [two, three] = runs as [Float32Array, Float32Array];
    // 32·784 + 2·32 + 32·10 + 10 trainable, then 2·32 moving statistics
    expect(two.length).toBe(784 * 32 + 64 + 330 + 64);
    expect(three.length).toBe(two.length);
    expect(maxAbsDiff(two, three)).toBeLessThanOrEqual(1e-4);
    // the moving statistics trained (not their initial 0 and 1) in both
    const stats = (w: Float32Array) => w.subarray(w.length - 64);
    expect(stats(two).some((x, i) => x !== (i < 32 ? 0 : 1))).toBe(true);
    expect(maxAbsDiff(stats(two), stats(three))).toBeLessThanOrEqual(1e-4);
  }, 320_000);

  it('a tab that joins mid-job syncs and ends bit-identical, moving statistics included; weights = reference', async () => {
    const STEPS = 40;
    const s = await start({
      model: mlp(), batchSize: 48, ghostBatchSize: 16, steps: STEPS, minWorkers: 2,
      dataset: { trainSize: 2048, testSize: 200 },
    }, 'wasm');
    // the first tab holds at the compute of step 12 until the joiner is ready (its dataset loaded), so the job cannot end before it syncs
    const first = await s.open(async (p) => {
      await p.addInitScript(() => {
        const w = window as unknown as { __tabswarmPhase: (p: string, s: number) => Promise<void> | void; __release: () => void };
        const gate = new Promise<void>((r) => (w.__release = r));
        w.__tabswarmPhase = (phase, step) => (phase === 'compute' && step === 12 ? gate : undefined);
      });
    });
    const release = () => first.evaluate(() => (window as unknown as { __release: () => void }).__release());
    await s.open();
    await waitFor('step 10', async () => (await s.view()).step >= 10);
    await s.open();
    await waitFor('the joiner to be ready (dataset loaded)', async () => {
      const v = await s.view();
      return v.members.length >= 3 && v.members.every((m) => m.state !== 'joining');
    });
    await release();
    const done = await finished(s, 150_000);
    expect(await s.steps()).toEqual(Array.from({ length: STEPS }, (_, i) => i));
    const events = await s.events();
    // the joiner took the state of a step ≥ 12 from a tab (not the seeded initial weights)
    const sync = events.find((e) => e.kind === 'sync' && /state of step \d+ from /.test(e.detail));
    expect(Number(/state of step (\d+)/.exec(sync?.detail ?? '')?.[1])).toBeGreaterThanOrEqual(12);
    const finals = done.members.filter((m) => m.state === 'active').map((m) => m.final!.paramHash);
    expect(finals).toHaveLength(3);
    expect(new Set(finals).size).toBe(1);
    const swarm = await s.weights();
    const ref = await trainReference(done.spec, source(), STEPS);
    expect(swarm.length).toBe(ref.weights.length);
    expect(maxAbsDiff(swarm, ref.weights)).toBeLessThanOrEqual(1e-4);
  }, 200_000);

  it('all tabs leave; a new tab resumes from the checkpoint (moving statistics restored); weights = reference', async () => {
    const STEPS = 30;
    const s = await start({
      model: mlp(), batchSize: 48, ghostBatchSize: 16, steps: STEPS, minWorkers: 2, checkpointEvery: 5,
      dataset: { trainSize: 2048, testSize: 200 },
    }, 'wasm');
    const first = [await s.open(), await s.open()];
    const at = await waitFor('step 12', async () => {
      const v = await s.view();
      return v.step >= 12 ? v.step : null;
    });
    expect((await s.control('pause')).status).toBe(200);
    for (const p of first) await p.close();
    await waitFor('both workers gone', async () => (await s.view()).members.every((m) => m.state === 'left' || m.state === 'dropped'));
    expect((await s.control('resume')).status).toBe(200);
    await waitFor('the job to wait for workers', async () => (await s.view()).status === 'waiting');
    const paused = await s.view();
    expect(paused.step).toBeGreaterThanOrEqual(at);
    expect(paused.step).toBeLessThan(STEPS);
    await s.open();
    const done = await finished(s, 150_000);
    expect(await s.steps()).toEqual(Array.from({ length: STEPS }, (_, i) => i));
    const sync = (await s.events()).find((e) => e.kind === 'sync' && /from the server's checkpoint/.test(e.detail));
    const cpStep = Number(/state of step (\d+)/.exec(sync?.detail ?? '')?.[1]);
    expect(cpStep % 5).toBe(0);
    expect(cpStep).toBeGreaterThan(0);
    const swarm = await s.weights();
    const ref = await trainReference(done.spec, source(), STEPS);
    expect(swarm.length).toBe(ref.weights.length);
    expect(maxAbsDiff(swarm, ref.weights)).toBeLessThanOrEqual(1e-4);
  }, 200_000);

  it("the downloaded CNN's test accuracy equals the replicas' distributed one (cpu backend in tabs and Node)", async () => {
    expect(cnnJob, 'the CNN job of the first test').not.toBeNull();
    const { s, done } = cnnJob!;
    expect(done.testAccuracy).not.toBeNull();
    const { accuracy, count } = await downloadedAccuracy(h.server.url, s, done);
    expect(count).toBe(300);
    expect(accuracy).toBe(done.testAccuracy);
  }, 60_000);
});
