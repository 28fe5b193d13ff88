/**
 * Distributed evaluation: three Chromium tabs each score one third of the test set, and the
 * coordinator sums their counts. The result must be exactly what one process counts when it
 * scores the same weights (the served final weights) on the whole test set — both on the last
 * evaluation step and at the end.
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { launchChromium, workerContext } from '../../server/browser.ts';
import { createDatasetFiles } from '../../server/datasetFiles.ts';
import type { PrivateJobView } from '../../server/jobViews.ts';
import { loadDataset } from '../../shared/datasets.ts';
import { Replica } from '../../shared/replica.ts';
import { createJob, startServer, waitFor } from './helpers.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

describe('distributed evaluation', () => {
  it('three tabs score a third of the test set each; the summed counts equal one process scoring the same weights', async () => {
    const server = await startServer();
    cleanups.push(() => server.close());
    const STEPS = 30;
    const job = await createJob(server.url, { preset: 'iris-mlp', steps: STEPS, minWorkers: 3, evalEvery: STEPS, checkpointEvery: 100 });
    const auth = { headers: { authorization: `Bearer ${job.ownerToken}` } };
    const browser = await launchChromium();
    cleanups.push(() => browser.close());
    for (let i = 0; i < 3; i++) await (await (await workerContext(browser)).newPage()).goto(`${job.joinUrl}&backend=cpu`);
    const done = await waitFor('job done and evaluated', async () => {
      const v = (await (await fetch(`${server.url}/api/jobs/${job.id}`, auth)).json()) as PrivateJobView;
      return v.status === 'done' && v.hasWeights && v.testAccuracy !== null ? v : null;
    }, 180_000, 200);
    const { metrics } = (await (await fetch(`${server.url}/api/jobs/${job.id}/metrics`, auth)).json()) as { metrics: { step: number; testAccuracy?: number }[] };
    // one process, the served weights, the whole test set
    const weights = new Float32Array(await (await fetch(`${server.url}/api/jobs/${job.id}/weights`, auth)).arrayBuffer());
    const test = await loadDataset(createDatasetFiles().source, 'iris', 'test', done.spec.dataset.testSize);
    const replica = await Replica.create(tf, done.spec);
    replica.setParams(weights);
    const single = await replica.evaluate(test, 0, test.size);
    replica.dispose();
    expect(single.count).toBe(30);
    expect(metrics.at(-1)).toMatchObject({ step: STEPS - 1, testAccuracy: single.correct / single.count });
    expect(done.testAccuracy).toBe(single.correct / single.count);
    // each finisher scored only its own part
    const parts = done.members.filter((m) => m.final).map((m) => m.final!.testAccuracy);
    expect(parts.length).toBe(3);
  }, 240_000);
});
