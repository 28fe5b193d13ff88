/**
 * The distributed input pipeline over the real thing: a CSV stored as many small shards, a
 * job of 3 Chromium tabs over WebRTC. Each tab fetches (per the server's per-peer counters)
 * only shards its slices, its prefetch or its part of the evaluation read — fewer than all —
 * one tab with a shard cache a quarter of the dataset; training equals the single process.
 * Then a shard altered on the server's disk is refused by a fresh tab with HASH_MISMATCH.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import type { Page } from 'playwright';
import { launchChromium, workerContext } from '../../server/browser.ts';
import { createDatasetFiles } from '../../server/datasetFiles.ts';
import { maxAbsDiff, trainReference } from '../../server/reference.ts';
import type { StoredDatasetMeta } from '../../shared/datasetShards.ts';
import { ShardPlan, trainCounts } from '../../shared/shardPlan.ts';
import { createJob, startServer, waitFor } from './helpers.ts';
import type { PrivateJobView as View } from '../../server/jobViews.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

function blobsCsv(n: number): string {
  let seed = 11;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const rows = ['f1,f2,f3,f4,label'];
  for (let i = 0; i < n; i++) {
    const c = (i * 7) % 3;
    rows.push([0, 1, 2, 3].map((k) => (c * (k % 2 === 0 ? 1.5 : -1) + 0.6 * rnd()).toFixed(4)).join(',') + `,c${c}`);
  }
  return rows.join('\n') + '\n';
}

type Hook = { peerId: string; state: string; detail: string; feed: { fetched: number; fetchedBytes: number; hashMismatches: number } | null };
const hook = (p: Page) => p.evaluate(() => (window as unknown as { __tabswarm?: Hook }).__tabswarm ?? null);

describe('distributed input pipeline', () => {
  it('3 tabs fetch only the shards they read, fewer than all, and train exactly; a tampered shard is refused', async () => {
    // 20 samples (20 B each) per shard: 60 shards
    const dataDir = mkdtempSync(join(tmpdir(), 'tabswarm-pipeline-'));
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    const server = await startServer({ dataDir, datasets: { shardBytes: 400 } });
    cleanups.push(() => server.close());
    const up = await fetch(`${server.url}/api/datasets?format=csv&label=label&name=blobs`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: blobsCsv(1200) });
    const meta = (await up.json()) as StoredDatasetMeta;
    expect(up.status).toBe(201);
    expect(meta.shards.length).toBe(60);
    const total = meta.shards.reduce((a, s) => a + s.bytes, 0);
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 8, activation: 'relu' }), tf.layers.dense({ units: 3, activation: 'softmax' })] });
    const STEPS = 18;
    const TEST = 30;
    const job = await createJob(server.url, {
      name: 'pipeline', model: model.toJSON(undefined, false), optimizer: { name: 'sgd', learningRate: 0.1 },
      dataset: { id: meta.id, testSize: TEST }, batchSize: 48, steps: STEPS, minWorkers: 3, checkpointEvery: 100,
    });
    model.dispose();
    const auth = { headers: { authorization: `Bearer ${job.ownerToken}` } };
    const browser = await launchChromium();
    cleanups.push(() => browser.close());
    // the third tab's cache holds a quarter of the dataset
    const cacheMb = [512, 512, total / 4 / 1024 / 1024];
    const pages: Page[] = [];
    for (const mb of cacheMb) {
      const page = await (await workerContext(browser)).newPage();
      await page.goto(`${job.joinUrl}&backend=cpu&cacheMb=${mb}`);
      pages.push(page);
    }
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
    // the final evaluation: each tab scored the test samples of the shards it holds (ranges of
    // the test set, not equal parts); summed, the parts score the whole test set as one process does
    const scored = await waitFor('the final evaluation', async () => {
      const v = (await (await fetch(`${server.url}/api/jobs/${job.id}`, auth)).json()) as View;
      return v.testAccuracy !== null ? v : null;
    }, 60_000, 200);
    expect(scored.testAccuracy).toBe(ref.testAccuracy);

    // what each tab may have read: the shards of the batches it trained (and 2 steps of prefetch
    // beyond), and those holding the first TEST test samples (its evaluation part)
    const plan = new ShardPlan(trainCounts(meta.shards), 48, done.spec.seed);
    const mayRead = new Set<string>();
    for (let s = 0; s < STEPS + 2; s++) for (const i of plan.shardsOf(s)) mayRead.add(meta.shards[i]!.hash);
    for (const sh of meta.shards) if (sh.start < TEST * 10) mayRead.add(sh.hash);
    const stats = (await (await fetch(`${server.url}/api/datasets/${meta.id}/stats`)).json()) as { shards: number; peers: Record<string, { fetches: number; bytes: number; shards: number; hashes: string[] }> };
    expect(stats.shards).toBe(60);
    const hooks = await Promise.all(pages.map(hook));
    console.log('shards read per tab', hooks.map((h) => ({ peer: h!.peerId, ...stats.peers[h!.peerId], hashes: undefined })), 'needed by the batches', mayRead.size, 'of', stats.shards);
    for (const h of hooks) {
      const c = stats.peers[h!.peerId]!;
      expect(c, `counters of ${h!.peerId}`).toBeDefined();
      expect(c.shards).toBeLessThan(mayRead.size); // not whole batches: its slices' shards
      expect(c.shards).toBeLessThan(60);
      expect(h!.feed!.fetched).toBe(c.fetches);
      // nothing the plan did not need
      for (const x of c.hashes) expect(mayRead.has(x), `${h!.peerId} fetched ${x}`).toBe(true);
    }
    const distinctFetched = hooks.reduce((a, h) => a + stats.peers[h!.peerId]!.shards, 0);
    // together the tabs read each needed shard about once, not once per tab
    expect(distinctFetched).toBeLessThan(2 * mayRead.size);

    // a shard altered on the server's disk (while it is down: a running server serves what it
    // compressed before): a fresh tab refuses it with the code
    const victim = meta.shards[plan.shardsOf(0)[0]!]!.hash;
    const file = join(server.datasets.dirs.shards, victim.slice(0, 2), victim);
    await server.close();
    const b = readFileSync(file);
    b[b.length - 1] ^= 1;
    writeFileSync(file, b);
    const again = await startServer({ dataDir, datasets: { shardBytes: 400 } });
    cleanups.push(() => again.close());
    const job2 = await createJob(again.url, {
      name: 'tampered', model: done.spec.model, optimizer: { name: 'sgd', learningRate: 0.1 },
      dataset: { id: meta.id }, batchSize: 48, steps: 2, minWorkers: 1,
    });
    const page = await (await workerContext(browser)).newPage();
    await page.goto(`${job2.joinUrl}&backend=cpu`);
    const refused = await waitFor('the tampered shard refused', async () => {
      const v = (await (await fetch(`${again.url}/api/jobs/${job2.id}`, { headers: { authorization: `Bearer ${job2.ownerToken}` } })).json()) as View & { events: { kind: string; detail: string }[] };
      return v.events.find((e) => e.detail.includes('HASH_MISMATCH')) ?? null;
    }, 60_000, 200);
    expect(refused.detail).toContain(victim.slice(0, 16));
  }, 300_000);
});
