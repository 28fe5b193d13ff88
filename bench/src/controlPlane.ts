/**
 * `tabswarm bench control`: K ∈ {500, 1000, 2000} simulated members (socket.io clients in two
 * processes, 50 per loopback address) join one job on a real tabswarm server (its own
 * process, default limits) and heartbeat; meanwhile each member probes the control round
 * trip every 2 s. Reports join latency, control round-trip p50/p99, and the server's RSS
 * and CPU.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TabswarmError } from '../../shared/errors.ts';
import type { Bench, BenchContext, Table } from './report.ts';
import { percentile } from './stats.ts';

const SERVER = fileURLToPath(new URL('./cpServer.ts', import.meta.url));
const MEMBERS = fileURLToPath(new URL('./cpMembers.ts', import.meta.url));
const NODE = [process.execPath, '--import', 'tsx'] as const;

interface ServerUsage { cpuUserMs: number; cpuSystemMs: number; rssBytes: number; heapUsedBytes: number }

function child(script: string): ChildProcess {
  return spawn(NODE[0], [...NODE.slice(1), script], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function ask<T>(p: ChildProcess, msg: object, key?: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const on = (m: Record<string, unknown>) => {
      if (key ? !(key in m) : !('ok' in m)) return;
      p.off('message', on);
      if (key) resolve(m[key] as T);
      else if (m.ok) resolve(m.result as T);
      else reject(new TabswarmError('INTERNAL', String(m.error)));
    };
    p.on('message', on);
    if (Object.keys(msg).length) p.send(msg);
  });
}

interface Row { members: number; joinP50: number; joinP99: number; rttP50: number; rttP99: number; probes: number; rssMiB: number; heapMiB: number; idleRssMiB: number; cpuPerSec: number; joinS: number }

async function runK(k: number, probeMs: number): Promise<Row> {
  const server = child(SERVER);
  const procs: ChildProcess[] = [];
  try {
    const { url, jobId } = await ask<{ url: string; jobId: string }>(server, {}, 'ready');
    const idle = await ask<ServerUsage>(server, { op: 'usage' }, 'usage');
    const parts = [Math.ceil(k / 2), Math.floor(k / 2)];
    procs.push(child(MEMBERS), child(MEMBERS));
    const t0 = performance.now();
    const joins = (await Promise.all(procs.map((p, i) => ask<number[]>(p, { op: 'start', url, jobId, count: parts[i], offset: i * parts[0]! })))).flat();
    const joinS = (performance.now() - t0) / 1000;
    const before = await ask<ServerUsage>(server, { op: 'usage' }, 'usage');
    const t1 = performance.now();
    const rtts = (await Promise.all(procs.map((p) => ask<number[]>(p, { op: 'probe', durationMs: probeMs, everyMs: 2000 })))).flat();
    const after = await ask<ServerUsage>(server, { op: 'usage' }, 'usage');
    const secs = (performance.now() - t1) / 1000;
    return {
      members: k,
      joinP50: percentile(joins, 50), joinP99: percentile(joins, 99),
      rttP50: percentile(rtts, 50), rttP99: percentile(rtts, 99), probes: rtts.length,
      rssMiB: after.rssBytes / 2 ** 20,
      heapMiB: after.heapUsedBytes / 2 ** 20,
      idleRssMiB: idle.rssBytes / 2 ** 20,
      cpuPerSec: (after.cpuUserMs + after.cpuSystemMs - before.cpuUserMs - before.cpuSystemMs) / secs / 10,
      joinS,
    };
  } finally {
    await Promise.all(procs.map((p) => ask(p, { op: 'stop' }).catch(() => {})));
    server.kill();
  }
}

export const controlPlaneBench: Bench = async (ctx: BenchContext) => {
  const rows: Row[] = [];
  for (const k of ctx.quick ? [500] : [500, 1000, 2000]) {
    ctx.print(`${k} members`);
    const r = await runK(k, ctx.quick ? 6000 : 8000);
    ctx.print(`  joined in ${r.joinS.toFixed(1)} s; round trip p50 ${r.rttP50.toFixed(1)} ms p99 ${r.rttP99.toFixed(1)} ms; server RSS ${r.rssMiB.toFixed(0)} MiB`);
    rows.push(r);
  }
  const table: Table = {
    title: 'Control plane: simulated members joining and heartbeating one job',
    columns: ['members', 'join p50 ms', 'join p99 ms', 'all joined (s)', 'round trip p50 ms', 'round trip p99 ms', 'probes', 'server RSS MiB', 'JS heap MiB', 'server CPU %'],
    rows: rows.map((r) => [r.members, r.joinP50, r.joinP99, r.joinS, r.rttP50, r.rttP99, r.probes, r.rssMiB, r.heapMiB, r.cpuPerSec]),
    note: [
      'Members: socket.io clients in 2 processes (64 joins in flight each), 50 per loopback address so the server\'s default per-address limits hold; each heartbeats every 2 s (the server\'s pace).',
      'Round trip: a member sends a request the server must answer (a signal it refuses: validation, rate limit, membership and policy checks, coded error back) every 2 s, at random phase, while all others heartbeat.',
      `Server CPU % is of one core during the probe phase. RSS of the idle server (job created, no member): ${rows[0]?.idleRssMiB.toFixed(0) ?? '—'} MiB. Clients and server share the machine's 2 cores, so latencies include client-side queueing.`,
    ].join('\n'),
  };
  return {
    tables: [table],
    result: { rows },
    figures: [{ file: 'control.svg', title: 'Control round trip p99', unit: 'ms', bars: rows.map((r) => ({ label: `${r.members} members`, value: r.rttP99 })) }],
  };
};
