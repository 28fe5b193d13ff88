/**
 * The demo's second half: the trained job's test set predicted by the same tabs (idle once
 * training is done, the server tells them to serve a prediction job of the finished job's
 * weights; nobody navigates them), the accuracy counted from the
 * gathered outputs, and the outputs compared with one process's `model.predict` of the same
 * weights on the same inputs.
 */
import * as tf from '@tensorflow/tfjs';
import { loadDataset } from '../shared/datasets.ts';
import { TabswarmError, TimeoutError } from '../shared/errors.ts';
import { Replica } from '../shared/replica.ts';
import { createDatasetFiles } from './datasetFiles.ts';
import type { PrivateJobView } from './jobViews.ts';
import type { LocalSwarm } from './localSwarm.ts';

export interface DemoPrediction {
  samples: number;
  units: number;
  workers: number;
  samplesPerSec: number;
  /** from the gathered predictions: argmax against the labels */
  accuracy: number;
  /** the same, from one process's model.predict with the served (downloadable) final weights */
  accuracySingle: number;
  /** max |swarm − one process's model.predict| over every output */
  maxAbsDiffVsSingle: number;
  /** bytes of outputs uploaded per sample (float32 × outputs) */
  wireBytesPerSample: number;
}

/**
 * fetch, tried again once when a kept-alive connection was reset: after a long pause (the
 * reference training) undici may reuse a socket the server is closing at that moment, and it
 * does not retry a POST itself. A reset socket never carried the request.
 */
async function fetchOnce(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (e) {
    if ((e as { cause?: { code?: string } }).cause?.code !== 'ECONNRESET') throw e;
    return fetch(url, init);
  }
}

export async function predictWithSameTabs(run: LocalSwarm, trained: PrivateJobView, o: { timeoutS: number; backend?: string | undefined; print: (l: string) => void }): Promise<DemoPrediction> {
  const spec = trained.spec;
  const testSize = spec.dataset.testSize;
  const workers = run.swarm.pages.length;
  // units: three per tab; one model.predict per unit (batch ≥ unit), as evaluation scores a part
  const unitSize = Math.max(1, Math.ceil((testSize || 10_000) / (3 * workers)));
  const r = await fetchOnce(`${run.server.url}/api/jobs`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${run.job.ownerToken}` },
    body: JSON.stringify({ kind: 'predict', name: `${spec.name} predictions`, model: { job: run.job.id }, dataset: spec.dataset.id, split: 'test', limit: testSize, unitSize, batchSize: Math.min(8192, unitSize), minWorkers: workers }),
  });
  const created = (await r.json()) as { id: string; ownerToken: string; joinUrl: string; error?: { message: string } };
  if (r.status !== 201) throw new TabswarmError('BAD_JOB_SPEC', `prediction job: ${created.error?.message}`);
  const auth = { headers: { authorization: `Bearer ${created.ownerToken}` } };
  // nobody navigates the tabs: idle members of the finished job are told to serve it (server/prediction/serveIdle.ts),
  // on the backend their page was opened with (o.backend, as in training)
  o.print(`predicting the test set with the same ${workers} tabs: job ${created.id}`);
  const deadline = Date.now() + o.timeoutS * 1000;
  let view: PrivateJobView;
  for (;;) {
    view = (await (await fetch(`${run.server.url}/api/jobs/${created.id}`, auth)).json()) as PrivateJobView;
    if (view.status === 'failed') throw new TabswarmError('JOB_FAILED', `prediction job failed: ${view.failure}`);
    if (view.status === 'done') break;
    if (Date.now() > deadline) throw new TimeoutError(`prediction job ${created.id}`, o.timeoutS * 1000);
    await new Promise((res) => setTimeout(res, 250));
  }
  const p = view.prediction!;
  const npy = new Uint8Array(await (await fetch(`${run.server.url}/api/jobs/${created.id}/predictions?format=npy`, auth)).arrayBuffer());
  const headerLen = npy[8]! | (npy[9]! << 8);
  const out = new Float32Array(npy.slice(10 + headerLen).buffer);
  // one process: the same final weights, tfjs in Node
  const weights = new Float32Array(await (await run.request('/weights')).arrayBuffer());
  const test = await loadDataset(createDatasetFiles().source, spec.dataset.id, 'test', testSize);
  const replica = await Replica.create(tf, spec);
  let maxDiff = 0;
  let correct = 0;
  let correctSingle = 0;
  try {
    replica.setState(weights.subarray(0, replica.size), weights.subarray(replica.size));
    const y = replica.model.predict(tf.tensor(test.x, [test.size, ...test.featureShape])) as tf.Tensor;
    const single = (await y.data()) as Float32Array;
    y.dispose();
    for (let i = 0; i < single.length; i++) maxDiff = Math.max(maxDiff, Math.abs(single[i]! - out[i]!));
    const k = out.length / test.size;
    for (let i = 0; i < test.size; i++) {
      let best = 0;
      for (let j = 1; j < k; j++) if (out[i * k + j]! > out[i * k + best]!) best = j;
      if (best === test.y[i]) correct++;
      let bestSingle = 0;
      for (let j = 1; j < k; j++) if (single[i * k + j]! > single[i * k + bestSingle]!) bestSingle = j;
      if (bestSingle === test.y[i]) correctSingle++;
    }
  } finally {
    replica.dispose();
  }
  return {
    samples: p.samples, units: p.units, workers: view.members.filter((m) => m.samplesDone > 0).length, samplesPerSec: p.samplesPerSec,
    accuracy: correct / test.size, accuracySingle: correctSingle / test.size, maxAbsDiffVsSingle: maxDiff, wireBytesPerSample: (out.length / test.size) * 4,
  };
}
