/**
 * A job owner's own data: a CSV the test writes (4 numeric features, a string label of 3
 * classes) is uploaded to the dataset store, a job is created on it, and two real Chromium
 * workers train it over WebRTC, reading the dataset's shards (each verified against its
 * SHA-256). The swarm's weights equal a single process trained on the same shards.
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { launchChromium, workerContext } from '../../server/browser.ts';
import { createDatasetFiles } from '../../server/datasetFiles.ts';
import { maxAbsDiff, trainReference } from '../../server/reference.ts';
import { createJob, startServer, waitFor } from './helpers.ts';
import type { PrivateJobView as View } from '../../server/jobViews.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

/** Three blobs in 4-D, labelled by name; a fixed generator, so the file is the same every run. */
function blobsCsv(n: number): string {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const names = ['setosa-ish', 'versi-ish', 'virgi-ish'];
  const rows = ['f1,f2,f3,f4,label'];
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    rows.push([0, 1, 2, 3].map((k) => (c * (k % 2 === 0 ? 1.5 : -1) + 0.6 * rnd()).toFixed(4)).join(',') + `,${names[c]}`);
  }
  return rows.join('\n') + '\n';
}

describe('bring your own data', () => {
  it('an uploaded CSV trains in the swarm and equals the single process on the same shards', async () => {
    const server = await startServer();
    cleanups.push(() => server.close());
    const up = await fetch(`${server.url}/api/datasets?format=csv&label=label&name=blobs`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: blobsCsv(600) });
    const ds = (await up.json()) as { id: string; size: number; numClasses: number; featureShape: number[] };
    expect(up.status).toBe(201);
    expect(ds).toMatchObject({ size: 600, numClasses: 3, featureShape: [4] });
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 8, activation: 'relu' }), tf.layers.dense({ units: 3, activation: 'softmax' })] });
    const STEPS = 40;
    const job = await createJob(server.url, {
      name: 'blobs', model: model.toJSON(undefined, false), optimizer: { name: 'sgd', learningRate: 0.1 },
      dataset: { id: ds.id }, batchSize: 30, steps: STEPS, minWorkers: 2, checkpointEvery: 20,
    });
    model.dispose();
    const auth = { headers: { authorization: `Bearer ${job.ownerToken}` } };
    const browser = await launchChromium();
    cleanups.push(() => browser.close());
    for (let i = 0; i < 2; i++) await (await (await workerContext(browser)).newPage()).goto(`${job.joinUrl}&backend=cpu`);
    const done = await waitFor('job done', async () => {
      const v = (await (await fetch(`${server.url}/api/jobs/${job.id}`, auth)).json()) as View;
      return v.status === 'done' && v.hasWeights ? v : null;
    }, 180_000, 200);
    const { metrics } = (await (await fetch(`${server.url}/api/jobs/${job.id}/metrics`, auth)).json()) as { metrics: { step: number; loss: number }[] };
    expect(metrics.map((m) => m.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i));
    expect(metrics.at(-1)!.loss).toBeLessThan(metrics[0]!.loss);
    const weights = new Float32Array(await (await fetch(`${server.url}/api/jobs/${job.id}/weights`, auth)).arrayBuffer());
    const ref = await trainReference(done.spec, createDatasetFiles(server.datasets).source, STEPS);
    expect(maxAbsDiff(weights, ref.params)).toBeLessThanOrEqual(1e-4);
  }, 240_000);
});
