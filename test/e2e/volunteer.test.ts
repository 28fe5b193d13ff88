/**
 * The volunteer page in a real Chromium against the real server: what the job is, which
 * backend runs and why, and the stop / start button taking the tab out of the swarm and back.
 */
import { expect as pw } from 'playwright/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TabswarmServer } from '../../server/app.ts';
import { startWorkers, type HeadlessSwarm } from '../../server/workers.ts';
import { createJob, startServer, waitFor } from './helpers.ts';

let server: TabswarmServer;
let swarm: HeadlessSwarm | null = null;

beforeAll(async () => {
  server = await startServer();
});

afterAll(async () => {
  await swarm?.close();
  await server?.close();
});

describe('volunteer page', () => {
  it('shows the job and the backend choice, and stops and starts contributing on request', async () => {
    const created = await createJob(server.url, { preset: 'iris-mlp', name: 'volunteer view', steps: 1_000_000 });
    const job = server.jobs.get(created.id);
    swarm = await startWorkers({ url: created.joinUrl, count: 1 });
    const page = swarm.pages[0]!;
    await pw(page.locator('#job')).toHaveText('volunteer view');
    await pw(page.locator('#job-model')).toHaveText('Sequential: Dense(16, relu) → Dense(3, softmax)');
    await pw(page.locator('#job-params')).toContainText('131 parameters');
    await pw(page.locator('#job-dataset')).toContainText('Iris');
    await pw(page.locator('#state')).toHaveText('training', { timeout: 60_000 });
    const backend = (await page.locator('#backend').textContent())!;
    expect(['webgpu', 'webgl', 'wasm', 'cpu']).toContain(backend);
    await pw(page.locator('#backend-why')).toContainText('fastest in calibration');
    // what the page says about WebGPU agrees with the backend it chose, with or without a GPU here
    if (backend === 'webgpu') {
      await pw(page.locator('#adapter')).not.toBeEmpty();
      await pw(page.locator('#fallback')).toBeHidden();
    } else {
      await pw(page.locator('#adapter')).toBeEmpty();
      await pw(page.locator('#fallback')).toBeVisible();
      await pw(page.locator('#fallback')).toHaveText(
        new RegExp(`^(WebGPU is not available in this browser .*, so this tab trains on ${backend} instead|WebGPU has only a software adapter here .*, which is slower than ${backend}, so this tab trains on ${backend} instead|A WebGPU adapter is available .*, but ${backend} measured faster on this job's model, so ${backend} runs)\\.$`),
      );
    }
    await pw(page.locator('#job-members')).toHaveText('1 volunteer in the swarm');

    await page.locator('#leave').click();
    await pw(page.locator('#state')).toHaveText('left');
    await pw(page.locator('#start')).toBeVisible();
    await pw(page.locator('#leave')).toBeHidden();
    // The tab sends `leave` and disconnects at once; socket.io drops a message that arrives in the
    // same tick as the disconnect, so the server records 'left' or a 'disconnect' drop (reported).
    const members = () => [...job.coordinator.members.values()];
    await waitFor('the server to see the member go', () => members().every((m) => m.state === 'left' || m.state === 'dropped'), 30_000);
    expect(['left', 'disconnect']).toContain(members().at(-1)!.reason);
    await pw(page.locator('#job-members')).toHaveText('0 volunteers in the swarm');
    const stoppedAt = job.coordinator.step;

    await page.locator('#start').click();
    await pw(page.locator('#state')).toHaveText('training', { timeout: 60_000 });
    await pw(page.locator('#leave')).toBeVisible();
    await waitFor('steps after starting again', () => job.coordinator.step > stoppedAt + 2, 60_000);
    expect(members().filter((m) => m.state === 'active')).toHaveLength(1);
  }, 120_000);
});
