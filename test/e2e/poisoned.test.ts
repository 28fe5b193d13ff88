/**
 * Poisoned peers: one worker sends NaN, one scales its gradient by 1e6, one reports a different
 * reduced vector. Each is evicted within the step it attacks, its slice is redone by the
 * others, and the honest replicas end equal to the honest-only single-process reference.
 * The attacks are scripted through the page's phase hook, which hands the test the gradient
 * vector: the worker code itself contains no attack.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright';
import { launchChromium, workerContext } from '../../server/browser.ts';
import { createDatasetFiles } from '../../server/datasetFiles.ts';
import { maxAbsDiff, trainReference } from '../../server/reference.ts';
import { createJob, startServer, waitFor } from './helpers.ts';
import type { PrivateJobView as View } from '../../server/jobViews.ts';

type Attack = { phase: 'compute' | 'reduced'; step: number; kind: 'nan' | 'scale' | 'tamper' };

/**
 * Misbehaves once, at the first step it computes after the test armed it (`window.__armed`:
 * once the job reached `attack.step` with enough members for the attack to be judged — a tab
 * dropped earlier, e.g. as the accuser of another attacker, may be rejoining at exactly that
 * step), then is honest (after eviction it rejoins as a new member). The step it attacked is
 * kept in `window.__attacked`.
 */
async function arm(page: Page, attack: Attack) {
  await page.addInitScript((a: Attack) => {
    let done = false;
    const w = window as unknown as { __tabswarmPhase: (p: string, s: number, v: Float32Array) => void; __attacked?: number; __armed?: boolean };
    w.__tabswarmPhase = (p, s, v) => {
      if (done || !w.__armed || p !== a.phase || s < a.step) return;
      done = true;
      w.__attacked = s;
      if (a.kind === 'nan') v[3] = NaN;
      if (a.kind === 'scale') for (let i = 0; i < v.length - 3; i++) v[i] = v[i]! * 1e6;
      if (a.kind === 'tamper') v[0] = v[0]! + 1;
    };
  }, attack);
}

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

describe('poisoned peers', () => {
  it('NaN, ×1e6 and a tampered reduced vector are each evicted in the step they attack; honest replicas equal the honest-only reference', async () => {
    const server = await startServer();
    cleanups.push(() => server.close());
    const STEPS = 150;
    const job = await createJob(server.url, { preset: 'mnist-mlp', steps: STEPS, minWorkers: 5, checkpointEvery: 50, evalEvery: 0, dataset: { trainSize: 2048, testSize: 200 } });
    const auth = { headers: { authorization: `Bearer ${job.ownerToken}` } };
    const browser = await launchChromium();
    cleanups.push(() => browser.close());
    const attacks: Attack[] = [
      { phase: 'compute', step: 10, kind: 'nan' },
      { phase: 'compute', step: 50, kind: 'scale' },
      { phase: 'reduced', step: 90, kind: 'tamper' },
    ];
    const attackers: Page[] = [];
    for (let i = 0; i < 5; i++) {
      const page = await (await workerContext(browser)).newPage();
      if (attacks[i]) {
        await arm(page, attacks[i]!);
        attackers.push(page);
      }
      // cpu kernels: this job's trajectory on wasm (XNNPACK) is knife-edged — in Node, summing
      // three slices' gradients in the reverse order moves its weights by 1.9e-2 after 150
      // steps, on cpu by 2.4e-7 — and the ring's summation order follows the ring, which
      // varies run to run; on cpu any slicing and order stays within 1e-6 of the reference
      await page.goto(`${job.joinUrl}&backend=cpu`);
    }
    const armed = new Set<number>();
    const done = await waitFor('job done', async () => {
      const v = (await (await fetch(`${server.url}/api/jobs/${job.id}`, auth)).json()) as View;
      const active = v.members.filter((m) => m.state === 'active');
      // arm each attacker in turn once the job is there and a strict majority can outvote it
      const next = attacks.findIndex((_, i) => !armed.has(i));
      if (next >= 0 && (next === 0 || armed.has(next - 1)) && v.step >= attacks[next]!.step && active.length >= 4) {
        armed.add(next);
        await attackers[next]!.evaluate(() => void ((window as unknown as { __armed?: boolean }).__armed = true));
      }
      return v.status === 'done' && v.hasWeights && active.every((m) => m.final) ? v : null;
    }, 300_000, 200);
    const { metrics, events } = (await (await fetch(`${server.url}/api/jobs/${job.id}/metrics`, auth)).json()) as {
      metrics: { step: number; at: number; loss: number; members: number }[];
      events: { at: number; kind: string; peerId?: string; detail: string }[];
    };
    const evictions = events.filter((e) => e.kind === 'drop' && e.detail.startsWith('evicted:'));
    const commitAt = (s: number) => metrics.find((m) => m.step === s)!.at;
    const evictedAt = (re: RegExp) => evictions.find((e) => re.test(e.detail));
    // each attack is caught within the step it attacks: evicted after step s-1 committed, before step s did
    const attacked = await Promise.all(attackers.map((p) => p.evaluate(() => (window as unknown as { __attacked?: number }).__attacked)));
    expect(attacked.every((s, i) => s !== undefined && s >= attacks[i]!.step)).toBe(true);
    for (const [re, s] of [[/FRAME_NON_FINITE/, attacked[0]!], [/FRAME_OUT_OF_BOUNDS/, attacked[1]!], [new RegExp(`differ from the majority at step ${attacked[2]}`), attacked[2]!]] as const) {
      const e = evictedAt(re);
      expect(e, `eviction matching ${re}`).toBeDefined();
      expect(e!.at).toBeGreaterThanOrEqual(commitAt(s - 1));
      expect(e!.at).toBeLessThanOrEqual(commitAt(s));
    }
    expect(new Set(evictions.map((e) => e.peerId)).size).toBe(3);
    expect(metrics.map((m) => m.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i));
    const finals = done.members.filter((m) => m.state === 'active' && m.final).map((m) => m.final!.paramHash);
    expect(finals.length).toBeGreaterThanOrEqual(2);
    expect(new Set(finals).size).toBe(1);
    const swarm = new Float32Array(await (await fetch(`${server.url}/api/jobs/${job.id}/weights`, auth)).arrayBuffer());
    const ref = await trainReference(done.spec, createDatasetFiles().source, STEPS); // on cpu, the tabs' kernels
    const firstOff = metrics.find((m) => Math.abs(m.loss - ref.losses[m.step]!) > 1e-5);
    const where = firstOff ? `first loss off the reference at step ${firstOff.step}: ${firstOff.loss} vs ${ref.losses[firstOff.step]} (${firstOff.members} members)` : 'every step\'s loss equals the reference';
    expect(maxAbsDiff(swarm, ref.params), where).toBeLessThanOrEqual(1e-4);
  }, 360_000);
});
