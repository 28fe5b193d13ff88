/**
 * `tabswarm bench allreduce`: the ring all-reduce measured as nccl-tests do (time, algbw,
 * busbw = algbw·2(N−1)/N) next to the point-to-point throughput of one data channel between
 * two of the same peers, measured in the same run, interleaved with the ring steps.
 *
 * Transports: Node peers (one process each, node-datachannel WebRTC) on loopback and on
 * capped links (each host in its own network namespace, 50 Mbit/s tbf each way), and
 * Chromium tabs on loopback.
 */
import { TabHosts } from './browserHosts.ts';
import { Cluster } from './cluster.ts';
import { paceForUplink, PACE_FRACTION } from '../../shared/allreduce/pacedLink.ts';
import { p2pRate, ringOfStreams, ringTime, TUNED, type RingConfig } from './measure.ts';
import type { Hosts } from './hostProtocol.ts';
import type { Bench, BenchContext, Table } from './report.ts';
import { bandwidth, median } from './stats.ts';
import { cappedSupported, cappedTopology, loopbackTopology } from './topology.ts';

export interface AllreduceRow {
  transport: string;
  n: number;
  bytes: number;
  ms: number;
  algbwMBs: number;
  busbwMBs: number;
  p2pMBs: number;
  ratio: number;
  /** every rank streaming to its next at once (capped links only): each link's MB/s with both directions busy */
  streamsMBs: number | null;
  /** slowest-rank time of every timed step */
  samplesMs: number[];
}

export const MB = 1e6;
export const CAP_MBIT = 50;
/** 8 hosts × 50 Mbit/s of DTLS and SCTP keep both cores of this machine ~95 % busy: N=8 rows with a pacer run at 20 Mbit/s, where the link is the limit again */
export const CAP8_MBIT = 20;

/** A ring configuration measured on the same hosts as the others of its plan, interleaved. */
interface Variant {
  /** appended to the plan's transport name */
  suffix: string;
  cfg: RingConfig;
  /** vector sizes for this variant (default: the plan's) */
  sizes?: number[];
  /** ring sizes for this variant (default: the plan's) */
  ns?: number[];
}

interface Plan {
  transport: string;
  ns: number[];
  sizes: number[];
  start: (n: number) => Promise<Hosts>;
  iters: (bytes: number) => number;
  warmup: (bytes: number) => number;
  streams?: boolean;
  variants?: Variant[];
  /** rounds of p2p and ring steps (default 2; 1 in --quick) */
  reps?: number;
}

/**
 * Measures ring configurations over `sizes`: per size, `reps` rounds of the point-to-point
 * channel, (capped) every rank streaming at once, then each variant's ring steps; every
 * variant's ratio is against the same p2p samples.
 */
export async function measureRows(h: Hosts, transport: string, n: number, sizes: number[], variants: Variant[], iters: (b: number) => number, warmup: (b: number) => number, reps = 2, streams = false): Promise<AllreduceRow[]> {
  const rows: AllreduceRow[] = [];
  for (const bytes of sizes) {
    const p2p: number[] = [];
    const both: number[] = [];
    const active = variants.filter((v) => (v.sizes ?? sizes).includes(bytes));
    const samples = active.map(() => [] as number[]);
    for (let k = 0; k < reps; k++) {
      p2p.push(...(await p2pRate(h, bytes, TUNED.chunkBytes, TUNED.highWater, Math.max(1, iters(bytes) - 1))).samples);
      if (streams) both.push((await ringOfStreams(h, n, bytes, TUNED.chunkBytes, TUNED.highWater)).medianMBs);
      for (let i = 0; i < active.length; i++) samples[i]!.push(...(await ringTime(h, n, bytes, active[i]!.cfg, iters(bytes), k === 0 ? warmup(bytes) : 0)).samples);
    }
    const p2pMBs = median(p2p);
    active.forEach((v, i) => {
      const ms = median(samples[i]!);
      const bw = bandwidth(bytes, ms, n);
      rows.push({ transport: transport + v.suffix, n, bytes, ms, ...bw, p2pMBs, ratio: bw.busbwMBs / p2pMBs, streamsMBs: both.length ? median(both) : null, samplesMs: samples[i]! });
    });
  }
  return rows;
}

