/**
 * The server process stopped (SIGSTOP) for 15 s in the middle of a job — longer than the
 * heartbeat timeout (10 s) — then continued. Two headless Chromium workers keep training and
 * sending heartbeats meanwhile; those wait in the socket buffers. The server must read them
 * before it judges anyone: no healthy member is dropped, and the job finishes with every step
 * committed once. Runs under test/run.sh (loopback-only network namespace).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startWorkers, type HeadlessSwarm } from '../../../server/workers.ts';
import { waitFor } from '../../e2e/helpers.ts';
import { spawnServer, type ServerProcess } from './serverProcess.ts';
import type { PrivateJobView as View } from '../../../server/jobViews.ts';


let server: ServerProcess | null = null;
let swarm: HeadlessSwarm | null = null;
const dataDir = mkdtempSync(join(tmpdir(), 'tabswarm-pause-'));
afterAll(async () => {
  await swarm?.close().catch(() => {});
  if (server) {
    server.child.kill('SIGCONT');
    await server.kill('SIGTERM');
  }
  rmSync(dataDir, { recursive: true, force: true });
});

describe('server paused mid-job', () => {
  it('SIGSTOP for 15 s, then SIGCONT: no healthy member is dropped and the job finishes', async () => {
    expect(existsSync('dist/index.html'), 'the pages must be built first (npm run build)').toBe(true);
    server = await spawnServer({ port: 0, dataDir });
    const STEPS = 400;
    const created = await fetch(`${server.url}/api/jobs`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ preset: 'iris-mlp', steps: STEPS, checkpointEvery: 50, minWorkers: 2 }),
    });
    const job = (await created.json()) as { id: string; ownerToken: string; joinUrl: string };
    const headers = { authorization: `Bearer ${job.ownerToken}` };
    const view = async () => (await (await fetch(`${server!.url}/api/jobs/${job.id}`, { headers })).json()) as View;
    swarm = await startWorkers({ url: job.joinUrl, count: 2, loopbackOnly: true });
    await waitFor('step 20', async () => (await view()).step >= 20, 120_000, 50);

    server.child.kill('SIGSTOP');
    const stoppedAt = Date.now();
    // the workers go on meanwhile (heartbeats every 2 s); wait out the pause on their clock
    await waitFor('15 s of the server standing still', async () => Date.now() - stoppedAt >= 15_000, 20_000, 250);
    server.child.kill('SIGCONT');

    const done = await waitFor('the job to finish', async () => {
      const v = await view();
      return v.status === 'done' && v.hasWeights ? v : null;
    }, 240_000, 100);
    const drops = done.events.filter((e) => e.kind === 'drop' || e.kind === 'leave');
    expect(drops).toEqual([]);
    expect(done.members.map((m) => m.state)).toEqual(['active', 'active']);
    const { metrics } = (await (await fetch(`${server.url}/api/jobs/${job.id}/metrics`)).json()) as { metrics: { step: number }[] };
    expect(metrics.map((m) => m.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i));
  }, 360_000);
});
