/** Shared pieces of the browser tests: a server, job creation, condition waits. */
import type { Page } from 'playwright';
import { createTabswarmServer, type ServerOptions, type TabswarmServer } from '../../server/app.ts';
import { createLogger } from '../../server/log.ts';
import { TimeoutError } from '../../shared/errors.ts';

export async function startServer(o: ServerOptions = {}): Promise<TabswarmServer> {
  return createTabswarmServer({ port: 0, log: createLogger(process.env.TABSWARM_LOG === 'debug' ? 'debug' : 'warn'), ...o });
}

export async function createJob(url: string, body: Record<string, unknown>): Promise<{ id: string; joinUrl: string; ownerToken: string; dashboardUrl: string }> {
  const r = await fetch(`${url}/api/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const j = await r.json();
  if (!r.ok) throw new Error(`job creation failed: ${JSON.stringify(j)}`);
  return j as { id: string; joinUrl: string; ownerToken: string; dashboardUrl: string };
}

/** Polls a condition (not a sleep: it returns as soon as the condition holds). */
export async function waitFor<T>(what: string, fn: () => T | null | undefined | false | Promise<T | null | undefined | false>, timeoutMs = 120_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new TimeoutError(`waiting for ${what}`, timeoutMs);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Runs `action` in Node the first time the page's worker reaches `phase` of `step`, then holds the page there. */
export async function onPhase(page: Page, phase: 'compute' | 'allreduce', step: number, action: () => void): Promise<void> {
  let fired = false;
  await page.exposeFunction('__tabswarmTrigger', () => {
    if (fired) return;
    fired = true;
    action();
  });
  await page.addInitScript(
    ({ phase, step }) => {
      const w = window as unknown as { __tabswarmPhase: (p: string, s: number) => Promise<void> | void; __tabswarmTrigger: () => Promise<void> };
      w.__tabswarmPhase = (p, s) => {
        if (p !== phase || s < step) return;
        void w.__tabswarmTrigger();
        return new Promise(() => {}); // hold: the tab never reports this step
      };
    },
    { phase, step },
  );
}
