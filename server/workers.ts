/**
 * `tabswarm workers`: N headless Chromium workers, one browser context (one tab) each,
 * all opening the same job link. Each page's progress comes back through its `__tabswarm` view.
 */
import type { Browser, Page } from 'playwright';
import { launchChromium, workerContext } from './browser.ts';

export interface WorkerView {
  state: string;
  detail: string;
  peerId: string;
  backend: string;
  step: number;
  steps: number;
  loss: number | null;
  paramHash: string;
  testAccuracy: number | null;
  /** what the tab's all-reduces sent so far, and what dense frames would have been */
  wire?: { sentBytes: number; denseBytes: number } | null;
}

/** What the tabs' all-reduces sent so far, summed over the tabs still open; null when none said. */
export async function wireTotals(swarm: Pick<HeadlessSwarm, 'views'>): Promise<{ sentBytes: number; denseBytes: number } | null> {
  const wires = (await swarm.views()).flatMap((w) => (w?.wire ? [w.wire] : []));
  return wires.length > 0 ? wires.reduce((a, w) => ({ sentBytes: a.sentBytes + w.sentBytes, denseBytes: a.denseBytes + w.denseBytes })) : null;
}

export interface HeadlessSwarm {
  browser: Browser;
  pages: Page[];
  views(): Promise<(WorkerView | null)[]>;
  addWorker(): Promise<Page>;
  close(): Promise<void>;
}

export async function startWorkers(o: { url: string; count: number; backend?: string; uplinkMbit?: number; overlap?: boolean; loopbackOnly?: boolean; headless?: boolean; onConsole?: (i: number, line: string) => void; /** more page options (client/worker/main.ts), e.g. { zeros: 'dense' } */ query?: Record<string, string> }): Promise<HeadlessSwarm> {
  const browser = await launchChromium({ loopbackOnly: o.loopbackOnly, headless: o.headless });
  const pages: Page[] = [];
  let closing = false;
  let crashes = 0;
  const target = new URL(o.url);
  if (o.backend) target.searchParams.set('backend', o.backend);
  if (o.uplinkMbit) target.searchParams.set('uplink', String(o.uplinkMbit));
  if (o.overlap === false) target.searchParams.set('overlap', '0');
  for (const [k, v] of Object.entries(o.query ?? {})) target.searchParams.set(k, v);
  const addWorker = async () => {
    const ctx = await workerContext(browser);
    const page = await ctx.newPage();
    const i = pages.length;
    pages.push(page);
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') o.onConsole?.(i, `${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => o.onConsole?.(i, `pageerror: ${e.message}`));
    // A crashed tab is replaced after a backoff; a tab that loses the server rejoins by itself (client/worker/main.ts).
    page.on('crash', () => {
      if (closing) return;
      crashes++;
      o.onConsole?.(i, 'crashed: reopening');
      const delay = Math.min(30_000, 1000 * 2 ** Math.min(crashes, 5));
      setTimeout(() => {
        if (!closing) void ctx.close().then(addWorker, () => addWorker());
      }, delay).unref();
    });
    await page.goto(target.toString());
    return page;
  };
  for (let i = 0; i < o.count; i++) await addWorker();
  return {
    browser,
    pages,
    addWorker,
    views: () =>
      Promise.all(
        pages.map((p) =>
          p.isClosed() ? null : p.evaluate(() => (window as unknown as { __tabswarm?: WorkerView }).__tabswarm ?? null).catch(() => null),
        ),
      ),
    close: () => {
      closing = true;
      return browser.close();
    },
  };
}
