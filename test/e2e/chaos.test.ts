/**
 * Tabs come and go, the model does not change: 5 real Chromium workers; one tab is closed in
 * the middle of an all-reduce, another browser process is killed during compute, two new tabs
 * join mid-run. Every step is committed exactly once, the survivors agree bit for bit, and
 * their weights equal a fault-free single-process reference.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright';
import { launchChromium, launchChromiumServer, workerContext } from '../../server/browser.ts';
import { createDatasetFiles } from '../../server/datasetFiles.ts';
import { maxAbsDiff, trainReference } from '../../server/reference.ts';
import { createJob, onPhase, startServer, waitFor } from './helpers.ts';
import type { PrivateJobView as JobView } from '../../server/jobViews.ts';


const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

async function openWorker(browser: Browser, url: string, prepare?: (p: Page) => Promise<void>): Promise<Page> {
  const ctx = await workerContext(browser);
  const page = await ctx.newPage();
  if (prepare) await prepare(page);
  await page.goto(url);
  return page;
}

describe('chaos', () => {
  it('survives a tab closed mid-all-reduce, a browser killed mid-compute and two late joiners; weights equal the fault-free run', async () => {
    const server = await startServer({ coordinator: { heartbeatMs: 1000, heartbeatTimeoutMs: 6000 } });
    cleanups.push(() => server.close());
    const STEPS = 64;
    const job = await createJob(server.url, {
      preset: 'mnist-mlp', steps: STEPS, minWorkers: 5, checkpointEvery: 10, evalEvery: 0,
      dataset: { trainSize: 2048, testSize: 500 },
    });
    const url = `${job.joinUrl}&backend=wasm`;
    const auth = { headers: { authorization: `Bearer ${job.ownerToken}` } };
    const view = async () => (await (await fetch(`${server.url}/api/jobs/${job.id}`, auth)).json()) as JobView;

    const shared = await launchChromium();
    cleanups.push(() => shared.close());
    const own = await launchChromiumServer();
    cleanups.push(() => own.server.close());

    const pages: Page[] = [];
    // Worker 0: its tab closes while its all-reduce of step 12 is in flight.
    pages.push(await openWorker(shared, url, (p) => onPhase(p, 'allreduce', 12, () => void p.close())));
    // Worker 1: in a browser of its own, which is SIGKILLed while computing step 30.
    pages.push(await openWorker(own.browser, url, (p) => onPhase(p, 'compute', 30, () => own.server.process().kill('SIGKILL'))));
    for (let i = 0; i < 3; i++) pages.push(await openWorker(shared, url));

    await waitFor('step 20', async () => (await view()).step >= 20);
    pages.push(await openWorker(shared, url));
    await waitFor('step 40', async () => (await view()).step >= 40);
    pages.push(await openWorker(shared, url));

    const done = await waitFor('job done with every survivor reporting', async () => {
      const v = await view();
      const active = v.members.filter((m) => m.state === 'active');
      return v.status === 'done' && v.hasWeights && active.every((m) => m.final) ? v : null;
    }, 300_000, 250);

    const { metrics, events } = (await (await fetch(`${server.url}/api/jobs/${job.id}/metrics`, auth)).json()) as { metrics: { step: number }[]; events: { kind: string; detail: string; peerId?: string }[] };
    if (process.env.TABSWARM_LOG) console.log(events.filter((e) => e.kind !== "join").map((e) => `${e.kind} ${e.peerId ?? ""} ${e.detail}`).join("\n"));
    // every step committed exactly once, in order
    expect(metrics.map((m) => m.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i));
    // the faults really happened: two members gone, two joined through a state sync
    const gone = done.members.filter((m) => m.state === 'dropped' || m.state === 'left');
    expect(gone.length).toBeGreaterThanOrEqual(2);
    expect(events.filter((e) => e.kind === 'sync').length).toBeGreaterThanOrEqual(2);
    expect(events.filter((e) => e.kind === 'abort').length).toBeGreaterThanOrEqual(2);
    // survivors: 3 original + 2 joiners, bit-identical
    const finals = done.members.filter((m) => m.state === 'active').map((m) => m.final!.paramHash);
    expect(finals.length).toBe(5);
    expect(new Set(finals).size).toBe(1);
    // equal to the fault-free single process
    const swarm = new Float32Array(await (await fetch(`${server.url}/api/jobs/${job.id}/weights`, auth)).arrayBuffer());
    const ref = await trainReference(done.spec, createDatasetFiles().source, STEPS, { backend: 'wasm' }); // the tabs' kernels
    expect(maxAbsDiff(swarm, ref.params)).toBeLessThanOrEqual(1e-4);
  }, 420_000);
});
