/**
 * Driving worker pages from Node (tests, the chaos bench): wait for a condition, and act at
 * the moment a page's worker reaches a phase of a step.
 */
import type { Page } from 'playwright';
import { TimeoutError } from '../../shared/errors.ts';

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

/** Runs `action` in Node the first time the page's worker reaches `phase` of `step` (or later), then holds the page there. */
export async function onPhase(page: Page, phase: 'compute' | 'allreduce', step: number, action: (step: number) => void): Promise<void> {
  let fired = false;
  await page.exposeFunction('__tabswarmTrigger', (s: number) => {
    if (fired) return;
    fired = true;
    action(s);
  });
  await page.addInitScript(
    ({ phase, step }) => {
      const w = window as unknown as { __tabswarmPhase: (p: string, s: number) => Promise<void> | void; __tabswarmTrigger: (s: number) => Promise<void> };
      w.__tabswarmPhase = (p, s) => {
        if (p !== phase || s < step) return;
        void w.__tabswarmTrigger(s);
        return new Promise(() => {}); // hold: the tab never reports this step
      };
    },
    { phase, step },
  );
}
