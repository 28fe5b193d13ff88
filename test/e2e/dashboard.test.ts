/**
 * The job owner's dashboard and the volunteer page in a real Chromium, against the real
 * server and real headless workers: a job is run from the dashboard alone, from the create
 * form to the model download, and the downloaded model equals the replicas.
 */
import type { Browser, Page } from 'playwright';
import { expect as pw } from 'playwright/test';
import { io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TabswarmServer } from '../../server/app.ts';
import { launchChromium } from '../../server/browser.ts';
import { startWorkers, type HeadlessSwarm, type WorkerView } from '../../server/workers.ts';
import type { DashboardServerMessage } from '../../shared/dashboardProtocol.ts';
import { downloadFromDashboard, irisTest, predict, screenshot } from './dashboardHelpers.ts';
import { createJob, startServer, waitFor } from './helpers.ts';

let server: TabswarmServer;
let browser: Browser;
let swarm: HeadlessSwarm | null = null;

beforeAll(async () => {
  server = await startServer();
  browser = await launchChromium();
});

afterAll(async () => {
  await swarm?.close();
  await browser?.close();
  await server?.close();
});

const views = async () => (await swarm!.views()).filter((v): v is WorkerView => v !== null);
const chartPoints = (page: Page, name: string) => page.locator(`[data-chart="${name}"]`).getAttribute('data-points').then(Number);

