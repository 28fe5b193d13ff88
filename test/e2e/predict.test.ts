/**
 * Prediction jobs in real Chromium tabs: the MNIST test set (10,000) predicted by three tabs
 * in units of 1,536 (the last one 784), outputs in input order equal to one process's
 * `model.predict`; a tab killed in the middle of a unit (its units reissued, every unit stored
 * once); and with `replicas: 2` a tab that alters its outputs is caught, outvoted and flagged.
 * Every tab and the reference run tfjs's cpu backend, so copies are bit-equal.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import type { Browser, Page } from 'playwright';
import { launchChromium, workerContext } from '../../server/browser.ts';
import { createDatasetFiles } from '../../server/datasetFiles.ts';
import type { TabswarmServer } from '../../server/app.ts';
import type { PrivateJobView } from '../../server/jobViews.ts';
import { modelBody, npyPayload, predictAll, savedMlp } from '../integration/prediction/predictFixtures.ts';
import { onPhase, startServer, waitFor } from './helpers.ts';

let server: TabswarmServer;
let browser: Browser;
let body: ReturnType<typeof modelBody>;
let model: tf.LayersModel;

beforeAll(async () => {
  await tf.setBackend('cpu');
  server = await startServer();
  browser = await launchChromium();
  const m = await savedMlp([28, 28, 1], 32, 10, 11);
  model = m.model;
  body = modelBody(m.saved);
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function create(extra: Record<string, unknown>) {
  const r = await fetch(`${server.url}/api/jobs`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ kind: 'predict', model: body, dataset: 'mnist', split: 'test', ...extra }),
  });
  const j = (await r.json()) as { id: string; ownerToken: string; joinUrl: string };
  expect(r.status, JSON.stringify(j)).toBe(201);
  return j;
}

async function tab(joinUrl: string, setup?: (p: Page) => Promise<unknown>) {
  const page = await (await workerContext(browser)).newPage();
  await setup?.(page);
  await page.goto(`${joinUrl}&backend=cpu`);
  return page;
}

async function finished(job: { id: string; ownerToken: string }) {
  const v = await waitFor('prediction done', async () => {
    const x = (await (await fetch(`${server.url}/api/jobs/${job.id}`, { headers: { authorization: `Bearer ${job.ownerToken}` } })).json()) as PrivateJobView;
    return x.status === 'done' ? x : null;
  }, 180_000, 200);
  const r = await fetch(`${server.url}/api/jobs/${job.id}/predictions?format=npy`, { headers: { authorization: `Bearer ${job.ownerToken}` } });
  return { view: v, out: npyPayload(new Uint8Array(await r.arrayBuffer())) };
}

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

/** counts the writes per unit offset (each unit must be stored once) */
function countWrites(jobId: string) {
  const out = server.jobs.get(jobId).coordinator.prediction!.setup.output;
  const writes = new Map<number, number>();
  const write = out.write.bind(out);
  out.write = (start, rows) => (writes.set(start, (writes.get(start) ?? 0) + 1), write(start, rows));
  return writes;
}

describe('prediction in tabs', () => {
  it('three tabs predict the MNIST test set; outputs in input order equal one process, the short last unit included', async () => {
    const job = await create({ unitSize: 1536, batchSize: 512, minWorkers: 3 });
    const run = server.jobs.get(job.id).coordinator.prediction!;
    expect(run.book.units.map((u) => u.count)).toEqual([1536, 1536, 1536, 1536, 1536, 1536, 784]);
    const writes = countWrites(job.id);
    const pages = await Promise.all([0, 1, 2].map(() => tab(job.joinUrl)));
    const dashboard = await (await workerContext(browser)).newPage();
    await dashboard.goto(`${server.url}/dashboard.html?job=${job.id}`);
    const { view, out } = await finished(job);
    // the dashboard's job page shows the prediction's progress from the same job view
    await dashboard.locator('#p-units .tile-value', { hasText: '7 / 7' }).waitFor({ timeout: 30_000 });
    expect(await dashboard.locator('#p-samples .tile-value').textContent()).toBe('10000 / 10000');
    await dashboard.context().close();
    const ref = await predictAll(model, createDatasetFiles().source, 'mnist', 'test');
    expect(out.length).toBe(10_000 * 10);
    expect(maxAbsDiff(out, ref.out)).toBeLessThanOrEqual(1e-5);
    expect([...writes.values()].every((n) => n === 1) && writes.size === 7).toBe(true);
    expect(view.prediction).toMatchObject({ unitsDone: 7, samplesDone: 10_000 });
    // it starts with all three (minWorkers), each given two units at once
    expect(view.members.filter((m) => m.samplesDone > 0).length).toBe(3);
    await Promise.all(pages.map((p) => p.context().close()));
  }, 240_000);

  it('a tab killed in the middle of a unit: its units are reissued, the outputs complete, each unit stored once', async () => {
    const job = await create({ unitSize: 700, limit: 3000 });
    const writes = countWrites(job.id);
    let victim: Page | null = null;
    let killed = false;
    victim = await tab(job.joinUrl, (p) =>
      onPhase(p, 'compute', 0, () => {
        killed = true;
        void victim?.context().close();
      }),
    );
    await waitFor('the victim to be killed mid-unit', () => killed, 120_000);
    const pages = await Promise.all([0, 1].map(() => tab(job.joinUrl)));
    const { view, out } = await finished(job);
    const ref = await predictAll(model, createDatasetFiles().source, 'mnist', 'test', 3000);
    expect(maxAbsDiff(out, ref.out)).toBeLessThanOrEqual(1e-5);
    expect(writes.size).toBe(5);
    expect([...writes.values()].every((n) => n === 1)).toBe(true);
    expect(view.prediction!.reissued).toBeGreaterThan(0);
    await Promise.all(pages.map((p) => p.context().close()));
  }, 240_000);

  it('replicas 2: a tab that alters its outputs is outvoted, flagged and dropped; the outputs are the honest ones', async () => {
    const job = await create({ unitSize: 500, limit: 1500, replicas: 2 });
    const liar = await tab(job.joinUrl, (p) =>
      p.addInitScript(() => {
        (window as unknown as { __tabswarmPhase: (p: string, s: number, v: Float32Array) => void }).__tabswarmPhase = (phase, _s, v) => {
          if (phase === 'compute') v[0] = v[0]! + 0.5;
        };
      }),
    );
    await waitFor('the liar to be active', () => [...server.jobs.get(job.id).coordinator.members.values()].some((m) => m.state === 'active'), 120_000);
    const pages = await Promise.all([0, 1].map(() => tab(job.joinUrl)));
    const { view, out } = await finished(job);
    const ref = await predictAll(model, createDatasetFiles().source, 'mnist', 'test', 1500);
    expect(maxAbsDiff(out, ref.out)).toBe(0);
    expect(view.prediction!.flagged).toBe(1);
    expect(view.prediction!.disagreements).toBeGreaterThanOrEqual(1);
    expect(view.members.filter((m) => m.goneReason === 'evicted').length).toBe(1);
    expect(view.events.some((e) => e.detail.startsWith('flagged: its outputs for unit'))).toBe(true);
    await liar.context().close();
    await Promise.all(pages.map((p) => p.context().close()));
  }, 240_000);
});
