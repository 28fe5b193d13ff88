/**
 * `tabswarm bench tune`: the ring before tuning (bench/src/baseline/ring0.ts, the code
 * of commit 1279d2f) and after (shared/allreduce/ring.ts with the TUNED settings), measured
 * side by side on the same links in the same run — steps interleaved, so the machine's
 * noise hits both alike — and then each knob moved alone from the tuned settings.
 */
import { CAP_MBIT, pacedConfig } from './allreduce.ts';
import { TabHosts } from './browserHosts.ts';
import { Cluster } from './cluster.ts';
import { inProcessRing } from './inProcess.ts';
import { BASELINE, p2pRate, ringTime, TUNED, type RingConfig } from './measure.ts';
import type { Hosts } from './hostProtocol.ts';
import type { Bench, BenchContext, Table } from './report.ts';
import { bandwidth, median } from './stats.ts';
import { cappedSupported, cappedTopology, loopbackTopology } from './topology.ts';

const MB = 1e6;
const KiB = 1024;
const MiB = 1024 * 1024;

export interface Compared {
  label: string;
  cfg: RingConfig;
  ms: number;
  busbwMBs: number;
  ratio: number;
  samplesMs: number[];
}

/** Steps of every config in turn, `reps` rounds; p2p before and after. */
export async function compareConfigs(h: Hosts, n: number, bytes: number, cfgs: { label: string; cfg: RingConfig }[], reps: number): Promise<{ p2pMBs: number; rows: Compared[] }> {
  const chunk = TUNED.chunkBytes;
  const p2p = (await p2pRate(h, bytes, chunk, TUNED.highWater, 2)).samples;
  const samples = cfgs.map(() => [] as number[]);
  for (let k = 0; k < reps; k++) {
    for (let i = 0; i < cfgs.length; i++) samples[i]!.push(...(await ringTime(h, n, bytes, cfgs[i]!.cfg, 1, k === 0 ? 1 : 0)).samples);
  }
  p2p.push(...(await p2pRate(h, bytes, chunk, TUNED.highWater, 2)).samples);
  const p2pMBs = median(p2p);
  return {
    p2pMBs,
    rows: cfgs.map(({ label, cfg }, i) => {
      const ms = median(samples[i]!);
      const { busbwMBs } = bandwidth(bytes, ms, n);
      return { label, cfg, ms, busbwMBs, ratio: busbwMBs / p2pMBs, samplesMs: samples[i]! };
    }),
  };
}

interface Setting {
  transport: string;
  n: number;
  bytes: number;
  reps: number;
  start: () => Promise<Hosts>;
}

function knobs(capped: boolean): { label: string; cfg: RingConfig }[] {
  return [
    { label: 'tuned', cfg: TUNED },
    { label: 'frames 16 KiB', cfg: { ...TUNED, chunkBytes: 16 * KiB } },
    { label: 'frames 64 KiB', cfg: { ...TUNED, chunkBytes: 64 * KiB } },
    { label: 'window 1 MiB', cfg: { ...TUNED, highWater: 1 * MiB } },
    { label: 'window 8 MiB', cfg: { ...TUNED, highWater: 8 * MiB } },
    { label: `schedule ${TUNED.schedule === 'forward-first' ? 'fifo' : 'forward-first'}`, cfg: { ...TUNED, schedule: TUNED.schedule === 'forward-first' ? 'fifo' : 'forward-first' } },
    { label: 'pre-tuning code, tuned knobs', cfg: { ...TUNED, impl: 'baseline' } },
    ...(capped ? [{ label: `paced for a ${CAP_MBIT} Mbit/s uplink, ${Math.round(pacedConfig(CAP_MBIT).chunkBytes / KiB)} KiB frames`, cfg: pacedConfig(CAP_MBIT) }] : []),
  ];
}

