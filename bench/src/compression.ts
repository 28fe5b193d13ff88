/**
 * `tabswarm bench compression`: the job option `encoding` (fp32 | fp16 | int8) measured three
 * ways — bytes on the wire and all-reduce time on the same Node peers (capped links and
 * loopback, encodings interleaved), the error of the reduced sum, and MNIST test accuracy
 * after the same number of steps of a real 2-tab swarm.
 */
import { memoryLinkPair } from '../../shared/allreduce/memoryLink.ts';
import type { Link } from '../../shared/allreduce/link.ts';
import { RingAllReduce } from '../../shared/allreduce/ring.ts';
import { CODECS, type CodecName } from '../../shared/codec.ts';
import { mulberry32 } from '../../shared/random.ts';
import { Cluster } from './cluster.ts';
import { ringTime, TUNED } from './measure.ts';
import type { Bench, BenchContext, Table } from './report.ts';
import { median } from './stats.ts';
import { swarmRun, type SwarmRunResult } from './swarmRun.ts';
import { cappedSupported, cappedTopology, loopbackTopology, type Topology } from './topology.ts';

const MB = 1e6;

/** Relative error of the reduced sum against the exact (float64) sum of gradient-like vectors. */
async function sumError(codec: CodecName, n: number, len: number): Promise<{ maxRel: number; rmsRel: number }> {
  const rnd = mulberry32(11);
  const vs = Array.from({ length: n }, () => Float32Array.from({ length: len }, () => (rnd() - 0.5) * 10 ** (-4 + 3 * rnd())));
  const exact = new Float64Array(len);
  for (const v of vs) for (let i = 0; i < len; i++) exact[i]! += v[i]!;
  const next: Link[] = [];
  const prev: Link[] = [];
  for (let i = 0; i < n; i++) [next[i], prev[(i + 1) % n]] = memoryLinkPair(`r${(i + 1) % n}`, `r${i}`);
  const rings = vs.map((_, rank) => new RingAllReduce({ jobTag: 1, epoch: 1, rank, size: n, prev: prev[rank]!, next: next[rank]!, chunkElems: 16384, encoding: codec }));
  await Promise.all(rings.map((r, i) => r.allReduce(0, vs[i]!)));
  rings.forEach((r) => r.destroy());
  let maxAbs = 0;
  let maxErr = 0;
  let se = 0;
  let ss = 0;
  for (let i = 0; i < len; i++) {
    const e = vs[0]![i]! - exact[i]!;
    maxAbs = Math.max(maxAbs, Math.abs(exact[i]!));
    maxErr = Math.max(maxErr, Math.abs(e));
    se += e * e;
    ss += exact[i]! * exact[i]!;
  }
  return { maxRel: maxErr / maxAbs, rmsRel: Math.sqrt(se / ss) };
}

interface WireRow { links: string; n: number; encoding: CodecName; ms: number; speedup: number; appBytes: number; wireBytes: number | null }

async function wireRows(topo: Topology, label: string, n: number, bytes: number, reps: number): Promise<WireRow[]> {
  const c = await Cluster.start(topo, n);
  try {
    await c.connect('ring');
    const samples = new Map<CodecName, number[]>(CODECS.map((e) => [e, []]));
    const app = new Map<CodecName, number>();
    const wire = new Map<CodecName, number | null>();
    for (let k = 0; k < reps; k++) {
      for (const encoding of CODECS) {
        const w0 = k === 0 ? await topo.txBytes(0) : null;
        const t = await ringTime(c, n, bytes, { ...TUNED, encoding }, 1, k === 0 ? 1 : 0);
        if (k === 0) {
          const w1 = await topo.txBytes(0);
          // the warm-up step ran too: half of what the counter saw
          wire.set(encoding, w0 === null || w1 === null ? null : (w1 - w0) / 2);
          app.set(encoding, t.bytesSent);
        }
        samples.get(encoding)!.push(...t.samples);
      }
    }
    const base = median(samples.get('fp32')!);
    return CODECS.map((e) => ({ links: label, n, encoding: e, ms: median(samples.get(e)!), speedup: base / median(samples.get(e)!), appBytes: app.get(e)!, wireBytes: wire.get(e)! }));
  } finally {
    await c.close();
  }
}

