/**
 * `tabswarm bench smallvec`: small vectors, where latency dominates: the ring (2(N−1)
 * sequential hops) vs the latency-optimal schedules workers can run — halving-doubling
 * (2·log2 N rounds, hypercube partners), and over the two ring-neighbour links only
 * arc-tree (2⌈(N−1)/2⌉ hops) and arc-gather (⌊N/2⌋ rounds) — 4 KB..1 MB, N = 3..9 Node
 * peers (one process each, node-datachannel) on loopback. Kinds are timed in interleaved
 * passes (forward, then reverse order), so a change in the machine's load hits all alike.
 * Also what workers pick (workerSchedule, scheduleChoice.ts) at the time of the run.
 */
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import type { ScheduleKind } from '../../shared/allreduce/schedule.ts';
import { workerSchedule } from '../../shared/allreduce/scheduleChoice.ts';
import { startPeers } from './peerProcs.ts';
import type { Bench, BenchContext, Cell } from './report.ts';
import { median } from './stats.ts';

const KINDS: ScheduleKind[] = ['ring', 'halving-doubling', 'arc-tree', 'arc-gather'];

export const smallvecBench: Bench = async (ctx: BenchContext) => {
  const ns = ctx.quick ? [3, 5, 8] : [3, 4, 5, 6, 7, 8, 9];
  const sizes = ctx.quick ? [4 * 1024, 64 * 1024, 1024 * 1024] : [4, 16, 32, 64, 128, 256, 512, 1024].map((k) => k * 1024);
  const passes = 2;
  const iters = ctx.quick ? 2 : 4; // per pass
  const rows: Cell[][] = [];
  const result: Record<string, unknown>[] = [];
  for (const n of ns) {
    const ids = Array.from({ length: n }, (_, r) => `sv${n}-${r}`);
    const ps = await startPeers(ids, (_i, cmd, args, opts) => spawn(cmd, args, opts));
    try {
      await Promise.all(ps.map((p) => p.request('mesh', { id: p.id, bind: '127.0.0.1', iceServers: [], timeoutMs: 30_000 })));
      for (const bytes of sizes) {
        const len = bytes / 4;
        const samples: Record<string, number[]> = Object.fromEntries(KINDS.map((k) => [k, []]));
        const load = loadavg()[0]!;
        for (let pass = 0; pass < passes; pass++) {
          for (const kind of pass % 2 ? [...KINDS].reverse() : KINDS) {
            const res = await Promise.all(ps.map((p, rank) => p.request('bench', { kind, rank, ids, len, iters, warmup: 1 }, 180_000)));
            const hashes = new Set(res.map((x) => x.hash));
            if (hashes.size !== 1) throw new Error(`smallvec: ranks disagree after ${kind} N=${n} ${bytes} B`);
            samples[kind]!.push(...(res[0]!.ms as number[]).map((_, i) => Math.max(...res.map((x) => (x.ms as number[])[i]!))));
          }
        }
        const ms: Record<string, number> = {};
        for (const kind of KINDS) {
          ms[kind] = median(samples[kind]!);
          result.push({ n, bytes, kind, ms: ms[kind], samplesMs: samples[kind], loadavg1: load });
        }
        const best = KINDS.reduce((a, k) => (ms[k]! < ms[a]! ? k : a), KINDS[0]!);
        const pick = workerSchedule(bytes, n).kind;
        const f = (k: string) => Math.round(ms[k]! * 10) / 10;
        const size = bytes >= 1024 * 1024 ? `${bytes / 1024 / 1024} MiB` : `${bytes / 1024} KiB`;
        rows.push([n, size, ...KINDS.map(f), best, pick, Math.round((ms.ring! / ms[best]!) * 100) / 100, Math.round(load * 10) / 10]);
        ctx.print(`  N=${n} ${bytes} B: ${KINDS.map((k) => `${k} ${f(k)} ms`).join(', ')}; best ${best}, workers pick ${pick} (load ${load.toFixed(1)})`);
      }
    } finally {
      await Promise.all(ps.map((p) => p.stop()));
    }
  }
  return {
    tables: [{
      title: 'small vectors: ring vs latency-optimal schedules (node-datachannel, loopback; ms, median of the slowest rank)',
      columns: ['N', 'size', ...KINDS, 'fastest', 'workers pick', 'ring/fastest', 'load 1 min'],
      rows,
      note: 'loopback has ~0.1 ms of network latency: per-round costs here are the peers\' own (event loop, SCTP, DTLS); on a WAN each round also costs an RTT, which favours the schedules with fewer rounds more',
    }],
    result: { rows: result },
  };
};
