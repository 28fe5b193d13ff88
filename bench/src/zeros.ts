/**
 * `tabswarm bench zeros`: the demo's job (MNIST MLP, 3 Chromium tabs, exact fp32) with its
 * frames masked (+0.0 values left out, the default) vs dense (page `?zeros=dense`), runs
 * interleaved (dense, masked, dense, masked…) so a drift in the machine's load hits both.
 * Bytes each tab sent, step rate, all-reduce time against compute, and the replicas' hashes
 * (the same in every run: masking is lossless and the summation order is unchanged).
 */
import { loadavg } from 'node:os';
import type { Bench, BenchContext } from './report.ts';
import { swarmRun, type SwarmRunResult } from './swarmRun.ts';

const VARIANTS = [
  { name: 'dense', query: { zeros: 'dense' } },
  { name: 'masked (default)', query: {} },
] as const;

export const zerosBench: Bench = async (ctx: BenchContext) => {
  const workers = 3;
  const steps = ctx.quick ? 60 : 120;
  const rounds = ctx.quick ? 1 : 2;
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
      title: `Exact frames masked vs dense: MNIST MLP (${(407_080 / 1000).toFixed(0)} KB of gradient), ${workers} Chromium tabs, ${steps} steps of batch 128`,
      columns: ['frames', 'round', 'KB sent / tab / step', 'KB dense / tab / step', 'steps/s', 'compute ms (median)', 'all-reduce ms (median)', 'step − compute ms (median)', 'load avg (1 min)'],
      rows: runs.map(({ name, round, load, r }) => [name, round, kb(r, 'sentBytes'), kb(r, 'denseBytes'), r.stepsPerSec, r.computeMs, r.allreduceMs, r.beyondComputeMs, `${load[0].toFixed(1)} → ${load[1].toFixed(1)}`]),
      note: `Steady steps (after the first 3); compute and all-reduce as the coordinator records them (max over tabs per step). Replica hashes over every run: ${hashes.size === 1 ? 'one (all runs equal, bit for bit)' : `${hashes.size} distinct (the ring's order follows measured links and may differ between runs; within each run the replicas agree: ${runs.every((x) => new Set(x.r.replicaHashes).size === 1) ? 'yes' : 'NO'})`}.`,
    }],
    result: { workers, steps, runs: runs.map(({ name, round, load, r }) => ({ name, round, loadavg1: load, ...r, accuracy: undefined })) },
  };
};
