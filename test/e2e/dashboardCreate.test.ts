/**
 * The dashboard's create form in a real Chromium against the real server: an uploaded tfjs
 * Layers model.json becomes a job, and the char-level SOTU preset trains in a real worker.
 */
import * as tf from '@tensorflow/tfjs';
import type { Browser, Page } from 'playwright';
import { expect as pw } from 'playwright/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TabswarmServer } from '../../server/app.ts';
import { launchChromium } from '../../server/browser.ts';
import { startWorkers } from '../../server/workers.ts';
import { screenshot } from './dashboardHelpers.ts';
import { startServer } from './helpers.ts';

let server: TabswarmServer;
let browser: Browser;

beforeAll(async () => {
  server = await startServer();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

const chartPoints = (page: Page, name: string) => page.locator(`[data-chart="${name}"]`).getAttribute('data-points').then(Number);

describe('dashboard create form', () => {
  it('creates a job from an uploaded tfjs Layers model.json, and shows a file that is no model next to the field', async () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 8, activation: 'tanh' }), tf.layers.dense({ units: 3, activation: 'softmax' })] });
    const topology = model.toJSON(undefined, false) as unknown as Record<string, unknown>;
    model.dispose();
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${server.url}/dashboard.html`);
    await page.locator('#f-preset').selectOption('upload');
    await pw(page.locator('#f-model')).toBeVisible();
    const upload = (name: string, json: unknown) => page.locator('#f-model').setInputFiles({ name, mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(json)) });
    await upload('notes.json', { hello: 'world' });
    await page.locator('#f-name').fill('uploaded');
    await page.locator('#f-dataset-id').selectOption('iris');
    await page.locator('#f-optimizer-name').selectOption('sgd');
    await page.locator('#f-optimizer-learningRate').fill('0.1');
    await page.locator('#f-batchSize').fill('16');
    await page.locator('#f-steps').fill('10');
    await page.locator('#create-submit').click();
    await pw(page.locator('[data-error-for="model"]')).toContainText('model.class_name: Required');
    expect(server.jobs.jobs.size).toBe(0);
    // what `model.save()` writes as model.json: { format, modelTopology, weightsManifest }
    await upload('model.json', { format: 'layers-model', modelTopology: topology, weightsManifest: [] });
    await page.locator('#create-submit').click();
    await page.waitForURL(/dashboard\.html\?job=/);
    const job = server.jobs.get(new URL(page.url()).searchParams.get('job')!);
    expect(job.spec).toMatchObject({ name: 'uploaded', model: topology, optimizer: { name: 'sgd', learningRate: 0.1 }, batchSize: 16, steps: 10 });
    await pw(page.locator('#job-model')).toHaveText('Sequential: Dense(8, tanh) → Dense(3, softmax)');
    await page.context().close();
  });

  it('the char-level SOTU preset trains in a browser worker', async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${server.url}/dashboard.html`);
    await page.locator('#f-preset').selectOption('sotu-char');
    await pw(page.locator('#f-dataset-id')).toHaveValue('sotu');
    await page.locator('#f-steps').fill('6');
    await page.locator('#f-dataset-trainSize').fill('2000');
    await page.locator('#f-dataset-testSize').fill('200');
    await page.locator('#f-evalEvery').fill('3');
    await page.locator('#create-submit').click();
    await page.waitForURL(/dashboard\.html\?job=/);
    const job = server.jobs.get(new URL(page.url()).searchParams.get('job')!);
    const one = await startWorkers({ url: (await page.locator('#join-link').getAttribute('href'))!, count: 1 });
    try {
      await pw(page.locator('#status')).toHaveText('done', { timeout: 90_000 });
      const m = job.coordinator.metrics;
      expect(m).toHaveLength(6);
      expect(m[0]!.loss).toBeCloseTo(Math.log(97), 0);
      expect(m[5]!.loss).toBeLessThan(m[0]!.loss);
      expect(m[2]!.testAccuracy).toBeGreaterThanOrEqual(0);
      await pw(page.locator('#members tbody tr[data-state="active"]')).toHaveCount(1);
      await pw.poll(() => chartPoints(page, 'loss')).toBe(6);
      await screenshot(one.pages[0]!, 'volunteer-sotu-done');
    } finally {
      await one.close();
      await page.context().close();
    }
  }, 120_000);
});