/**
 * The tuned ring paced for an uplink of `mbit`. Frames of at most ~12 ms of the pace (16–64 KiB):
 * SCTP sends each message as one burst, and a burst is what waits in the router's queue ahead
 * of the acknowledgements (20 Mbit/s: 16 KiB; 50 Mbit/s: 32 KiB).
 */
export function pacedConfig(mbit: number): RingConfig {
  const pace = paceForUplink(mbit);
  let kib = 16;
  while (kib < 64 && kib * 2 * 1024 <= pace * 0.012) kib *= 2;
  return { ...TUNED, chunkBytes: kib * 1024 - 32, pace };
}

/** Automatic pacing: the frames pacedConfig(mbit) would use, the rate left to the estimator. */
export function autoConfig(mbit: number): RingConfig {
  const { pace: _told, ...cfg } = pacedConfig(mbit);
  return { ...cfg, autoPace: true };
}

function plans(quick: boolean): { plans: Plan[]; skipped: string[] } {
  const skipped: string[] = [];
  const sizes = [1 * MB, 4 * MB, 16 * MB];
  const tuned: Variant = { suffix: '', cfg: TUNED };
  const out: Plan[] = [
    {
      transport: 'node-loopback', ns: [2, 4, 8], sizes,
      start: (n) => Cluster.start(loopbackTopology(), n),
      iters: (b) => (b >= 16 * MB ? 2 : 3), warmup: () => 1,
    },
  ];
  const capped = cappedSupported();
  if (capped.ok) {
    // every size: one warm-up ring step, then 3 timed steps per round (2 rounds in a full run,
    // so a 16 MB row is the median of 6 steps, of 3 at N=8 and in --quick)
    const cappedIters = { iters: () => 3, warmup: () => 1, streams: true };
    out.push({
      transport: `node-capped-${CAP_MBIT}mbit`, ns: quick ? [4] : [2, 4, 8], sizes: quick ? [16 * MB] : sizes,
      start: async (n) => Cluster.start(await cappedTopology(n, CAP_MBIT), n),
      ...cappedIters,
      // paced at N=8 too in a full run it gave 0.80 vs 0.81 unpaced: there the cores, not the links, are the limit
      // -auto: not told the rate, paced once the next rank reports a standing queue (uplinkEstimator.ts), same frames as -paced
      variants: [tuned, { suffix: '-paced', cfg: pacedConfig(CAP_MBIT), ns: [2, 4] }, { suffix: '-auto', cfg: autoConfig(CAP_MBIT), ns: [2, 4] }],
    });
    if (!quick) {
      out.push({
        transport: `node-capped-${CAP8_MBIT}mbit`, ns: [8], sizes: [16 * MB],
        start: async (n) => Cluster.start(await cappedTopology(n, CAP8_MBIT), n),
        ...cappedIters, reps: 1,
        variants: [tuned, { suffix: '-paced', cfg: pacedConfig(CAP8_MBIT) }, { suffix: '-auto', cfg: autoConfig(CAP8_MBIT) }],
      });
    }
  } else skipped.push(`node-capped: ${capped.why}`);
  out.push({
    transport: 'chromium-loopback', ns: quick ? [2] : [2, 4], sizes: quick ? [4 * MB] : sizes,
    start: (n) => TabHosts.start(n),
    iters: (b) => (b >= 16 * MB ? 2 : 3), warmup: () => 1,
  });
  return { plans: out, skipped };
}

export function allreduceTable(rows: AllreduceRow[], title: string, note?: string): Table {
  return {
    title,
    columns: ['transport', 'N', 'MB', 'ms', 'algbw MB/s', 'busbw MB/s', 'p2p MB/s', 'busbw/p2p', 'both-ways MB/s', 'busbw/both-ways'],
    rows: rows.map((r) => [r.transport, r.n, r.bytes / MB, r.ms, r.algbwMBs, r.busbwMBs, r.p2pMBs, r.ratio, r.streamsMBs, r.streamsMBs ? r.busbwMBs / r.streamsMBs : null]),
    note,
  };
}

