/**
 * Small vectors in real Chromium: four (and five) tabs train the iris MLP (a gradient of a few KB), so
 * every tab runs arc-tree (shared/allreduce/scheduleChoice.ts) instead of the ring.
 * One tab scales its gradient by 1e6 once: the ring neighbour that adds it rejects it
 * (FRAME_OUT_OF_BOUNDS, the same bound the ring applies) and it is evicted in the step it
 * attacks. Every step is committed once, the survivors agree bit for bit, and the weights
 * equal a single-process reference.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright';
import { launchChromium, workerContext } from '../../server/browser.ts';
import { createDatasetFiles } from '../../server/datasetFiles.ts';
import { maxAbsDiff, trainReference } from '../../server/reference.ts';
import { createJob, startServer, waitFor } from './helpers.ts';
import type { PrivateJobView as View } from '../../server/jobViews.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

describe('latency schedule in the browser', () => {
  for (const N of [4, 5])
  it(`${N} tabs, iris MLP: arc-tree on every tab; a ×1e6 gradient is evicted within its step; weights equal the reference`, async () => {
    const server = await startServer();
    cleanups.push(() => server.close());
    const STEPS = 40;
    const ATTACK_STEP = 12;
    const job = await createJob(server.url, { preset: 'iris-mlp', steps: STEPS, minWorkers: N, checkpointEvery: 10, evalEvery: 0 });
    const auth = { headers: { authorization: `Bearer ${job.ownerToken}` } };
    const browser = await launchChromium();
    cleanups.push(() => browser.close());
    const pages: Page[] = [];
    for (let i = 0; i < N; i++) {
      const page = await (await workerContext(browser)).newPage();
      if (i === 0) {
        await page.addInitScript((at: number) => {
          let done = false;
          const w = window as unknown as { __tabswarmPhase: (p: string, s: number, v: Float32Array) => void; __attacked?: number; __armed?: boolean };
          w.__tabswarmPhase = (p, s, v) => {
            if (done || !w.__armed || p !== 'compute' || s < at) return;
            done = true;
            w.__attacked = s;
            for (let k = 0; k < v.length - 3; k++) v[k] = v[k]! * 1e6;
          };
        }, ATTACK_STEP);
      }
      await page.goto(`${job.joinUrl}&backend=cpu`);
      pages.push(page);
    }
    const schedules = new Set<string>();
    let armed = false;
    const done = await waitFor('job done', async () => {
      const v = (await (await fetch(`${server.url}/api/jobs/${job.id}`, auth)).json()) as View;
      const active = v.members.filter((m) => m.state === 'active');
      if (!armed && v.step >= 3 && active.length === N) {
        // what every tab ran its last all-reduce with, while all four are in the ring
        for (const p of pages) schedules.add(String(await p.evaluate(() => (window as unknown as { __tabswarm?: { allReduce?: string } }).__tabswarm?.allReduce)));
      }
      if (!armed && v.step >= ATTACK_STEP && active.length === N) {
        armed = true;
        await pages[0]!.evaluate(() => void ((window as unknown as { __armed?: boolean }).__armed = true));
      }
      return v.status === 'done' && v.hasWeights && active.every((m) => m.final) ? v : null;
    }, 240_000, 100);
    expect([...schedules]).toEqual(['arc-tree']);
    const { metrics, events } = (await (await fetch(`${server.url}/api/jobs/${job.id}/metrics`, auth)).json()) as {
      metrics: { step: number; at: number }[];
      events: { at: number; kind: string; peerId?: string; detail: string }[];
    };
    const attacked = await pages[0]!.evaluate(() => (window as unknown as { __attacked?: number }).__attacked);
    expect(attacked).toBeGreaterThanOrEqual(ATTACK_STEP);
    const eviction = events.find((e) => e.kind === 'drop' && e.detail.startsWith('evicted:') && /FRAME_OUT_OF_BOUNDS/.test(e.detail));
    expect(eviction, JSON.stringify(events.filter((e) => e.kind === 'drop'))).toBeDefined();
    const commitAt = (s: number) => metrics.find((m) => m.step === s)!.at;
    expect(eviction!.at).toBeGreaterThanOrEqual(commitAt(attacked! - 1));
    expect(eviction!.at).toBeLessThanOrEqual(commitAt(attacked!));
    expect(metrics.map((m) => m.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i));
    const finals = done.members.filter((m) => m.state === 'active' && m.final).map((m) => m.final!.paramHash);
    expect(finals.length).toBeGreaterThanOrEqual(2);
    expect(new Set(finals).size).toBe(1);
    const swarm = new Float32Array(await (await fetch(`${server.url}/api/jobs/${job.id}/weights`, auth)).arrayBuffer());
    const ref = await trainReference(done.spec, createDatasetFiles().source, STEPS);
    expect(maxAbsDiff(swarm, ref.params)).toBeLessThanOrEqual(1e-4);
  }, 300_000);
});
