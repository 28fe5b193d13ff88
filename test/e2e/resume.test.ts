/**
 * When every worker leaves, the job waits; the next worker to arrive resumes from the
 * server's last checkpoint, and the result still equals the uninterrupted single process.
 * The owner pauses the job before the workers leave, so the job cannot finish first (Iris
 * steps take milliseconds), and resumes it once they are gone.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { launchChromium, workerContext } from '../../server/browser.ts';
import { createDatasetFiles } from '../../server/datasetFiles.ts';
import { maxAbsDiff, trainReference } from '../../server/reference.ts';
import { createJob, startServer, waitFor } from './helpers.ts';
import type { PrivateJobView as JobView } from '../../server/jobViews.ts';


const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

describe('all workers leave', () => {
  it('the job pauses, then resumes from the checkpoint with a new worker and trains the same model', async () => {
    const server = await startServer();
    cleanups.push(() => server.close());
    const STEPS = 300;
    const job = await createJob(server.url, { preset: 'iris-mlp', steps: STEPS, minWorkers: 2, checkpointEvery: 5 });
    const auth = { headers: { authorization: `Bearer ${job.ownerToken}` } };
    const view = async () => (await (await fetch(`${server.url}/api/jobs/${job.id}`, auth)).json()) as JobView;
    const browser = await launchChromium();
    cleanups.push(() => browser.close());
    const open = async () => {
      const page = await (await workerContext(browser)).newPage();
      await page.goto(`${job.joinUrl}&backend=cpu`);
      return page;
    };

    const first = [await open(), await open()];
    const at = await waitFor('step 12', async () => {
      const v = await view();
      return v.step >= 12 ? v.step : null;
    });
    const control = (what: string) => fetch(`${server.url}/api/jobs/${job.id}/${what}`, { method: 'POST', ...auth });
    expect((await control('pause')).status).toBe(200);
    for (const p of first) await p.close();
    await waitFor('both workers gone', async () => (await view()).members.every((m) => m.state === 'left' || m.state === 'dropped'));
    expect((await control('resume')).status).toBe(200);
    await waitFor('the job to wait for workers', async () => (await view()).status === 'waiting');
    const paused = await view();
    expect(paused.step).toBeGreaterThanOrEqual(at);
    expect(paused.step).toBeLessThan(STEPS);

    await open();
    const done = await waitFor('job done', async () => {
      const v = await view();
      return v.status === 'done' && v.hasWeights && v.members.some((m) => m.final) ? v : null;
    }, 200_000, 100);

    const { metrics, events } = (await (await fetch(`${server.url}/api/jobs/${job.id}/metrics`, auth)).json()) as { metrics: { step: number }[]; events: { kind: string; detail: string }[] };
    expect(metrics.map((m) => m.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i));
    // the newcomer got the server's last checkpoint; training rolled back to it unless the job
    // was paused exactly at a checkpoint boundary
    const sync = events.find((e) => e.kind === 'sync' && /from the server's checkpoint/.test(e.detail));
    const cpStep = Number(/state of step (\d+)/.exec(sync?.detail ?? '')?.[1]);
    expect(cpStep % 5).toBe(0);
    expect(cpStep).toBeGreaterThan(0);
    expect(cpStep).toBeLessThanOrEqual(paused.step);
    const rollback = events.find((e) => e.kind === 'rollback');
    if (cpStep < paused.step) expect(rollback?.detail).toContain(`checkpoint at step ${cpStep}`);
    else expect(rollback).toBeUndefined();
    const swarm = new Float32Array(await (await fetch(`${server.url}/api/jobs/${job.id}/weights`, auth)).arrayBuffer());
    const ref = await trainReference(done.spec, createDatasetFiles().source, STEPS);
    expect(maxAbsDiff(swarm, ref.params)).toBeLessThanOrEqual(1e-4);
  }, 300_000);
});
