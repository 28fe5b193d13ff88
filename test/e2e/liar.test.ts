/**
 * A lying ring member and a final uploader that dies, with real Chromium workers over WebRTC.
 *
 * The liar is an honest worker page whose socket the test taps (test/e2e/wireTap.ts): three
 * times, as soon as a step opens with it in the ring, the test sends in its name a rejection
 * of its predecessor's frames. The README's bound: an accusation removes at most one honest
 * member and always its accuser. The honest replicas still end equal to a single process.
 *
 * The uploader: the page the server asks for the final weights is closed before that request
 * reaches it; the next finisher is asked and the weights are served.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright';
import { launchChromium, workerContext } from '../../server/browser.ts';
import { createDatasetFiles } from '../../server/datasetFiles.ts';
import { maxAbsDiff, trainReference } from '../../server/reference.ts';
import { createJob, startServer, waitFor } from './helpers.ts';
import { tapWorker } from './wireTap.ts';
import type { PrivateJobView as View } from '../../server/jobViews.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

type Event = { at: number; kind: string; peerId?: string; detail: string };

async function swarm(n: number, url: string, prepare: (p: Page, i: number) => Promise<void> = async () => {}) {
  const browser = await launchChromium();
  cleanups.push(() => browser.close());
  const pages: Page[] = [];
  for (let i = 0; i < n; i++) {
    const page = await (await workerContext(browser)).newPage();
    await prepare(page, i);
    await page.goto(url);
    pages.push(page);
  }
  return pages;
}

describe('hostile and dying members', () => {
  it('a ring member lying about its neighbour three times removes at most three honest members, and itself each time; weights equal the reference', async () => {
    const server = await startServer();
    cleanups.push(() => server.close());
    const STEPS = 300;
    const job = await createJob(server.url, { preset: 'iris-mlp', steps: STEPS, minWorkers: 5, checkpointEvery: 10, evalEvery: 0 });
    const auth = { headers: { authorization: `Bearer ${job.ownerToken}` } };
    let lies = 0;
    const liarIds: string[] = [];
    await swarm(5, `${job.joinUrl}&backend=cpu`, async (page, i) => {
      if (i !== 0) return;
      await tapWorker(page, (m, tap) => {
        if (m.type !== 'step' || lies >= 3 || !tap.peerId) return;
        const rank = m.ring.indexOf(tap.peerId);
        if (rank < 0 || m.ring.length < 3) return;
        lies++;
        liarIds.push(tap.peerId);
        const prev = m.ring[(rank - 1 + m.ring.length) % m.ring.length]!;
        tap.inject({ type: 'step-failed', step: m.step, epoch: m.epoch, code: 'FRAME_OUT_OF_BOUNDS', message: 'made up', suspect: prev });
      });
    });
    const done = await waitFor('job done', async () => {
      const v = (await (await fetch(`${server.url}/api/jobs/${job.id}`, auth)).json()) as View;
      return v.status === 'done' && v.hasWeights && v.members.filter((m) => m.state === 'active').every((m) => m.final) ? v : null;
    }, 300_000, 250);
    const { metrics, events } = (await (await fetch(`${server.url}/api/jobs/${job.id}/metrics`, auth)).json()) as { metrics: { step: number }[]; events: Event[] };
    expect(lies).toBe(3);
    const accusers = events.filter((e) => e.kind === 'drop' && /^accused /.test(e.detail)).map((e) => e.peerId);
    const accused = events.filter((e) => e.kind === 'drop' && /rejected its frames \(FRAME_OUT_OF_BOUNDS: made up\)/.test(e.detail)).map((e) => e.peerId);
    const log = events.filter((e) => e.kind !== 'checkpoint').map((e) => `${e.kind} ${e.peerId ?? ''}: ${e.detail}`).join('\n');
    expect(accusers, log).toEqual(liarIds); // every lie cost the liar its place
    expect(accused.length).toBeLessThanOrEqual(accusers.length); // at most one honest member per lie
    expect(accused.every((id) => !liarIds.includes(id!))).toBe(true);
    expect(metrics.map((m) => m.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i));
    const finals = done.members.filter((m) => m.state === 'active' && m.final).map((m) => m.final!.paramHash);
    expect(new Set(finals).size).toBe(1);
    const weights = new Float32Array(await (await fetch(`${server.url}/api/jobs/${job.id}/weights`, auth)).arrayBuffer());
    const ref = await trainReference(done.spec, createDatasetFiles().source, STEPS);
    expect(maxAbsDiff(weights, ref.params)).toBeLessThanOrEqual(1e-4);
  }, 360_000);

  it('the member asked for the final weights dies before it can upload: the next finisher is asked, the weights are served', async () => {
    const server = await startServer();
    cleanups.push(() => server.close());
    const STEPS = 30;
    const job = await createJob(server.url, { preset: 'iris-mlp', steps: STEPS, minWorkers: 3, checkpointEvery: 10 });
    const auth = { headers: { authorization: `Bearer ${job.ownerToken}` } };
    let killed: string | null = null;
    const pages = await swarm(3, `${job.joinUrl}&backend=cpu`, async (page) => {
      await tapWorker(page, (m, tap) => {
        if (m.type !== 'done' || !m.upload || killed) return;
        killed = tap.peerId;
        void page.close(); // the tab dies with the request in flight
        return 'hold';
      });
    });
    expect(pages.length).toBe(3);
    const r = await waitFor('the final weights', async () => {
      const res = await fetch(`${server.url}/api/jobs/${job.id}/weights`, auth);
      return res.status === 200 ? res : null;
    }, 120_000, 250);
    expect(killed).not.toBeNull();
    expect(r.headers.get('x-tabswarm-source')).toBe('final');
    expect(Number(r.headers.get('x-tabswarm-step'))).toBe(STEPS);
    const { events } = (await (await fetch(`${server.url}/api/jobs/${job.id}/metrics`, auth)).json()) as { events: Event[] };
    expect(events.some((e) => e.kind === 'done' && e.detail.includes(`${killed} left before its final weights were agreed`))).toBe(true);
    const weights = new Float32Array(await r.arrayBuffer());
    const v = (await (await fetch(`${server.url}/api/jobs/${job.id}`, auth)).json()) as View;
    const ref = await trainReference(v.spec, createDatasetFiles().source, STEPS);
    expect(maxAbsDiff(weights, ref.params)).toBeLessThanOrEqual(1e-4);
  }, 180_000);
});
