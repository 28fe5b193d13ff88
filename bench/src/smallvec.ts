/**
 * `tabswarm bench smallvec`: small vectors, where latency dominates: the ring (2(N−1)
 * sequential steps) vs the latency-optimal schedules (halving-doubling: 2·log2 N rounds;
 * all-to-all: 2 rounds over a full mesh), 4 KB..1 MB, N = 3..8 Node peers (one process
 * each, node-datachannel) on loopback. Also what `chooseSchedule` (schedule.ts, with its
 * default network model) would pick.
 */
import { spawn } from 'node:child_process';
import { chooseSchedule, type ScheduleKind } from '../../shared/allreduce/schedule.ts';
import { startPeers } from './peerProcs.ts';
import type { Bench, BenchContext, Cell } from './report.ts';
import { median } from './stats.ts';

const KINDS: ScheduleKind[] = ['ring', 'halving-doubling', 'all-to-all'];

export const smallvecBench: Bench = async (ctx: BenchContext) => {
  const ns = ctx.quick ? [3, 5, 8] : [3, 4, 5, 6, 7, 8];
  const sizes = ctx.quick ? [4 * 1024, 64 * 1024, 1024 * 1024] : [4 * 1024, 16 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024];
  const iters = ctx.quick ? 3 : 7;
  const rows: Cell[][] = [];
  const result: Record<string, unknown>[] = [];
  for (const n of ns) {
    const ids = Array.from({ length: n }, (_, r) => `sv${n}-${r}`);
    const ps = await startPeers(ids, (_i, cmd, args, opts) => spawn(cmd, args, opts));
    try {
      await Promise.all(ps.map((p) => p.request('mesh', { id: p.id, bind: '127.0.0.1', iceServers: [], timeoutMs: 30_000 })));
      for (const bytes of sizes) {
        const len = bytes / 4;
        const ms: Record<string, number> = {};
        for (const kind of KINDS) {
          const res = await Promise.all(ps.map((p, rank) => p.request('bench', { kind, rank, ids, len, iters, warmup: 1 }, 180_000)));
          const hashes = new Set(res.map((x) => x.hash));
          if (hashes.size !== 1) throw new Error(`smallvec: ranks disagree after ${kind} N=${n} ${bytes} B`);
          const slowest = (res[0]!.ms as number[]).map((_, i) => Math.max(...res.map((x) => (x.ms as number[])[i]!)));
          ms[kind] = median(slowest);
          result.push({ n, bytes, kind, ms: ms[kind], samplesMs: slowest });
        }
        const best = KINDS.reduce((a, k) => (ms[k]! < ms[a]! ? k : a), KINDS[0]!);
        const pick = chooseSchedule(bytes, n);
        const f = (k: string) => Math.round(ms[k]! * 10) / 10;
        rows.push([n, bytes >= 1024 * 1024 ? `${bytes / 1024 / 1024} MiB` : `${bytes / 1024} KiB`, f('ring'), f('halving-doubling'), f('all-to-all'), best, pick, Math.round((ms.ring! / ms[best]!) * 100) / 100]);
        ctx.print(`  N=${n} ${bytes} B: ring ${f('ring')} ms, halving-doubling ${f('halving-doubling')} ms, all-to-all ${f('all-to-all')} ms; best ${best}, chooseSchedule picks ${pick}`);
      }
    } finally {
      await Promise.all(ps.map((p) => p.stop()));
    }
  }
  return {
    tables: [{
      title: 'small vectors: ring vs latency-optimal schedules (node-datachannel, loopback; ms, median of the slowest rank)',
      columns: ['N', 'size', 'ring', 'halving-doubling', 'all-to-all', 'fastest', 'chooseSchedule', 'ring/fastest'],
      rows,
      note: 'loopback has ~0.1 ms of network latency: per-round costs here are the peers\' own (event loop, SCTP, DTLS); on a WAN each round also costs an RTT, which favours the schedules with fewer rounds more',
    }],
    result: { rows: result },
  };
};
