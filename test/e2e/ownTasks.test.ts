/**
 * Tasks on uploaded data, three real Chromium tabs each, over WebRTC:
 *  - a regression: a CSV the test writes (y = A·x + b + noise, 3 features, features far from
 *    zero and standardised from the upload's statistics), uploaded over REST with
 *    `task=regression`, trained with mean squared error;
 *  - a classification: an .npz pair (x float32, y int32 class ids) trained with sparse
 *    categorical cross-entropy from logits.
 * Each ends equal to the single-process reference on the same shards (≤ 1e-4) with a falling
 * loss, and its metrics follow its task (MAE/RMSE for the regression, accuracy for the
 * classifier), the final test metrics equal to the reference's.
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import type { Browser } from 'playwright';
import { launchChromium, workerContext } from '../../server/browser.ts';
import { createDatasetFiles } from '../../server/datasetFiles.ts';
import type { TabswarmServer } from '../../server/app.ts';
import { maxAbsDiff, trainReference } from '../../server/reference.ts';
import { createJob, startServer, waitFor } from './helpers.ts';
import type { PrivateJobView as View } from '../../server/jobViews.ts';
import { npy, zip } from '../unit/datasets/fixtures.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

/** a fixed generator: the same files every run */
function rng(seed: number) {
  return () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
}

/** y = 2·x1 − 3·x2 + 0.5·x3 + 4 + noise, with x1 around 100 and x3 around −20 */
function linearCsv(n: number): string {
  const r = rng(11);
  const rows = ['x1,x2,x3,y'];
  for (let i = 0; i < n; i++) {
    const x = [100 + 5 * r(), 2 * r(), -20 + 3 * r()];
    const y = 2 * (x[0]! - 100) - 3 * x[1]! + 0.5 * (x[2]! + 20) + 4 + 0.05 * r();
    rows.push([...x, y].map((v) => v.toFixed(4)).join(','));
  }
  return rows.join('\n') + '\n';
}

/** 4 classes in 6-D, class c centred at ±1.5 on axis c */
function blobsNpz(n: number): Uint8Array {
  const r = rng(5);
  const x: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % 4;
    y.push(c);
    for (let f = 0; f < 6; f++) x.push((f === c ? 1.5 : f === c + 2 ? -1.5 : 0) + 0.7 * r());
  }
  return zip([{ name: 'x.npy', data: npy(x, [n, 6], '<f4') }, { name: 'y.npy', data: npy(y, [n], '<i4') }]);
}

type Metrics = { step: number; loss: number; accuracy: number; mae?: number; rmse?: number }[];

async function trainInSwarm(server: TabswarmServer, browser: Browser, body: Record<string, unknown>, steps: number) {
  const job = await createJob(server.url, { ...body, steps, minWorkers: 3, checkpointEvery: 50, evalEvery: 0 });
  const auth = { headers: { authorization: `Bearer ${job.ownerToken}` } };
  const contexts = await Promise.all([0, 1, 2].map(() => workerContext(browser)));
  for (const c of contexts) await (await c.newPage()).goto(`${job.joinUrl}&backend=cpu`);
  const done = await waitFor('job done', async () => {
    const v = (await (await fetch(`${server.url}/api/jobs/${job.id}`, auth)).json()) as View;
    return v.status === 'done' && v.hasWeights && (v.test.accuracy !== null || v.test.mae !== null) ? v : null;
  }, 180_000, 200);
  const { metrics } = (await (await fetch(`${server.url}/api/jobs/${job.id}/metrics`, auth)).json()) as { metrics: Metrics };
  const weights = new Float32Array(await (await fetch(`${server.url}/api/jobs/${job.id}/weights`, auth)).arrayBuffer());
  await Promise.all(contexts.map((c) => c.close()));
  const ref = await trainReference(done.spec, createDatasetFiles(server.datasets).source, steps);
  return { done, metrics, weights, ref };
}

describe('tasks on uploaded data, 3 tabs', () => {
  it('a CSV regression (MSE, standardised) and an .npz classification (sparse CE from logits) equal the single process', async () => {
    const server = await startServer();
    cleanups.push(() => server.close());
    const browser = await launchChromium();
    cleanups.push(() => browser.close());

    // --- regression
    const up = await fetch(`${server.url}/api/datasets?format=csv&label=y&name=linear&task=regression`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: linearCsv(400) });
    const reg = (await up.json()) as { id: string; task: string; targetShape: number[]; featureShape: number[]; stats: { mean: number[] } };
    expect(up.status).toBe(201);
    expect(reg).toMatchObject({ task: 'regression', targetShape: [1], featureShape: [3] });
    expect(reg.stats.mean[0]).toBeGreaterThan(95);
    let m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 8, activation: 'tanh' }), tf.layers.dense({ units: 1 })] });
    const STEPS = 30;
    const a = await trainInSwarm(server, browser, {
      name: 'linear', model: m.toJSON(undefined, false), loss: 'meanSquaredError', standardize: true,
      optimizer: { name: 'adam', learningRate: 0.05 }, dataset: { id: reg.id }, batchSize: 36,
    }, STEPS);
    m.dispose();
    expect(a.metrics.map((x) => x.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i));
    expect(a.metrics.at(-1)!.loss).toBeLessThan(a.metrics[0]!.loss * 0.5);
    expect(a.metrics.at(-1)!.rmse).toBeCloseTo(Math.sqrt(a.metrics.at(-1)!.loss), 4); // MSE's RMSE: √loss
    expect(a.metrics.at(-1)!.mae).toBeGreaterThan(0);
    expect(maxAbsDiff(a.weights, a.ref.params)).toBeLessThanOrEqual(1e-4);
    expect(a.done).toMatchObject({ task: 'regression', testAccuracy: null, test: { accuracy: null } });
    expect(Math.abs(a.done.test.mae! - a.ref.test.mae!)).toBeLessThanOrEqual(1e-4 * Math.max(1, a.ref.test.mae!));
    expect(Math.abs(a.done.test.rmse! - a.ref.test.rmse!)).toBeLessThanOrEqual(1e-4 * Math.max(1, a.ref.test.rmse!));

    // --- classification
    const up2 = await fetch(`${server.url}/api/datasets?format=npz&name=blobs`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: blobsNpz(360) as BodyInit });
    const cls = (await up2.json()) as { id: string; task: string; numClasses: number };
    expect(up2.status).toBe(201);
    expect(cls).toMatchObject({ task: 'classification', numClasses: 4 });
    m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [6], units: 8, activation: 'relu' }), tf.layers.dense({ units: 4 })] });
    const b = await trainInSwarm(server, browser, {
      name: 'blobs', model: m.toJSON(undefined, false), loss: 'sparseCategoricalCrossentropy', fromLogits: true,
      optimizer: { name: 'sgd', learningRate: 0.2 }, dataset: { id: cls.id }, batchSize: 30,
    }, STEPS);
    m.dispose();
    expect(b.metrics.at(-1)!.loss).toBeLessThan(b.metrics[0]!.loss);
    expect(b.metrics.at(-1)!.mae).toBeUndefined();
    expect(maxAbsDiff(b.weights, b.ref.params)).toBeLessThanOrEqual(1e-4);
    expect(b.done).toMatchObject({ task: 'classification', test: { mae: null, rmse: null } });
    expect(b.done.test.accuracy).toBe(b.ref.test.accuracy);
  }, 300_000);
});
