/**
 * Idle members serve prediction units: two Chromium tabs train a small iris job to the end and
 * stay open; a prediction job made from that job's weights, created afterwards on the same
 * server, has its units computed by those two tabs — the server tells them (`serve`), nobody
 * navigates them. Outputs in input order equal one process's `model.predict` of the same weights.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import type { Browser, Page } from 'playwright';
import { launchChromium, workerContext } from '../../server/browser.ts';
import { createDatasetFiles } from '../../server/datasetFiles.ts';
import type { TabswarmServer } from '../../server/app.ts';
import type { PrivateJobView } from '../../server/jobViews.ts';
import { Replica } from '../../shared/replica.ts';
import { npyPayload, predictAll } from '../integration/prediction/predictFixtures.ts';
import { createJob, startServer, waitFor } from './helpers.ts';

let server: TabswarmServer;
let browser: Browser;

beforeAll(async () => {
  await tf.setBackend('cpu');
  server = await startServer();
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('idle members serve prediction units', () => {
  it('the tabs of a finished training job predict a prediction job made from its weights, without being navigated', async () => {
    const STEPS = 12;
    const train = await createJob(server.url, { preset: 'iris-mlp', steps: STEPS, minWorkers: 2, evalEvery: STEPS, checkpointEvery: 100 });
    const auth = { headers: { authorization: `Bearer ${train.ownerToken}` } };
    const pages: Page[] = [];
    for (let i = 0; i < 2; i++) {
      const p = await (await workerContext(browser)).newPage();
      await p.goto(`${train.joinUrl}&backend=cpu`);
      pages.push(p);
    }
    const trained = await waitFor('training done with final weights', async () => {
      const v = (await (await fetch(`${server.url}/api/jobs/${train.id}`, auth)).json()) as PrivateJobView;
      return v.status === 'done' && v.hasWeights ? v : null;
    }, 180_000, 200);
    // both tabs finished and stay open, idle
    for (const p of pages) await p.waitForFunction(() => (window as unknown as { __tabswarm?: { state: string } }).__tabswarm?.state === 'done');

    const r = await fetch(`${server.url}/api/jobs`, {
      method: 'POST', headers: { 'content-type': 'application/json', ...auth.headers },
      body: JSON.stringify({ kind: 'predict', model: { job: train.id }, dataset: 'iris', split: 'test', unitSize: 7, batchSize: 4 }),
    });
    const pred = (await r.json()) as { id: string; ownerToken: string };
    expect(r.status, JSON.stringify(pred)).toBe(201);
    const pauth = { headers: { authorization: `Bearer ${pred.ownerToken}` } };
    const done = await waitFor('prediction done', async () => {
      const v = (await (await fetch(`${server.url}/api/jobs/${pred.id}`, pauth)).json()) as PrivateJobView;
      return v.status === 'done' ? v : null;
    }, 120_000, 200);

    // the two training tabs did the work: each was told to serve this job and joined it itself
    for (const p of pages) {
      const s = await p.evaluate(() => {
        const w = window as unknown as { __tabswarmServing?: string; __tabswarmSessions?: number };
        return { serving: w.__tabswarmServing, sessions: w.__tabswarmSessions, url: location.href, title: document.getElementById('job')!.textContent ?? '' };
      });
      expect(s.serving).toBe(pred.id);
      expect(s.sessions).toBe(2);
      expect(s.url).toContain(`job=${train.id}`);
      expect(s.title).toContain(`serving prediction job`);
    }
    expect(done.prediction!.unitsDone).toBe(done.prediction!.units);
    // no other worker exists: these two tabs computed every unit; after units-done they stay idle
    for (const p of pages) await p.waitForFunction((id) => {
      const v = (window as unknown as { __tabswarm?: { state: string; jobId: string } }).__tabswarm;
      return v?.jobId === id && v.state === 'done';
    }, pred.id);

    // one process, the same weights, the same inputs
    const weights = new Float32Array(await (await fetch(`${server.url}/api/jobs/${train.id}/weights`, auth)).arrayBuffer());
    const replica = await Replica.create(tf, trained.spec);
    replica.setParams(weights);
    const single = await predictAll(replica.model, createDatasetFiles().source, 'iris', 'test');
    replica.dispose();
    const npy = npyPayload(new Uint8Array(await (await fetch(`${server.url}/api/jobs/${pred.id}/predictions?format=npy`, pauth)).arrayBuffer()));
    expect(npy.length).toBe(single.out.length);
    expect(single.size).toBe(30);
    const maxAbsDiff = npy.reduce((m, x, i) => Math.max(m, Math.abs(x - single.out[i]!)), 0);
    expect(maxAbsDiff).toBeLessThanOrEqual(1e-5);
  }, 300_000);
});
