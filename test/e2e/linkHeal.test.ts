/**
 * A cable pulled mid-job: two Chromium processes, each in a network namespace of its own
 * (browserNetLab.ts), train one job; their WebRTC links run over a bridge, their socket.io
 * connections over separate links to the server. Host 0's bridge port goes down mid-job:
 * - for 2 s, then up: the job goes on to the end, nobody is dropped, every member ends with
 *   the same weights;
 * - for longer than loss detection plus the heal window: the link gives up with
 *   LINK_FAILED and the coordinator drops members for it, as it always has.
 *
 * Must run as root in a loopback-only network namespace:
 *   npx vite build && bash test/run.sh test/e2e/linkHeal.test.ts
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright';
import { createJob, startServer, waitFor } from './helpers.ts';
import { browserNetLab, labGuards, type BrowserNetLab } from './browserNetLab.ts';
import type { PrivateJobView as JobView } from '../../server/jobViews.ts';

const runnable = labGuards('linkHeal.test.ts', ['nsenter', 'ip'], 'network namespaces, veth');

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

type Heal = { peer: string; kind: string; state?: string; restart?: string; ms?: number };
type Events = { kind: string; detail: string; peerId?: string }[];

async function openWorker(browser: Browser, url: string): Promise<Page> {
  const ctx = await browser.newContext();
  await ctx.grantPermissions(['microphone', 'camera']);
  const page = await ctx.newPage();
  await page.goto(url);
  return page;
}

/** A 2-member job across the lab's two hosts, running past step `atStep`. */
async function jobAcross(lab: BrowserNetLab, browsers: Browser[], steps: number, atStep: number) {
  const server = await startServer({ host: '0.0.0.0', coordinator: { heartbeatMs: 1000, heartbeatTimeoutMs: 6000 } });
  cleanups.push(() => server.close());
  const job = await createJob(server.url, { preset: 'mnist-mlp', steps, minWorkers: 2, evalEvery: 0, dataset: { trainSize: 1024, testSize: 100 } });
  const port = new URL(server.url).port;
  const auth = { headers: { authorization: `Bearer ${job.ownerToken}` } };
  const view = async () => (await (await fetch(`${server.url}/api/jobs/${job.id}`, auth)).json()) as JobView;
  const events = async () => ((await (await fetch(`${server.url}/api/jobs/${job.id}/metrics`, auth)).json()) as { events: Events }).events;
  const pages = await Promise.all(browsers.map((b, i) => openWorker(b, `http://${lab.serverAddr(i)}:${port}/?job=${job.id}&backend=wasm`)));
  await waitFor(`step ${atStep}`, async () => (await view()).step >= atStep, 120_000, 100);
  const heals = async (i: number) => (await pages[i]!.evaluate(() => (window as unknown as { __tabswarmHeals?: unknown[] }).__tabswarmHeals ?? [])) as Heal[];
  return { server, view, events, pages, heals, close: async () => { await Promise.all(pages.map((p) => p.context().close().catch(() => {}))); await server.close(); } };
}

describe.runIf(runnable)('a data link pulled mid-job', () => {
  let lab: BrowserNetLab;
  let browsers: Browser[];

  beforeAll(async () => {
    lab = await browserNetLab(2);
    cleanups.push(() => lab.close());
    browsers = [await lab.launch(0), await lab.launch(1)];
  }, 60_000);

  it('down for 2 s, and later for 6 s (past stall detection): ICE restarts, the link heals, the job finishes with no member dropped', async () => {
    const STEPS = 40;
    const j = await jobAcross(lab, browsers, STEPS, 8);
    try {
      const outage = async (ms: number) => {
        await lab.setDataLink(0, false);
        await new Promise((r) => setTimeout(r, ms)); // the outage itself, not a synchronisation
        await lab.setDataLink(0, true);
      };
      await outage(2000);
      const after2 = [...(await j.heals(0)), ...(await j.heals(1))];
      await waitFor('step 16', async () => (await j.view()).step >= 16, 60_000, 100);
      await outage(6000);
      const done = await waitFor('job done, every member reporting', async () => {
        const v = await j.view();
        return v.status === 'done' && v.members.every((m) => m.state !== 'active' || m.final) ? v : null;
      }, 120_000, 250);
      const events = await j.events();
      const heals = [...(await j.heals(0)), ...(await j.heals(1))];
      console.info(`heal events after the 2 s outage: ${JSON.stringify(after2)}; after both: ${JSON.stringify(heals)}; aborts: ${events.filter((e) => e.kind === 'abort').map((e) => e.detail).join(' | ') || 'none'}`);
      expect(events.filter((e) => e.kind === 'drop'), 'nobody dropped').toEqual([]);
      expect(done.members.map((m) => m.state)).toEqual(['active', 'active']);
      expect(new Set(done.members.map((m) => m.final!.paramHash)).size).toBe(1);
      // the 6 s outage was noticed, the initiator restarted ICE, and the link came back
      expect(heals.some((h) => h.kind === 'lost' && h.restart === 'sent'), 'an ICE restart was sent').toBe(true);
      expect(heals.some((h) => h.kind === 'healed')).toBe(true);
      expect(heals.filter((h) => h.kind === 'gave-up')).toEqual([]);
    } finally {
      await lab.setDataLink(0, true);
      await j.close();
    }
  }, 240_000);

  it('down past the heal window: the link gives up (LINK_FAILED) and the coordinator drops members for it', async () => {
    const j = await jobAcross(lab, browsers, 200, 5);
    try {
      await lab.setDataLink(0, false);
      const events = await waitFor('a drop for the failed link', async () => {
        const ev = await j.events();
        return ev.some((e) => e.kind === 'drop' && /reports its link to it failed \(LINK_(FAILED|CLOSED)/.test(e.detail)) ? ev : null;
      }, 60_000, 250).catch(async (e: unknown) => {
        console.info(`no drop: events ${JSON.stringify((await j.events()).filter((x) => x.kind !== 'join'))}; heals ${JSON.stringify([...(await j.heals(0)), ...(await j.heals(1))])}; view ${JSON.stringify((await j.view()).members.map((m) => [m.state, m.goneReason]))}`);
        throw e;
      });
      const heals = [...(await j.heals(0)), ...(await j.heals(1))];
      console.info(`long outage: heal events ${JSON.stringify(heals)}; drops: ${events.filter((e) => e.kind === 'drop').map((e) => `${e.peerId}: ${e.detail}`).join(' | ')}`);
      expect(heals.some((h) => h.kind === 'lost')).toBe(true);
      expect(heals.some((h) => h.kind === 'gave-up')).toBe(true);
    } finally {
      await lab.setDataLink(0, true);
      await j.close();
    }
  }, 240_000);
});
