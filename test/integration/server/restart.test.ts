/**
 * The crash test, with real parts only: a `tabswarm serve` process with a data directory, two
 * headless Chromium workers training over WebRTC, the server killed with SIGKILL mid-job
 * just after a checkpoint, and started again on the same port and data directory. The pages
 * rejoin on their own (backoff), resume from the stored checkpoint and finish the job (iris
 * steps take milliseconds, so the first tab back often finishes it alone).
 *
 * Asserts: the committed-step history has every step exactly once; the steps redone after
 * the restart are at most checkpointEvery (and equal what the store held beyond the
 * checkpoint at the kill); the replicas agree and the weights equal a single process trained
 * without interruption; the pages ran under the CSP without a violation. Prints the gap.
 * Runs under test/run.sh (loopback-only network namespace).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createDatasetFiles } from '../../../server/datasetFiles.ts';
import { maxAbsDiff, trainReference } from '../../../server/reference.ts';
import { createStore } from '../../../server/store/store.ts';
import { startWorkers, type HeadlessSwarm } from '../../../server/workers.ts';
import { waitFor } from '../../e2e/helpers.ts';
import { spawnServer, type ServerProcess } from './serverProcess.ts';
import type { PrivateJobView as View } from '../../../server/jobViews.ts';


const STEPS = 150;
const EVERY = 10;
const KILL_AFTER_CHECKPOINT = 20;

let server: ServerProcess | null = null;
let swarm: HeadlessSwarm | null = null;
const dataDir = mkdtempSync(join(tmpdir(), 'tabswarm-restart-'));
afterAll(async () => {
  await swarm?.close().catch(() => {});
  await server?.kill('SIGTERM');
  rmSync(dataDir, { recursive: true, force: true });
});

describe('server killed mid-job', () => {
  it('comes back from its data directory and the swarm finishes the job with no gap or duplicate', async () => {
    expect(existsSync('dist/index.html'), 'the pages must be built first (npm run build)').toBe(true);
    server = await spawnServer({ port: 0, dataDir });
    const { port } = server;
    const created = await fetch(`${server.url}/api/jobs`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ preset: 'iris-mlp', steps: STEPS, checkpointEvery: EVERY, minWorkers: 2 }),
    });
    const job = (await created.json()) as { id: string; ownerToken: string; joinUrl: string };
    expect(created.status).toBe(201);
    const auth = { authorization: `Bearer ${job.ownerToken}` };
    const view = async (): Promise<View> => (await (await fetch(`${server!.url}/api/jobs/${job.id}`, { headers: auth })).json()) as View;

    const console: string[] = [];
    swarm = await startWorkers({ url: job.joinUrl, count: 2, loopbackOnly: true, onConsole: (i, line) => console.push(`#${i} ${line}`) });

    const before = await waitFor('a checkpoint mid-job', async () => {
      const v = await view();
      return v.checkpointStep !== null && v.checkpointStep >= KILL_AFTER_CHECKPOINT ? v : null;
    }, 180_000, 25);
    expect(before.step).toBeLessThan(STEPS - 2 * EVERY); // mid-job, with room to redo
    await server.kill('SIGKILL');

    // what the store held at the kill
    const store = createStore({ dir: dataDir });
    const stored = store.loadJobs().find((j) => j.id === job.id)!;
    store.close();
    const checkpointStep = stored.checkpoint!.step;
    const committedAtKill = stored.metrics.at(-1)!.step + 1;
    const gap = committedAtKill - checkpointStep;
    process.stdout.write(`restart: checkpoint at step ${checkpointStep}, ${committedAtKill} steps committed at the kill, ${gap} redone (checkpointEvery ${EVERY})\n`);
    expect(stored.metrics.map((m) => m.step)).toEqual(Array.from({ length: committedAtKill }, (_, i) => i));

    server = await spawnServer({ port, dataDir });
    const back = await view();
    expect(back).toMatchObject({ status: 'waiting', step: checkpointStep, checkpointStep });

    const done = await waitFor('the job to finish after the restart', async () => {
      const v = await view();
      // iris steps take milliseconds: the first tab back may finish the job before the other's backoff ends
      return v.status === 'done' && v.hasWeights ? v : null;
    }, 240_000, 100).catch(async (e: unknown) => {
      const v = await view().catch(() => null);
      const pages = await swarm!.views().catch(() => []);
      throw new Error(`${String(e)}\njob: ${JSON.stringify({ ...v, spec: undefined, events: v?.events?.slice(-15) })}\npages: ${JSON.stringify(pages)}\nconsole: ${console.slice(-15).join('\n')}\nserver: ${server!.output().split('\n').slice(-25).join('\n')}`);
    });

    const { metrics } = (await (await fetch(`${server.url}/api/jobs/${job.id}/metrics`)).json()) as { metrics: { step: number }[] };
    expect(metrics.map((m) => m.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i));
    expect(gap).toBeGreaterThanOrEqual(0);
    expect(gap).toBeLessThanOrEqual(EVERY);
    const restart = done.events!.filter((e) => e.kind === 'rollback' && e.detail.startsWith('server restarted'));
    expect(restart.map((e) => e.detail)).toEqual([expect.stringContaining(`checkpoint at step ${checkpointStep}`)]);
    expect(restart[0]!.detail).toContain(`${gap} committed step(s) will be redone`);

    const finals = done.members.filter((m) => m.final).map((m) => m.final!.paramHash);
    expect(finals.length).toBeGreaterThanOrEqual(1);
    expect(new Set(finals).size).toBe(1);
    const weights = new Float32Array(await (await fetch(`${server.url}/api/jobs/${job.id}/weights`, { headers: auth })).arrayBuffer());
    const ref = await trainReference(done.spec, createDatasetFiles().source, STEPS);
    expect(maxAbsDiff(weights, ref.params)).toBeLessThanOrEqual(1e-4);
    expect(console.filter((l) => /Content Security Policy|Refused to/i.test(l))).toEqual([]);
  }, 480_000);
});
