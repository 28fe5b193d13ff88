/**
 * `tabswarm bench relay`: the ring all-reduce over direct links vs links relayed through a
 * local coturn (TURN, iceTransportPolicy 'relay'), N = 2..4 Node peers (one process each,
 * node-datachannel), 4 MB vectors, in the loopback-only namespace. Relayed peers bind
 * 127.0.0.2 and the TURN server 127.0.0.1 (see test/integration/transport/turnRelay.test.ts
 * for why). What it shows: the cost of the relay's extra hop and of coturn's CPU on one
 * machine, not a WAN (on loopback the relay is pure overhead).
 */
import { IceConfig } from '../../server/ice.ts';
import { haveTurnserver, startCoturn } from './coturn.ts';
import { startPeers, type PeerProc } from './peerProcs.ts';
import type { Bench, BenchContext, Cell } from './report.ts';
import { bandwidth, median } from './stats.ts';
import { spawn } from 'node:child_process';

export const relayBench: Bench = async (ctx: BenchContext) => {
  if (!haveTurnserver()) throw new Error('relay bench: turnserver (coturn) not installed');
  const ns = ctx.quick ? [2, 3] : [2, 3, 4];
  const len = 1_000_000; // 4 MB of fp32
  const iters = ctx.quick ? 2 : 5;
  const turn = await startCoturn();
  const rows: Cell[][] = [];
  const result: Record<string, unknown>[] = [];
  try {
    for (const n of ns) {
      const byMode: Record<string, number> = {};
      for (const mode of ['direct', 'relayed'] as const) {
        const ids = Array.from({ length: n }, (_, r) => `${mode}${n}-${r}`);
        const ice = new IceConfig({ turn: [turn.url], turnSecret: turn.secret, turnTtlSec: 3600 });
        const ps: PeerProc[] = await startPeers(ids, (_i, cmd, args, opts) => spawn(cmd, args, opts));
        try {
          await Promise.all(ps.map((p) => p.request('mesh', mode === 'direct'
            ? { id: p.id, bind: '127.0.0.1', iceServers: [], timeoutMs: 20_000 }
            : { id: p.id, bind: '127.0.0.2', iceServers: ice.iceServersFor(p.id, Date.now()), policy: 'relay', timeoutMs: 20_000 })));
          const res = await Promise.all(ps.map((p, rank) => p.request('bench', { kind: 'ring', rank, ids, len, iters, warmup: 1 }, 180_000)));
          const stats = await ps[0]!.request('stats', { peer: ids[1] });
          const per = res[0]!.ms as number[];
          const slowest = per.map((_, i) => Math.max(...res.map((x) => (x.ms as number[])[i]!)));
          const ms = median(slowest);
          byMode[mode] = ms;
          const bw = bandwidth(len * 4, ms, n);
          const st = stats.stats as { localType?: string; remoteType?: string } | null;
          const pair = st ? `${st.localType}/${st.remoteType}` : '?';
          rows.push([mode, n, 4, Math.round(ms), Math.round(bw.algbwMBs * 10) / 10, Math.round(bw.busbwMBs * 10) / 10, pair, mode === 'relayed' ? Math.round((byMode.direct! / ms) * 100) / 100 : null]);
          result.push({ mode, n, bytes: len * 4, ms, samplesMs: slowest, ...bw, pair });
          ctx.print(`  ${mode} N=${n}: ${ms.toFixed(0)} ms, busbw ${bw.busbwMBs.toFixed(1)} MB/s (${pair})`);
        } finally {
          await Promise.all(ps.map((p) => p.stop()));
        }
      }
    }
  } finally {
    await turn.stop();
  }
  return {
    tables: [{
      title: 'ring all-reduce, direct vs relayed through a local coturn (node-datachannel, loopback)',
      columns: ['path', 'N', 'MB', 'ms (median of slowest rank)', 'algbw MB/s', 'busbw MB/s', 'selected pair', 'relayed/direct speed'],
      rows,
      note: 'one machine: the relay adds a hop through coturn (user-space UDP forwarding) and its CPU competes with the peers\'; on a WAN the relayed path also adds the detour\'s latency',
    }],
    result: { rows: result },
  };
};
