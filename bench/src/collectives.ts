/**
 * `tabswarm bench collectives`: the same peers sum the same vector three ways — our ring
 * all-reduce, an all-to-all exchange of full vectors (each peer sends its vector to every
 * other, as DISCO does), and a parameter server behind socket.io (each peer uploads, the
 * server sums and broadcasts). On capped links (each host, the server too, in its own
 * network namespace behind a 50 Mbit/s tbf link) and on plain loopback. Reports time,
 * bytes each host put on its link, and the server's CPU time.
 */
import { Cluster } from './cluster.ts';
import { allToAllTime, paramServerTime, ringTime, TUNED, type Timed } from './measure.ts';
import type { Bench, BenchContext, Table } from './report.ts';
import { median } from './stats.ts';
import { cappedSupported, cappedTopology, loopbackTopology, type Topology } from './topology.ts';

const MB = 1e6;
type Kind = 'ring' | 'all-to-all' | 'parameter server';
const KINDS: Kind[] = ['ring', 'all-to-all', 'parameter server'];

interface Row {
  topology: string;
  n: number;
  bytes: number;
  collective: Kind;
  ms: number;
  vsRing: number;
  /** steps that failed (a stalled or broken collective), with the error */
  failures: string[];
  /** bytes one peer sent in one all-reduce (wire bytes on capped links, application bytes on loopback) */
  peerBytes: number;
  serverBytes: number;
  serverCpuMs: number;
  samplesMs: number[];
}

async function one(c: Cluster, kind: Kind, n: number, bytes: number, warm: boolean): Promise<Timed> {
  if (kind === 'ring') return ringTime(c, n, bytes, TUNED, 1, warm ? 1 : 0);
  // on capped links an all-to-all of N=8 can stall (loss on 7 flows per uplink); 45 s ≫ its ~7 s
  if (kind === 'all-to-all') return allToAllTime(c, n, bytes, 1, warm ? 1 : 0, 45_000);
  return paramServerTime(c, n, bytes, 1, warm ? 1 : 0);
}

async function wire(topo: Topology, hosts: number): Promise<(number | null)[]> {
  return Promise.all(Array.from({ length: hosts }, (_, i) => topo.txBytes(i)));
}

async function measure(topo: Topology, label: string, n: number, bytes: number, reps: number, print: (l: string) => void): Promise<Row[]> {
  const c = await Cluster.start(topo, n, { parameterServer: true });
  try {
    await c.connect('mesh');
    await c.all((r) => ({ op: 'psConnect', url: c.psUrl!, rank: r }));
    const samples = new Map<Kind, number[]>(KINDS.map((k) => [k, []]));
    const failures = new Map<Kind, string[]>(KINDS.map((k) => [k, []]));
    const sent = new Map<Kind, { peer: number; server: number; cpu: number }>();
    for (let k = 0; k < reps; k++) {
      for (const kind of KINDS) {
        if (failures.get(kind)!.length > 0) continue; // a stalled collective is not retried on the same links
        const w0 = k === 1 ? await wire(topo, n + 1) : null;
        const u0 = k === 1 ? await c.psUsage() : null;
        let t: Timed;
        try {
          t = await one(c, kind, n, bytes, k === 0);
        } catch (e) {
          failures.get(kind)!.push((e as Error).message.slice(0, 160));
          print(`  ${kind}: step failed: ${(e as Error).message.slice(0, 160)}`);
          continue;
        }
        samples.get(kind)!.push(...t.samples);
        if (w0 && u0) {
          const w1 = await wire(topo, n + 1);
          const u1 = (await c.psUsage())!;
          const d = w1.map((x, i) => (x === null || w0[i] === null ? null : x - w0[i]!));
          const app = kind === 'parameter server' ? n * bytes : 0;
          sent.set(kind, {
            peer: d[0] === null ? t.bytesSent : median(d.slice(0, n) as number[]),
            server: d[n] === null ? app : (d[n] as number),
            cpu: u1.cpuUserMs + u1.cpuSystemMs - u0.cpuUserMs - u0.cpuSystemMs,
          });
        }
      }
    }
    const ringMs = median(samples.get('ring')!);
    const rows = KINDS.map((kind) => {
      const ms = median(samples.get(kind)!);
      const s = sent.get(kind) ?? { peer: NaN, server: NaN, cpu: NaN };
      return { topology: label, n, bytes, collective: kind, ms, vsRing: ms / ringMs, failures: failures.get(kind)!, peerBytes: s.peer, serverBytes: s.server, serverCpuMs: s.cpu, samplesMs: samples.get(kind)! };
    });
    for (const r of rows) print(`  ${r.collective}: ${r.ms.toFixed(0)} ms (${r.vsRing.toFixed(2)}× ring), peer sent ${(r.peerBytes / MB).toFixed(1)} MB, server sent ${(r.serverBytes / MB).toFixed(1)} MB, server CPU ${r.serverCpuMs.toFixed(0)} ms`);
    return rows;
  } finally {
    await c.close();
  }
}

export const collectivesBench: Bench = async (ctx: BenchContext) => {
  const rows: Row[] = [];
  const bytes = 4 * MB;
  const capped = cappedSupported();
  const plan: { label: string; n: number; topo: () => Promise<Topology> }[] = [];
  if (capped.ok) {
    plan.push({ label: 'capped 50 Mbit/s', n: 4, topo: () => cappedTopology(5) });
    if (!ctx.quick) plan.push({ label: 'capped 50 Mbit/s', n: 8, topo: () => cappedTopology(9) });
  }
  plan.push({ label: 'loopback', n: 4, topo: async () => loopbackTopology() });
  for (const p of plan) {
    ctx.print(`${p.label} N=${p.n}, ${bytes / MB} MB vector`);
    rows.push(...(await measure(await p.topo(), p.label, p.n, bytes, p.n > 4 ? 2 : 3, ctx.print)));
  }
  const table: Table = {
    title: `Collectives compared: the same peers sum the same ${bytes / MB} MB vector`,
    columns: ['links', 'N', 'collective', 'ms', '× ring time', 'MB sent per peer', 'MB sent by server', 'server CPU ms', 'failed steps'],
    rows: rows.map((r) => {
      const ok = r.samplesMs.length > 0;
      return [r.topology, r.n, r.collective, ok ? r.ms : 'stalled', ok ? r.vsRing : null, ok ? r.peerBytes / MB : null, ok ? r.serverBytes / MB : null, r.collective === 'parameter server' && ok ? r.serverCpuMs : null, r.failures.length];
    }),
    note: [
      'Capped: bytes are what each host put on its link (IP packets, all headers, measured on the interface); loopback: application bytes.',
      'The ring and the all-to-all never touch the server (— = not involved); the parameter server is a socket.io process in its own namespace with the same link cap.',
      'stalled: a step did not finish within 45 s (≫ its time on an idle machine) and the collective was not retried on those links; see failures in the JSON.',
      capped.ok ? '' : `capped rows skipped: ${capped.why}`,
    ].filter(Boolean).join('\n'),
  };
  return {
    tables: [table],
    result: { bytes, rows: rows.map(({ samplesMs: _s, ...r }) => r), samples: rows.map((r) => r.samplesMs) },
    figures: [{ file: 'collectives.svg', title: `Collectives, ${bytes / MB} MB vector`, unit: 'ms', bars: rows.map((r) => ({ label: `${r.topology} N=${r.n} ${r.collective}`, value: r.ms, group: r.collective })) }],
  };
};
