/**
 * examples/trainOnCsv.ts runs to the end against a real server, with two headless Chromium
 * workers started on the job it creates (through its onJob hook), and its locally evaluated
 * accuracy beats chance. Runs under test/run.sh (loopback-only network namespace), after
 * `npx vite build`.
 */
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../examples/trainOnCsv.ts';
import { startWorkers, type HeadlessSwarm } from '../../server/workers.ts';
import { startServer } from './helpers.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

describe('examples', () => {
  it('trainOnCsv: upload, fit, follow, download and evaluate', async () => {
    expect(existsSync('dist/index.html'), 'the pages must be built first (npx vite build)').toBe(true);
    const server = await startServer();
    cleanups.push(() => server.close());
    const lines: string[] = [];
    let workers: HeadlessSwarm | undefined;
    const r = await main({
      url: server.url, steps: 40, minWorkers: 2, backend: 'cpu', timeoutMs: 180_000,
      log: (l) => lines.push(l),
      onJob: async (job) => {
        workers = await startWorkers({ url: job.joinUrl, count: 2, backend: 'cpu', loopbackOnly: true });
        cleanups.push(() => workers!.close());
      },
      // nobody navigates the tabs: once training is done they are idle, and the server tells them
      // to serve the prediction job made from its weights (server/prediction/serveIdle.ts)
    });
    expect(workers?.pages.length).toBe(2);
    expect(r.steps).toBe(40);
    expect(r.lastLoss).toBeLessThan(r.firstLoss);
    expect(r.classes).toEqual(['north', 'south', 'west']);
    expect(r.accuracy, lines.join('\n')).toBeGreaterThan(1 / 3 + 0.2);
    // the swarm's predictions (tabs on cpu) score what the downloaded model scores here (Node's cpu)
    expect(r.swarmAccuracy).toBe(r.accuracy);
    expect(lines.some((l) => l.includes('join at'))).toBe(true);
    const view = server.jobs.get(r.jobId);
    expect(view.coordinator.status).toBe('done');
  }, 240_000);
});