export const compressionBench: Bench = async (ctx: BenchContext) => {
  const n = 4;
  const bytes = 16 * MB;
  const wires: WireRow[] = [];
  const capped = cappedSupported();
  if (capped.ok) {
    ctx.print(`capped 50 Mbit/s, N=${n}, ${bytes / MB} MB`);
    wires.push(...(await wireRows(await cappedTopology(n), 'capped 50 Mbit/s', n, bytes, 2)));
  }
  ctx.print(`loopback, N=${n}, ${bytes / MB} MB`);
  wires.push(...(await wireRows(loopbackTopology(), 'loopback', n, bytes, ctx.quick ? 2 : 4)));
  const errors = await Promise.all(CODECS.map(async (e) => ({ encoding: e, ...(await sumError(e, n, 1 << 20)) })));

  const steps = ctx.quick ? 60 : 100;
  const acc: (SwarmRunResult & { encoding: CodecName })[] = [];
  for (const encoding of CODECS) {
    ctx.print(`MNIST MLP, 2 tabs, ${steps} steps, ${encoding}`);
    acc.push({ encoding, ...(await swarmRun({ workers: 2, preset: 'mnist-mlp', overrides: { steps, encoding, evalEvery: 0 }, timeoutS: 400, print: ctx.print })) });
  }
  const fp32Acc = acc[0]!.finalTestAccuracy ?? NaN;
  const tables: Table[] = [
    {
      title: `Encodings on the wire: ring all-reduce of ${bytes / MB} MB over ${n} Node peers`,
      columns: ['links', 'encoding', 'ms', 'speed-up vs fp32', 'MB sent per peer (app)', 'MB on the wire per peer'],
      rows: wires.map((w) => [w.links, w.encoding, w.ms, w.speedup, w.appBytes / MB, w.wireBytes === null ? null : w.wireBytes / MB]),
      note: 'Encodings interleaved step by step on the same links; medians. Wire bytes: IP packets host 0 put on its capped link in one all-reduce.',
    },
    {
      title: 'Error of the reduced sum (4 ranks, 1 Mi gradient-like values spanning 3 decades)',
      columns: ['encoding', 'max |error| / max |sum|', 'RMS error / RMS sum'],
      rows: errors.map((e) => [e.encoding, e.maxRel, e.rmsRel]),
      note: 'One step, no error feedback history yet. Sums are always accumulated in fp32; only frames are encoded. Every replica decodes the same bytes, so replicas stay bit-identical.',
    },
    {
      title: `MNIST MLP, 2 Chromium tabs, ${steps} steps of batch 128, the same global batches`,
      columns: ['encoding', 'test accuracy', 'Δ vs fp32 (points)', 'final loss', 'all-reduce ms / step', 'steps/s', 'replicas agree'],
      rows: acc.map((a) => [a.encoding, a.finalTestAccuracy, ((a.finalTestAccuracy ?? NaN) - fp32Acc) * 100, a.finalLoss, a.allreduceMs, a.stepsPerSec, new Set(a.replicaHashes).size === 1 ? 'yes' : 'NO']),
      note: 'fp16 and int8 trade exactness for bytes: the swarm no longer equals a single process bit for bit, but every replica holds the same weights (the coordinator commits a step only when all hashes agree).',
    },
  ];
  return {
    tables,
    result: { wire: wires, sumError: errors, accuracy: acc.map(({ accuracy: _a, ...r }) => r), skipped: capped.ok ? [] : [`capped: ${capped.why}`] },
    figures: [{ file: 'compression.svg', title: `Ring all-reduce time by encoding (${bytes / MB} MB, N=${n})`, unit: 'ms', bars: wires.map((w) => ({ label: `${w.links} ${w.encoding}`, value: w.ms, group: w.links })) }],
  };
};
