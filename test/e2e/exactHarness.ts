/**
 * What the exactness e2e tests share: one server and one Chromium per file, jobs created over
 * REST with their owner token, worker tabs opened on a chosen backend, the job's views, events
 * and downloaded weights, and a wait for a job whose every active member reported its final
 * state. The server runs in the test's process, so requests are retried once when a pooled
 * keep-alive socket turns out closed.
 */
import * as tf from '@tensorflow/tfjs';
import type { Browser, Page } from 'playwright';
import { connect } from '../../client/api/index.ts';
import type { TabswarmServer } from '../../server/app.ts';
import { launchChromium, workerContext } from '../../server/browser.ts';
import { createDatasetFiles } from '../../server/datasetFiles.ts';
import type { PrivateJobView as JobView } from '../../server/jobViews.ts';
import { loadDataset } from '../../shared/datasets.ts';
import { createJob, startServer, waitFor } from './helpers.ts';

export interface Started {
  id: string;
  ownerToken: string;
  view: () => Promise<JobView>;
  open: (prepare?: (p: Page) => Promise<void>) => Promise<Page>;
  control: (what: string) => Promise<Response>;
  weights: () => Promise<Float32Array>;
  events: () => Promise<{ kind: string; detail: string; peerId?: string }[]>;
  steps: () => Promise<number[]>;
}

export interface ExactHarness {
  server: TabswarmServer;
  browser: Browser;
  /** a job from `body` (over the mnist-mlp preset), its tabs opened on `backend` */
  start: (body: Record<string, unknown>, backend: string) => Promise<Started>;
  close: () => Promise<void>;
}

/** Whether `e` or an error it was caused by (fetch failed → ECONNRESET) is a socket reset. */
function socketReset(e: unknown): boolean {
  for (let c = e, depth = 0; c && depth < 4; c = (c as { cause?: unknown }).cause, depth++) {
    const code = (c as { code?: unknown }).code;
    if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return true;
  }
  return false;
}

/** Retries a request whose kept-alive socket the in-process server closed meanwhile (trainReference holds the event loop). */
async function again<T>(f: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await f();
    } catch (e) {
      if (attempt >= 2 || !socketReset(e)) throw e;
    }
  }
}

export async function exactHarness(): Promise<ExactHarness> {
  const server = await startServer();
  const browser = await launchChromium().catch(async (e) => {
    await server.close();
    throw e;
  });
  const start = async (body: Record<string, unknown>, backend: string): Promise<Started> => {
    const job = await again(() => createJob(server.url, { preset: 'mnist-mlp', evalEvery: 0, ...body }));
    const auth = { headers: { authorization: `Bearer ${job.ownerToken}` } };
    const api = (p: string) => again(() => fetch(`${server.url}/api/jobs/${job.id}${p}`, auth));
    const metrics = async () => (await (await api('/metrics')).json()) as { metrics: { step: number }[]; events: { kind: string; detail: string; peerId?: string }[] };
    return {
      id: job.id,
      ownerToken: job.ownerToken,
      view: async () => (await (await api('')).json()) as JobView,
      open: async (prepare) => {
        const page = await (await workerContext(browser)).newPage();
        if (prepare) await prepare(page);
        await page.goto(`${job.joinUrl}&backend=${backend}`);
        return page;
      },
      control: (what) => again(() => fetch(`${server.url}/api/jobs/${job.id}/${what}`, { method: 'POST', ...auth })),
      weights: async () => new Float32Array(await (await api('/weights')).arrayBuffer()),
      events: async () => (await metrics()).events,
      steps: async () => (await metrics()).metrics.map((m) => m.step),
    };
  };
  return {
    server,
    browser,
    start,
    close: async () => {
      await browser.close().catch(() => {});
      await server.close().catch(() => {});
    },
  };
}

/** The job done, with every active member's final report in. */
export const finished = (s: Started, timeoutMs: number) =>
  waitFor('job done with every active member reporting', async () => {
    const v = await s.view();
    const active = v.members.filter((m) => m.state === 'active');
    return v.status === 'done' && v.hasWeights && active.length > 0 && active.every((m) => m.final) ? v : null;
  }, timeoutMs, 100);

export const datasetSource = () => createDatasetFiles().source;

/**
 * Test accuracy of the job's downloaded model (model.json + weights.bin through the client
 * API, tfjs's cpu backend in Node), fed as the replicas feed it: the feature vector, split in
 * input order for a model with several inputs.
 */
export async function downloadedAccuracy(url: string, s: Started, done: JobView): Promise<{ accuracy: number; count: number }> {
  await tf.setBackend('cpu');
  const model = await again(() => connect(url).job(s.id, s.ownerToken).model(tf));
  const test = await loadDataset(datasetSource(), done.spec.dataset.id, 'test', done.spec.dataset.testSize);
  const feat = test.featureShape.reduce((a, b) => a * b, 1);
  const shapes = model.inputs.map((t) => t.shape.slice(1) as number[]);
  let correct = 0;
  for (let start = 0; start < test.size; start += 100) {
    const n = Math.min(100, test.size - start);
    const x = test.x.subarray(start * feat, (start + n) * feat);
    const pred = tf.tidy(() => {
      let input: tf.Tensor | tf.Tensor[];
      if (shapes.length === 1) input = tf.tensor(x, [n, ...test.featureShape]);
      else {
        const sizes = shapes.map((sh) => sh.reduce((a, b) => a * b, 1));
        input = tf.split(tf.tensor(x, [n, feat]), sizes, 1).map((t, k) => tf.reshape(t, [n, ...shapes[k]!]));
      }
      return tf.argMax(model.predict(input) as tf.Tensor, 1);
    });
    const p = await pred.data();
    pred.dispose();
    for (let i = 0; i < n; i++) if (p[i] === test.y[start + i]) correct++;
  }
  model.dispose();
  return { accuracy: correct / test.size, count: test.size };
}