export const tuneBench: Bench = async (ctx: BenchContext) => {
  const tables: Table[] = [];
  const result: Record<string, unknown> = { tuned: TUNED, baseline: BASELINE };
  // 1. the ring's own cost, no network
  const figs = { baseline: [] as Awaited<ReturnType<typeof inProcessRing>>[], tuned: [] as Awaited<ReturnType<typeof inProcessRing>>[] };
  for (let k = 0; k < (ctx.quick ? 3 : 7); k++) {
    figs.baseline.push(await inProcessRing('baseline', 4, 16 * MB, BASELINE.chunkBytes));
    figs.tuned.push(await inProcessRing('tuned', 4, 16 * MB, TUNED.chunkBytes));
  }
  const ip = (['baseline', 'tuned'] as const).map((impl) => {
    const f = figs[impl];
    return { impl, wallMs: median(f.map((x) => x.wallMs)), cpuMs: median(f.map((x) => x.cpuMs)), frames: f[0]!.framesPerRank, ringBuffers: f[0]!.ringBuffersPerRank };
  });
  result.inProcess = ip;
  tables.push({
    title: 'The ring alone: 4 ranks in one process over in-memory links, 16 MB fp32',
    columns: ['code', 'ms (wall)', 'CPU ms', 'frames sent / rank', 'frame buffers made / rank'],
    rows: ip.map((r) => [r.impl === 'baseline' ? 'before (1279d2f)' : 'after', r.wallMs, r.cpuMs, r.frames, r.ringBuffers]),
    note: 'Medians of interleaved runs. "frame buffers made" counts buffers the ring allocated for sending; the tuned ring forwards received frames in place and encodes its first-round chunks into one pooled buffer.',
  });

  // 2. before → after, and 3. knob by knob
  const capped = cappedSupported();
  const settings: Setting[] = [{ transport: 'node-loopback', n: 4, bytes: 16 * MB, reps: ctx.quick ? 3 : 4, start: () => Cluster.start(loopbackTopology(), 4) }];
  if (capped.ok) {
    settings.push({ transport: 'node-capped-50mbit', n: 4, bytes: 16 * MB, reps: 2, start: async () => Cluster.start(await cappedTopology(4), 4) });
  }
  if (!ctx.quick) settings.push({ transport: 'chromium-loopback', n: 2, bytes: 16 * MB, reps: 3, start: () => TabHosts.start(2) });
  const before: unknown[] = [];
  const knobRows: unknown[] = [];
  const ba: Table = {
    title: 'Before → after tuning, side by side (steps interleaved on the same links)',
    columns: ['transport', 'N', 'MB', 'before ms', 'after ms', 'speed-up', 'before busbw/p2p', 'after busbw/p2p'],
    rows: [],
    note: `before: the pre-tuning ring with its defaults (${BASELINE.chunkBytes / KiB} KiB frames, ${BASELINE.highWater / MiB} MiB window, arrival order). after: ${Math.round(TUNED.chunkBytes / KiB)} KiB frames, ${TUNED.highWater / MiB} MiB window, ${TUNED.schedule ?? 'fifo'} order, in-place forwarding, pooled first-round frames.`,
  };
  const kt: Table = { title: 'Knobs, one at a time from the tuned settings', columns: ['transport', 'N', 'MB', 'setting', 'ms', 'busbw MB/s', 'busbw/p2p', 'vs tuned'], rows: [] };
  for (const s of settings) {
    ctx.print(`${s.transport} N=${s.n}: before/after${s.transport === 'node-loopback' || (s.transport.startsWith('node-capped') && s.n === 4) ? ' and knobs' : ''}`);
    const h = await s.start();
    try {
      await h.connect('ring');
      const c = await compareConfigs(h, s.n, s.bytes, [{ label: 'before', cfg: BASELINE }, { label: 'after', cfg: TUNED }], s.reps);
      const [b, a] = c.rows as [Compared, Compared];
      ba.rows.push([s.transport, s.n, s.bytes / MB, b.ms, a.ms, b.ms / a.ms, b.ratio, a.ratio]);
      before.push({ transport: s.transport, n: s.n, bytes: s.bytes, p2pMBs: c.p2pMBs, before: b, after: a });
      ctx.print(`  before ${b.ms.toFixed(0)} ms → after ${a.ms.toFixed(0)} ms (busbw/p2p ${b.ratio.toFixed(2)} → ${a.ratio.toFixed(2)})`);
      const doKnobs = s.n === 4 && !s.transport.startsWith('chromium') && !ctx.quick;
      if (doKnobs) {
        const bytes = s.transport === 'node-loopback' ? s.bytes : 4 * MB;
        const k = await compareConfigs(h, s.n, bytes, knobs(s.transport.startsWith('node-capped')), 2);
        const base = k.rows[0]!.ms;
        for (const r of k.rows) kt.rows.push([s.transport, s.n, bytes / MB, r.label, r.ms, r.busbwMBs, r.ratio, base / r.ms]);
        knobRows.push({ transport: s.transport, n: s.n, bytes, p2pMBs: k.p2pMBs, rows: k.rows });
      }
    } finally {
      await h.close();
    }
  }
  tables.push(ba);
  if (kt.rows.length) tables.push({ ...kt, note: '"vs tuned" > 1 means that setting was faster than the tuned one in this run (steps interleaved, medians).' });
  result.beforeAfter = before;
  result.knobs = knobRows;
  if (!capped.ok) result.skipped = [`node-capped: ${capped.why}`];
  return {
    tables,
    result,
    figures: [{
      file: 'tune.svg', title: 'Ring before and after tuning', unit: 'busbw / p2p',
      bars: (before as { transport: string; n: number; before: Compared; after: Compared }[]).flatMap((r) => [
        { label: `${r.transport} N=${r.n} before`, value: r.before.ratio, group: 'before' },
        { label: `${r.transport} N=${r.n} after`, value: r.after.ratio, group: 'after' },
      ]),
    }],
  };
};
