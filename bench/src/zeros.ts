/**
 * `tabswarm bench zeros`: the demo's job (MNIST MLP, 3 Chromium tabs, exact fp32) with its
 * frames masked (+0.0 values left out, the default) vs dense (page `?zeros=dense`), runs
 * interleaved (dense, masked, dense, masked…) so a drift in the machine's load hits both.
 * Bytes each tab sent, step rate, all-reduce time against compute, and the replicas' hashes.
 * First, why bytes are what counts: three idle Chromium tabs (the bench ring page, no
 * training) ring-reduce dense vectors of 4 KB, of the demo's gradient masked (~244 KB) and
 * dense (407 KB), to show how the ring's time follows its bytes there.
 */
import { loadavg } from 'node:os';
import { TabHosts } from './browserHosts.ts';
import { ringTime, TUNED } from './measure.ts';
import type { Bench, BenchContext, Cell } from './report.ts';
import { swarmRun, type SwarmRunResult } from './swarmRun.ts';

/** 3 idle tabs: the ring's median time for vectors of `sizes` bytes (64 KiB frames, as jobs use by default). */
async function idleRing(ctx: BenchContext, sizes: number[], iters: number): Promise<Cell[][]> {
  const n = 3;
  const tabs = await TabHosts.start(n);
  try {
    await tabs.connect('ring');
    const rows: Cell[][] = [];
    for (const bytes of sizes) {
      const t = await ringTime(tabs, n, bytes, { ...TUNED, chunkBytes: 64 * 1024 }, iters, 2);
      const sentPerTab = (2 * (n - 1) * bytes) / n;
      ctx.print(`  idle ring, ${n} tabs, ${(bytes / 1000).toFixed(0)} KB: ${t.ms.toFixed(1)} ms`);
      rows.push([bytes / 1000, sentPerTab / 1000, t.ms, (n * sentPerTab) / 1e6 / (t.ms / 1000)]);
    }
    return rows;
  } finally {
    await tabs.close();
  }
}

const VARIANTS = [
  { name: 'dense', query: { zeros: 'dense' } },
  { name: 'masked (default)', query: {} },
] as const;

export const zerosBench: Bench = async (ctx: BenchContext) => {
  const workers = 3;
  const steps = ctx.quick ? 60 : 120;
  const rounds = ctx.quick ? 1 : 2;
  ctx.print(`three idle Chromium tabs, ring all-reduce by vector size   load ${loadavg()[0]!.toFixed(2)}`);
  // 4 KB; the demo's vector masked (~0.6 of it) and dense (407 KB)
  const idle = await idleRing(ctx, [4096, 244_000, 407_080], ctx.quick ? 10 : 30);
  const runs: { name: string; round: number; load: [number, number]; r: SwarmRunResult }[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const v of VARIANTS) {
      const before = loadavg()[0]!;
      ctx.print(`${v.name} (round ${round + 1}): MNIST MLP, ${workers} tabs, ${steps} steps   load ${before.toFixed(2)}`);
      const r = await swarmRun({ workers, preset: 'mnist-mlp', overrides: { steps, evalEvery: 0 }, query: { ...v.query }, timeoutS: 400, print: ctx.print });
      runs.push({ name: v.name, round: round + 1, load: [before, loadavg()[0]!], r });
    }
  }
  const kb = (r: SwarmRunResult, f: 'sentBytes' | 'denseBytes') => (r.wire ? r.wire[f] / r.workers / r.steps / 1000 : null);
  const hashes = new Set(runs.flatMap((x) => x.r.replicaHashes));
  return {
    tables: [{
      title: 'Three idle Chromium tabs (no training): ring all-reduce time by vector size, 64 KiB frames',
      columns: ['vector KB', 'KB sent / tab', 'ms (median)', 'MB/s through the 3 tabs'],
      rows: idle,
      note: 'The bench ring page (bench/src/page/ring.html) in 3 browser contexts of one Chromium, loopback. The time follows the bytes: in Chromium each ~1.2 kB SCTP packet passes the browser\'s network service, which on 2 cores is CPU the tabs compete for.',
    }, {
      title: `Exact frames masked vs dense: MNIST MLP (${(407_080 / 1000).toFixed(0)} KB of gradient), ${workers} Chromium tabs, ${steps} steps of batch 128`,
      columns: ['frames', 'round', 'KB sent / tab / step', 'KB dense / tab / step', 'steps/s', 'compute ms (median)', 'all-reduce ms (median)', 'step − compute ms (median)', 'load avg (1 min)'],
      rows: runs.map(({ name, round, load, r }) => [name, round, kb(r, 'sentBytes'), kb(r, 'denseBytes'), r.stepsPerSec, r.computeMs, r.allreduceMs, r.beyondComputeMs, `${load[0].toFixed(1)} → ${load[1].toFixed(1)}`]),
      note: `Steady steps (after the first 3); compute and all-reduce as the coordinator records them (max over tabs per step). Replica hashes over every run: ${hashes.size === 1 ? 'one (all runs equal, bit for bit)' : `${hashes.size} distinct (the ring's order follows measured links and may differ between runs; within each run the replicas agree: ${runs.every((x) => new Set(x.r.replicaHashes).size === 1) ? 'yes' : 'NO'})`}.`,
    }],
    result: { idleRing: idle, workers, steps, runs: runs.map(({ name, round, load, r }) => ({ name, round, loadavg1: load, ...r, accuracy: undefined })) },
  };
};