export const allreduceBench: Bench = async (ctx: BenchContext) => {
  const all = plans(ctx.quick);
  // TABSWARM_BENCH_TRANSPORTS=node-capped: only the plans whose transport starts so (a partial run)
  const only = process.env.TABSWARM_BENCH_TRANSPORTS?.split(',').filter(Boolean);
  const list = only ? all.plans.filter((p) => only.some((o) => p.transport.startsWith(o))) : all.plans;
  const skipped = only ? [...all.skipped, ...all.plans.filter((p) => !list.includes(p)).map((p) => `${p.transport}: left out (TABSWARM_BENCH_TRANSPORTS)`)] : all.skipped;
  const rows: AllreduceRow[] = [];
  for (const p of list) {
    for (const n of p.ns) {
      ctx.print(`${p.transport} N=${n}: starting hosts`);
      const h = await p.start(n);
      try {
        await h.connect('ring');
        const variants = (p.variants ?? [{ suffix: '', cfg: TUNED }]).filter((v) => !v.ns || v.ns.includes(n));
        const got = await measureRows(h, p.transport, n, p.sizes, variants, p.iters, p.warmup, ctx.quick ? 1 : p.reps ?? 2, p.streams);
        for (const r of got) ctx.print(`  ${r.transport} ${(r.bytes / MB).toFixed(0)} MB: ${r.ms.toFixed(1)} ms, busbw ${r.busbwMBs.toFixed(1)} MB/s, p2p ${r.p2pMBs.toFixed(1)} MB/s, ratio ${r.ratio.toFixed(2)}`);
        rows.push(...got);
      } finally {
        await h.close();
      }
    }
  }
  const cfg = `${Math.round(TUNED.chunkBytes / 1024)} KiB frames, ${TUNED.highWater / 2 ** 20} MiB send window, fp32`;
  return {
    tables: [allreduceTable(rows, `Ring all-reduce (${cfg})`, [
      'busbw = algbw·2(N−1)/N; p2p = one data channel between ranks 0 and 1, same message size and window, measured in the same run between the ring steps; medians.',
      'both-ways (capped only): every rank streams to its next at the same time, no ring logic — what a link carries while its reverse direction is busy too, as in any ring (median link).',
      `capped: every host in its own network namespace behind a ${CAP_MBIT} Mbit/s tbf link each way (veth + bridge; N=8 also at ${CAP8_MBIT} Mbit/s, where 8 hosts do not saturate the 2 cores). loopback: all hosts share this machine's cores.`,
      `-paced: each rank paces what it sends at ${Math.round(PACE_FRACTION * 100)} % of its uplink's rate, in frames of ≤ 12 ms of it (${Math.round(pacedConfig(CAP_MBIT).chunkBytes / 1024)} KiB at ${CAP_MBIT} Mbit/s, ${Math.round(pacedConfig(CAP8_MBIT).chunkBytes / 1024)} KiB at ${CAP8_MBIT}; PacedLink, a worker's --uplink-mbit / ?uplink=): the queue stays in the sender, and the acknowledgements of the traffic it receives do not wait behind its data in the router's 50 ms queue.`,
      '-auto: not told the rate: each rank starts unpaced and paces only once the next rank reports a standing queue (one-way delay of its stamped frames; uplinkEstimator.ts), same frames as -paced.',
      ...skipped.map((s) => `skipped ${s}`),
    ].join('\n'))],
    result: { rows: rows.map(({ samplesMs: _s, ...r }) => r), samples: rows.map((r) => r.samplesMs), config: TUNED, skipped },
    figures: [{
      file: 'allreduce.svg', title: 'Ring all-reduce: busbw / point-to-point', unit: 'ratio',
      bars: rows.map((r) => ({ label: `${r.transport} N=${r.n} ${r.bytes / MB} MB`, value: r.ratio, group: r.transport })),
    }],
  };
};
