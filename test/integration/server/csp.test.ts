/**
 * The built pages run under the server's Content-Security-Policy without a single violation:
 * a volunteer tab forced onto the WASM backend (which needs 'wasm-unsafe-eval') trains a few
 * steps, and the owner's dashboard renders the job's charts. Violations are collected in the
 * pages themselves (securitypolicyviolation events). Real server, real Chromium; runs under
 * test/run.sh.
 */
import { existsSync } from 'node:fs';
import type { Page } from 'playwright';
import { afterAll, describe, expect, it } from 'vitest';
import type { TabswarmServer } from '../../../server/app.ts';
import { launchChromium, workerContext } from '../../../server/browser.ts';
import { waitFor } from '../../e2e/helpers.ts';
import { createJob, startServer } from './serverHarness.ts';

type Browser = Awaited<ReturnType<typeof launchChromium>>;
let server: TabswarmServer | null = null;
let browser: Browser | null = null;
afterAll(async () => {
  await browser?.close().catch(() => {});
  await server?.close();
});

async function watchedPage(b: Browser): Promise<Page> {
  const page = await (await workerContext(b)).newPage();
  await page.addInitScript(() => {
    const w = window as unknown as { __csp: string[] };
    w.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => w.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  return page;
}
const violations = (page: Page) => page.evaluate(() => (window as unknown as { __csp: string[] }).__csp);

describe('pages under the CSP', () => {
  it('the worker (WASM backend) and the dashboard run without a violation', async () => {
    expect(existsSync('dist/index.html'), 'the pages must be built first (npm run build)').toBe(true);
    server = await startServer();
    const job = await createJob(server.url, { preset: 'iris-mlp', steps: 400 });
    browser = await launchChromium({ loopbackOnly: true });

    const worker = await watchedPage(browser);
    const csp = (await worker.goto(`${job.joinUrl}&backend=wasm`))!.headers()['content-security-policy'];
    expect(csp).toContain("'wasm-unsafe-eval'");
    const view = await waitFor('the tab to train on wasm', async () => {
      const seen = await violations(worker);
      if (seen.length > 0) throw new Error(`CSP violations in the worker page: ${seen.join('; ')}`); // fail fast
      const v = await worker.evaluate(() => (window as unknown as { __tabswarm?: { state: string; backend: string; step: number } }).__tabswarm ?? null);
      return v && v.backend === 'wasm' && v.step >= 3 ? v : null;
    }, 120_000, 100);
    expect(view.backend).toBe('wasm');

    const dash = await watchedPage(browser);
    await dash.goto(`${server.url}/dashboard.html?job=${job.id}#token=${job.ownerToken}`);
    await waitFor('the dashboard to plot steps', async () => {
      const n = await dash.locator('[data-chart]').first().getAttribute('data-points', { timeout: 1000 }).catch(() => null);
      return Number(n) > 0 ? true : null;
    }, 60_000, 100);

    expect(await violations(worker)).toEqual([]);
    expect(await violations(dash)).toEqual([]);
  }, 240_000);
});
