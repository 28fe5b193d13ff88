/**
 * `tabswarm bench backends`: one training step (forward, backward, gradients read back into
 * one Float32Array) of the MNIST CNN — and the MLP, for contrast — on each tfjs backend in
 * the same Chromium: webgpu, webgl, wasm, cpu. On a machine without a GPU, WebGPU is
 * SwiftShader's software adapter (the probe says which).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright';
import { launchChromium, workerContext } from '../../server/browser.ts';
import { servePages } from './browserHosts.ts';
import { RESULTS_DIR, type Bench, type BenchContext, type Table } from './report.ts';
import { median } from './stats.ts';

const BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;

interface BackendRun { backend: string; ok: boolean; firstMs: number | null; stepMs: number[]; error: string | null }
interface Adapter { present: boolean; hardware: boolean; description: string }
type BackendsWindow = { __backends: { run(preset: string, backend: string, steps: number, batch: number): Promise<BackendRun>; probe(): Promise<Adapter> } };

async function inFreshPage(open: () => Promise<Page>, f: (p: Page) => Promise<BackendRun>): Promise<BackendRun> {
  const page = await open();
  try {
    return await f(page);
  } finally {
    await page.context().close();
  }
}

export const backendsBench: Bench = async (ctx: BenchContext) => {
  const site = await servePages();
  const browser = await launchChromium({ loopbackOnly: true });
  const rows: (BackendRun & { preset: string; batch: number })[] = [];
  let adapter: Adapter | null = null;
  try {
    const open = async () => {
      const page = await (await workerContext(browser)).newPage();
      await page.goto(`${site.url}/bench/src/page/backends.html`);
      await page.waitForFunction(() => '__backends' in window);
      return page;
    };
    adapter = await (async () => {
      const p = await open();
      try {
        return await p.evaluate(() => (window as unknown as BackendsWindow).__backends.probe());
      } finally {
        await p.context().close();
      }
    })();
    ctx.print(`WebGPU adapter: ${adapter.description}`);
    const plan = [{ preset: 'mnist-cnn', batch: 64, steps: ctx.quick ? 2 : 4 }, { preset: 'mnist-mlp', batch: 128, steps: ctx.quick ? 3 : 8 }];
    for (const p of plan) {
      for (const b of BACKENDS) {
        // each backend in a fresh tab: a backend's failure or leftovers cannot touch the next
        const r = await inFreshPage(open, (page) => page.evaluate(([preset, backend, steps, batch]) => (window as unknown as BackendsWindow).__backends.run(preset, backend, steps, batch), [p.preset, b, p.steps, p.batch] as const));
        ctx.print(`  ${p.preset} ${b}: ${r.ok ? `${median(r.stepMs).toFixed(0)} ms/step (first ${r.firstMs?.toFixed(0)} ms)` : `failed: ${r.error}`}`);
        rows.push({ ...r, preset: p.preset, batch: p.batch });
      }
    }
  } finally {
    await browser.close().catch(() => {});
    await site.close();
  }
  const table: Table = {
    title: 'tfjs backends in one Chromium: ms per training step (forward + backward + gradient read-back)',
    columns: ['model', 'batch', 'backend', 'median ms/step', 'first step ms', 'samples/s', 'note'],
    rows: rows.map((r) => {
      const ms = r.ok ? median(r.stepMs) : null;
      return [r.preset, r.batch, r.backend, ms, r.firstMs, ms ? (r.batch / ms) * 1000 : null, r.ok ? (r.backend === 'webgpu' ? adapter?.description ?? '' : '') : `fails: ${r.error}`];
    }),
    note: `Chromium ${browser.version()}, flags --enable-unsafe-webgpu; WebGPU adapter: ${adapter?.description ?? 'unknown'}. The first step includes shader compilation / wasm start-up.`,
  };
  const tables = [table];
  const gpu = await gpuRecord();
  if (gpu) tables.push(gpu);
  return {
    tables,
    result: { adapter, chromium: browser.version(), rows },
    figures: [{ file: 'backends.svg', title: 'ms per training step by backend', unit: 'ms', bars: rows.filter((r) => r.ok).map((r) => ({ label: `${r.preset} ${r.backend}`, value: median(r.stepMs), group: r.preset })) }],
  };
};

/** The WebGPU row measured on a GPU machine (bench/src/gpu/), when its result was recorded. */
async function gpuRecord(): Promise<Table | null> {
  type Rec = { adapter: { device?: string; description?: string }; rows: { preset: string; backend: string; batch: number; ok: boolean; medianMs: number | null; firstMs: number | null; error: string | null }[] };
  let rec: Rec;
  try {
    rec = JSON.parse(await readFile(join(RESULTS_DIR, 'backends-gpu-h100.json'), 'utf8')) as Rec;
  } catch {
    return null;
  }
  return {
    title: 'The same step on a real GPU (recorded, not re-run here): tfjs-backend-webgpu on Dawn in Node, NVIDIA H100',
    columns: ['model', 'batch', 'backend', 'median ms/step', 'first step ms', 'samples/s'],
    rows: rec.rows.map((r) => [r.preset, r.batch, r.backend === 'webgpu' ? `webgpu (${rec.adapter.device ?? 'gpu'})` : `${r.backend} (that machine)`, r.medianMs, r.firstMs, r.medianMs ? (r.batch / r.medianMs) * 1000 : null]),
    note: 'From bench/results/backends-gpu-h100.json, made by bench/src/gpu/build.sh + run.sh (Dawn = the npm package `webgpu`, the WebGPU implementation inside Chromium, here without a browser).',
  };
}
