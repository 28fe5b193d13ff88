/**
 * The dashboard's datasets in a real Chromium against the real server: a CSV chosen in the
 * file input is uploaded with a progress bar, listed, previewed (its first rows as a table),
 * and a regression job is created on it from the form (a small MLP fitted to the dataset,
 * mean squared error, standardised features) and trained by a real browser worker; its charts
 * and tiles show MAE / RMSE. An image dataset (.npz of 8×8 images) previews as a grid of
 * samples drawn on canvases.
 */
import * as tf from '@tensorflow/tfjs';
import type { Browser } from 'playwright';
import { expect as pw } from 'playwright/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TabswarmServer } from '../../server/app.ts';
import { launchChromium } from '../../server/browser.ts';
import { createDatasetFiles } from '../../server/datasetFiles.ts';
import { loadDataset } from '../../shared/datasets.ts';
import { startWorkers } from '../../server/workers.ts';
import { npy, zip } from '../unit/datasets/fixtures.ts';
import { downloadFromDashboard } from './dashboardHelpers.ts';
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

/** y = 3·a − 2·b + 1 + noise, a fixed generator */
function csv(n: number): { text: string; first: number[] } {
  let seed = 3;
  const r = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const rows: number[][] = [];
  for (let i = 0; i < n; i++) {
    const a = +(10 + 2 * r()).toFixed(3);
    const b = +r().toFixed(3);
    rows.push([a, b, +(3 * (a - 10) - 2 * b + 1 + 0.05 * r()).toFixed(3)]);
  }
  return { text: 'a,b,y\n' + rows.map((x) => x.join(',')).join('\n') + '\n', first: rows[0]! };
}

describe('dashboard datasets', () => {
  it('uploads a CSV with progress, lists and previews it, and trains a regression created from the form', async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${server.url}/dashboard.html`);
    const { text, first } = csv(300);
    await page.locator('#ds-file').setInputFiles({ name: 'linear.csv', mimeType: 'text/csv', buffer: Buffer.from(text) });
    await page.locator('#ds-label').fill('y');
    await page.locator('#ds-task').selectOption('regression');
    await page.locator('#ds-upload').click();
    await pw(page.locator('#ds-status')).toContainText('stored as ds_');
    expect(Number(await page.locator('#ds-progress').evaluate((e) => (e as HTMLProgressElement).value))).toBe(1);
    expect(Number(await page.locator('#ds-progress').getAttribute('data-sent'))).toBe(text.length);
    const stored = server.datasets.list().filter((d) => !d.shipped);
    expect(stored).toHaveLength(1);
    // the shipped datasets are listed beside it: entries of the same store
    await pw(page.locator('#ds-list tr[data-id="mnist"]')).toContainText('70000');
    const id = stored[0]!.id;
    const row = page.locator(`#ds-list tr[data-id="${id}"]`);
    await pw(row).toContainText('regression');
    await pw(row).toContainText('300');
    // the preview: the file's first rows, features then target
    await pw(page.locator('#ds-preview tbody tr')).toHaveCount(10);
    await pw(page.locator('#ds-preview tbody tr').first().locator('td')).toHaveText(first.map(String));

    // the form: the uploaded dataset brings the small MLP and a regression loss
    await page.locator('#f-dataset-id').selectOption(id);
    await pw(page.locator('#f-preset')).toHaveValue('auto');
    await pw(page.locator('#f-loss')).toHaveValue('meanSquaredError');
    await page.locator('#f-standardize').selectOption('true');
    await page.locator('#f-name').fill('linear from the form');
    await page.locator('#f-optimizer-name').selectOption('adam');
    await page.locator('#f-optimizer-learningRate').fill('0.05');
    await page.locator('#f-batchSize').fill('30');
    await page.locator('#f-steps').fill('12');
    await page.locator('#f-evalEvery').fill('6');
    await page.locator('#create-submit').click();
    await page.waitForURL(/dashboard\.html\?job=/);
    const job = server.jobs.get(new URL(page.url()).searchParams.get('job')!);
    expect(job.spec).toMatchObject({ name: 'linear from the form', loss: 'meanSquaredError', standardize: true, dataset: { id }, batchSize: 30, steps: 12 });
    const one = await startWorkers({ url: (await page.locator('#join-link').getAttribute('href'))!, count: 1 });
    try {
      await pw(page.locator('#status')).toHaveText('done', { timeout: 90_000 });
      const m = job.coordinator.metrics;
      expect(m).toHaveLength(12);
      expect(m[11]!.loss).toBeLessThan(m[0]!.loss);
      expect(m[11]!.rmse).toBeCloseTo(Math.sqrt(m[11]!.loss), 4);
      expect(m[5]!.testRmse).toBeGreaterThan(0);
      await pw(page.locator('#t-acc').locator('xpath=preceding-sibling::*[1]')).toHaveText('train MAE / RMSE');
      await pw(page.locator('#t-test')).toContainText('@11');
      await pw.poll(() => page.locator('[data-chart="error"]').getAttribute('data-points').then(Number)).toBe(12);
      await pw(page.locator('[data-chart="accuracy"]')).toBeHidden();
      // and the owner downloads it: the files load in tfjs, and score the test split as the swarm did
      const dl = await downloadFromDashboard(page);
      expect(dl.modelJson.userDefinedMetadata?.tabswarm?.step).toBe(12);
      const test = await loadDataset(createDatasetFiles(server.datasets).source, id, 'test', 0, { standardize: true });
      const out = tf.tidy(() => Array.from((dl.model.predict(tf.tensor(test.x, [test.size, ...test.featureShape])) as tf.Tensor).dataSync()));
      const rmse = Math.sqrt(out.reduce((a, p, i) => a + (p - test.targets![i]!) ** 2, 0) / test.size);
      expect(rmse).toBeCloseTo(m[11]!.testRmse!, 4);
    } finally {
      await one.close();
      await page.context().close();
    }
  }, 150_000);

  it('an image dataset previews as a grid of samples drawn on canvases', async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${server.url}/dashboard.html`);
    const n = 20;
    const x = Array.from({ length: n * 64 }, (_, i) => ((i % 64) * (1 + Math.floor(i / 64))) % 256);
    const y = Array.from({ length: n }, (_, i) => i % 3);
    const file = zip([{ name: 'x.npy', data: npy(x, [n, 8, 8, 1], '|u1') }, { name: 'y.npy', data: npy(y, [n], '<i4') }]);
    await page.locator('#ds-file').setInputFiles({ name: 'tiles.npz', mimeType: 'application/octet-stream', buffer: Buffer.from(file) });
    await page.locator('#ds-upload').click();
    await pw(page.locator('#ds-status')).toContainText('stored as ds_');
    await pw(page.locator('#ds-preview canvas.sample')).toHaveCount(16);
    // the first sample's pixels: 0, 1, 2, … scaled by the preview's range
    const px = await page.locator('#ds-preview canvas.sample').first().evaluate((c) => [...(c as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, 3, 1).data]);
    expect(px.filter((_, i) => i % 4 === 0).every((v, i, a) => i === 0 || v > a[i - 1]!)).toBe(true);
    await pw(page.locator('#ds-preview figcaption').nth(1)).toHaveText('1');
    await page.context().close();
  });
});