describe('dashboard', () => {
  it('runs a job from the dashboard alone: create, 2 workers, live charts, pause/resume, download equals the replicas', async () => {
    const page = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
    await page.goto(`${server.url}/dashboard.html`);

    // the create form: preset fills the fields; a bad value is reported next to its field
    await page.locator('#f-preset').selectOption('iris-mlp');
    await pw(page.locator('#f-name')).toHaveValue('Iris MLP');
    await page.locator('#f-steps').fill('0');
    await page.locator('#create-submit').click();
    await pw(page.locator('[data-error-for="steps"]')).toContainText('greater than or equal to 1');
    await pw(page.locator('[data-path="steps"]')).toHaveClass(/invalid/);
    await page.locator('#f-steps').fill('400');
    await page.locator('#f-minWorkers').fill('2');
    await page.locator('#f-evalEvery').fill('100');
    await page.locator('#f-name').fill('iris from the dashboard');
    await screenshot(page, 'dashboard-create');
    await page.locator('#create-submit').click();

    await page.waitForURL(/dashboard\.html\?job=/);
    const jobId = new URL(page.url()).searchParams.get('job')!;
    const job = server.jobs.get(jobId);
    expect(job.spec).toMatchObject({ name: 'iris from the dashboard', steps: 400, minWorkers: 2, evalEvery: 100, dataset: { id: 'iris' } });
    await pw(page.locator('#access')).toHaveText('owner view');
    await pw(page.locator('#status')).toHaveText('waiting');

    // two volunteers open the join link shown on the dashboard
    const joinUrl = (await page.locator('#join-link').getAttribute('href'))!;
    swarm = await startWorkers({ url: joinUrl, count: 2 });
    await pw(page.locator('#members tbody tr[data-state="active"]')).toHaveCount(2, { timeout: 90_000 });
    await pw(page.locator('#ring .ring-node')).toHaveCount(2);
    await pw.poll(() => chartPoints(page, 'loss'), { timeout: 60_000 }).toBeGreaterThanOrEqual(3);
    await pw.poll(() => chartPoints(page, 'allreduce')).toBeGreaterThanOrEqual(3);

    // pause: the status changes and no step is opened any more
    await page.locator('#btn-pause').click();
    await pw(page.locator('#status')).toHaveText('paused');
    const paused = await waitFor('the in-flight step to land on every replica', async () => {
      const v = await views();
      const s = job.coordinator.step;
      return v.length === 2 && v.every((x) => x.step === s) ? s : null;
    });
    expect(paused).toBeLessThan(400);
    // a download while paused asks a replica for the state of the last commit
    const atPause = await downloadFromDashboard(page);
    expect(atPause.modelJson.userDefinedMetadata?.tabswarm?.step).toBe(paused);
    expect(new Set((await views()).map((v) => v.paramHash))).toEqual(new Set([atPause.trainableHash]));
    expect(job.coordinator.step).toBe(paused); // no step ran during the whole round trip
    await pw(page.locator('#progress-text')).toContainText(`step ${paused} / 400`);
    await pw(page.locator('#control-note')).toContainText(`step ${paused}`);

    // a new learning rate applies from the next step
    await page.locator('#lr').fill('0.01');
    await page.locator('#btn-lr').click();
    await pw(page.locator('#t-lr')).toHaveText('0.01');
    await pw(page.locator('#events li[data-kind="status"]').first()).toContainText(`learning rate set to 0.01 from step ${paused}`);
    expect(job.coordinator.learningRate).toBe(0.01);

    // resume: steps continue
    await page.locator('#btn-resume').click();
    await pw(page.locator('#status')).toHaveText(/running|done/);
    await waitFor('a step after resuming', () => job.coordinator.step > paused, 60_000);
    await screenshot(page, 'dashboard-job-running');
    await screenshot(swarm.pages[0]!, 'volunteer-training');

    // to the end; the final model downloads and predicts as the replicas do
    await pw(page.locator('#status')).toHaveText('done', { timeout: 120_000 });
    const finals = await waitFor('both replicas to finish', async () => {
      const v = await views();
      // each tab scores its part of the test set (parts follow the shards a tab holds: a part may be empty)
      return v.length === 2 && v.every((x) => x.state === 'done') && job.coordinator.finalTestAccuracy() !== null ? v : null;
    });
    const final = await downloadFromDashboard(page);
    expect(final.modelJson.userDefinedMetadata?.tabswarm?.step).toBe(400);
    expect(finals.map((v) => v.paramHash)).toEqual([final.trainableHash, final.trainableHash]);
    const test = await irisTest();
    const p = predict(final.model, test);
    expect(p.accuracy).toBe(job.coordinator.finalTestAccuracy()); // the summed distributed evaluation
    expect(p.accuracy).toBeGreaterThan(0.8);
    await pw(page.locator('[data-chart="accuracy"]')).toHaveAttribute('data-points', '400');
    await pw(page.locator('#t-test')).toContainText('%');
    await pw(page.locator('#events li[data-kind="epoch"]')).not.toHaveCount(0);
    await screenshot(page, 'dashboard-job-done');
    await screenshot(swarm.pages[1]!, 'volunteer-done');

    // a dashboard opened late shows the whole stored history
    const token = await page.evaluate((id) => (JSON.parse(sessionStorage.getItem('tabswarm.tokens') ?? '{}') as Record<string, string>)[id], jobId);
    expect(token).toBeTruthy();
    const late = await (await browser.newContext()).newPage();
    await late.goto(`${server.url}/dashboard.html?job=${jobId}#token=${encodeURIComponent(token!)}`);
    await pw(late.locator('#access')).toHaveText('owner view');
    expect(late.url()).toBe(`${server.url}/dashboard.html?job=${jobId}`); // the token left the address bar
    await pw.poll(() => chartPoints(late, 'loss')).toBe(400);
    await pw(late.locator('#events li')).toHaveCount(job.coordinator.events.length);
    await late.locator('button[data-axis="time"]').click();
    await pw(late.locator('[data-chart="loss"]')).toContainText('seconds since the first step');
    await pw.poll(() => chartPoints(late, 'loss')).toBe(400);
    await late.context().close();
    await page.context().close();
  }, 170_000);

  it('a token-less or wrong-token dashboard reads nothing private and controls nothing', async () => {
    const created = await createJob(server.url, { preset: 'iris-mlp', name: 'private job', steps: 1_000_000, evalEvery: 5 });
    const job = server.jobs.get(created.id);
    const one = await startWorkers({ url: created.joinUrl, count: 1 });
    try {
      await waitFor('a few steps with metrics, events and a member', () => job.coordinator.step >= 5, 90_000);
      const peerId = [...job.coordinator.members.keys()][0]!;
      const secrets = ['"private"', '"metrics"', '"events"', '"members"', 'class_name', peerId, created.ownerToken];

      // the feed itself: a public and a wrong-token subscriber get summaries only, while steps run
      for (const token of [undefined, 'not-the-token']) {
        const got = await feedMessages(server.url, created.id, token, (ms) => ms.filter((m) => m.type === 'summary').length >= 3);
        expect(got.map((m) => m.type).filter((t) => t !== 'summary' && t !== 'error')).toEqual(['snapshot']);
        expect(got.find((m) => m.type === 'snapshot')).toMatchObject({ access: 'public', job: { id: created.id, status: 'running' } });
        expect(got.find((m) => m.type === 'error') ?? null).toEqual(token ? { type: 'error', code: 'UNAUTHORIZED', message: expect.any(String) } : null);
        for (const sec of secrets) expect(JSON.stringify(got)).not.toContain(sec);
      }

      // malformed subscriptions get coded errors and nothing else
      for (const bad of [{ type: 'subscribe', jobId: 42 }, { type: 'peek', jobId: created.id }, { type: 'subscribe', jobId: 'no-such-job' }]) {
        const got = await feedMessages(server.url, created.id, undefined, (ms) => ms.length > 0, bad);
        expect(got).toEqual([{ type: 'error', code: bad.jobId === 'no-such-job' ? 'UNKNOWN_JOB' : 'BAD_REQUEST', message: expect.any(String) }]);
      }

      // the pages: public view, controls disabled, and forced clicks refused by the server
      for (const fragment of ['', '#token=not-the-token']) {
        const page = await (await browser.newContext()).newPage();
        const frames: string[] = [];
        page.on('websocket', (ws) => ws.on('framereceived', (f) => frames.push(String(f.payload))));
        await page.goto(`${server.url}/dashboard.html?job=${created.id}${fragment}`);
        await pw(page.locator('#access')).toHaveText('public view');
        expect(page.url()).not.toContain('token');
        await pw(page.locator('#status')).toHaveText('running');
        await pw(page.locator('#private')).toBeHidden();
        await pw(page.locator('#token-form')).toBeVisible();
        for (const b of ['pause', 'resume', 'stop', 'lr', 'download']) await pw(page.locator(`#btn-${b}`)).toBeDisabled();
        if (fragment) await pw(page.locator('#feed-error')).toContainText('UNAUTHORIZED');
        for (const b of ['pause', 'stop', 'lr', 'download']) {
          // as if the page were tampered with: enable and click in one go; the server still refuses
          await page.evaluate((id) => {
            const el = document.getElementById(id) as HTMLButtonElement;
            el.disabled = false;
            el.click();
          }, `btn-${b}`);
          await pw(page.locator('#control-note')).toContainText('refused: UNAUTHORIZED');
        }
        if (!fragment) await screenshot(page, 'dashboard-public-view');
        for (const sec of secrets) expect(frames.join('\n')).not.toContain(sec);
        await page.context().close();
      }

      // REST, without and with a wrong token: 401, and nothing changed
      const lr = job.coordinator.learningRate;
      for (const auth of [{}, { authorization: 'Bearer not-the-token' }] as Record<string, string>[]) {
        for (const [method, path, body] of [
          ['POST', 'pause'], ['POST', 'resume'], ['POST', 'stop'], ['POST', 'learning-rate', '{"learningRate":0.5}'],
          ['GET', 'model/model.json'], ['GET', 'model/weights.bin'],
        ] as const) {
          const r = await fetch(`${server.url}/api/jobs/${created.id}/${path}`, { method, headers: auth, ...(body ? { body } : {}) });
          expect({ path, status: r.status, code: ((await r.json()) as { error: { code: string } }).error.code }).toEqual({ path, status: 401, code: 'UNAUTHORIZED' });
        }
      }
      expect(job.coordinator.status).toBe('running');
      expect(job.coordinator.learningRate).toBe(lr);
      expect(job.coordinator.events.filter((e) => e.kind === 'status').map((e) => e.detail)).toEqual(['running']);

      // the owner token, typed into the form, opens the owner view and the controls work
      const page = await (await browser.newContext()).newPage();
      await page.goto(`${server.url}/dashboard.html?job=${created.id}`);
      await page.locator('#token-input').fill(created.ownerToken);
      await page.locator('#token-form button').click();
      await pw(page.locator('#access')).toHaveText('owner view');
      await pw(page.locator('#members tbody tr[data-state="active"]')).toHaveCount(1);
      await page.locator('#btn-stop').click();
      await pw(page.locator('#status')).toHaveText('stopped');
      expect(job.coordinator.status).toBe('stopped');
      await page.context().close();
    } finally {
      await one.close();
    }
  }, 120_000);
});

/** Subscribes over socket.io until `enough(messages)` holds; returns what arrived. */
async function feedMessages(url: string, jobId: string, token: string | undefined, enough: (ms: DashboardServerMessage[]) => boolean, send?: unknown): Promise<DashboardServerMessage[]> {
  const socket = io(`${url}/dashboard`, { transports: ['websocket'] });
  const got: DashboardServerMessage[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      socket.on('connect_error', reject);
      socket.on('msg', (m: DashboardServerMessage) => {
        got.push(m);
        if (enough(got)) resolve();
      });
      socket.emit('msg', (send ?? { type: 'subscribe', jobId, ...(token ? { token } : {}) }) as never);
    });
  } finally {
    socket.close();
  }
  return got;
}
