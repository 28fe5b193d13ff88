/**
 * Where the benchmark's hosts live.
 *
 * - loopback: every host is a process in the current (loopback-only) network namespace.
 * - capped: every host in its own network namespace, joined by a veth pair to a bridge in a
 *   bridge namespace, each host's link limited in both directions with `tc … tbf` (a home
 *   uplink). Addresses come from 198.18.0.0/15 (RFC 2544, for benchmarks) and exist only
 *   inside these namespaces, which have no route anywhere else.
 *
 * Namespaces are anonymous: each is held by a `cat` started with `unshare -n` that exits
 * when our stdin pipe closes, so nothing is left behind when the bench ends or dies (no
 * /run/netns entries). Needs root, `unshare`, `nsenter`, `ip` and `tc`.
 */
import { readlinkSync } from 'node:fs';
import { execFile, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { promisify } from 'node:util';
import { TabswarmError } from '../../shared/errors.ts';

const run = promisify(execFile);

export interface Topology {
  kind: 'loopback' | 'capped';
  /** link rate per host (capped only) */
  rateMbit: number | null;
  /** the address host i binds to */
  addr(i: number): string;
  /** starts a process as host i */
  spawn(i: number, cmd: string, args: string[], opts: SpawnOptions): ChildProcess;
  /** bytes host i has sent on its link (capped only; null on loopback) */
  txBytes(i: number): Promise<number | null>;
  close(): Promise<void>;
}

export function loopbackTopology(): Topology {
  return {
    kind: 'loopback',
    rateMbit: null,
    addr: () => '127.0.0.1',
    spawn: (_i, cmd, args, opts) => spawn(cmd, args, opts),
    txBytes: async () => null,
    close: async () => {},
  };
}

/** Whether capped topologies can be built here (root and the tools). */
export function cappedSupported(): { ok: boolean; why: string } {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return { ok: false, why: 'needs root on Linux' };
  for (const tool of ['unshare', 'nsenter', 'ip', 'tc']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return { ok: false, why: `${tool} not found` };
  }
  if (!process.env.TABSWARM_NETNS) return { ok: false, why: 'not inside a loopback-only namespace (run through `tabswarm bench`)' };
  return { ok: true, why: '' };
}

/**
 * A process holding a fresh network namespace. 'spawn' fires before unshare(2) has run, and an
 * nsenter then would enter our own namespace: wait until the holder's namespace is its own.
 */
export async function holder(): Promise<ChildProcess> {
  const p = spawn('unshare', ['-n', 'cat'], { stdio: ['pipe', 'ignore', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    p.once('error', reject);
    p.once('spawn', () => resolve());
  });
  const mine = readlinkSync('/proc/self/ns/net');
  const deadline = Date.now() + 5000;
  for (;;) {
    let theirs = mine;
    try {
      theirs = readlinkSync(`/proc/${p.pid}/ns/net`);
    } catch {
      /* not there yet */
    }
    if (theirs !== mine) return p;
    if (Date.now() > deadline) {
      p.kill();
      throw new TabswarmError('TIMEOUT', 'network namespace holder did not unshare within 5000 ms');
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const sh = (args: string[]) => run(args[0]!, args.slice(1)).catch((e: Error & { stderr?: string }) => {
  throw new TabswarmError('INTERNAL', `${args.join(' ')}: ${e.stderr?.trim() || e.message}`);
});
export const inNs = (pid: number, args: string[]) => sh(['nsenter', '-t', String(pid), '-n', '--', ...args]);

export async function cappedTopology(hosts: number, rateMbit = 50): Promise<Topology> {
  const ok = cappedSupported();
  if (!ok.ok) throw new TabswarmError('BAD_REQUEST', `capped topology unavailable: ${ok.why}`);
  const held: ChildProcess[] = [];
  const close = async () => {
    for (const h of held) h.stdin?.end();
    await new Promise((r) => setTimeout(r, 50));
  };
  try {
    const bridge = await holder();
    held.push(bridge);
    const br = bridge.pid!;
    await inNs(br, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
    await inNs(br, ['ip', 'link', 'set', 'br0', 'up']);
    const pids: number[] = [];
    const tbf = (dev: string) => ['tc', 'qdisc', 'add', 'dev', dev, 'root', 'tbf', 'rate', `${rateMbit}mbit`, 'burst', '32kbit', 'latency', '50ms'];
    for (let i = 0; i < hosts; i++) {
      const h = await holder();
      held.push(h);
      const pid = h.pid!;
      pids.push(pid);
      // the pair is made here, then each end moves to its namespace
      await sh(['ip', 'link', 'add', `tsh${i}`, 'type', 'veth', 'peer', 'name', `tsb${i}`]);
      await sh(['ip', 'link', 'set', `tsh${i}`, 'netns', String(pid)]);
      await sh(['ip', 'link', 'set', `tsb${i}`, 'netns', String(br)]);
      await inNs(br, ['ip', 'link', 'set', `tsb${i}`, 'master', 'br0']);
      await inNs(br, ['ip', 'link', 'set', `tsb${i}`, 'up']);
      await inNs(pid, ['ip', 'link', 'set', 'lo', 'up']);
      await inNs(pid, ['ip', 'addr', 'add', `198.18.0.${i + 1}/24`, 'dev', `tsh${i}`]);
      await inNs(pid, ['ip', 'link', 'set', `tsh${i}`, 'up']);
      await inNs(pid, tbf(`tsh${i}`)); // upload
      await inNs(br, tbf(`tsb${i}`)); // download
    }
    return {
      kind: 'capped',
      rateMbit,
      addr: (i) => `198.18.0.${i + 1}`,
      spawn: (i, cmd, args, opts) => spawn('nsenter', ['-t', String(pids[i]), '-n', '--', cmd, ...args], opts),
      txBytes: async (i) => {
        const { stdout } = await inNs(pids[i]!, ['ip', '-s', '-j', 'link', 'show', 'dev', `tsh${i}`]);
        const j = JSON.parse(stdout) as { stats64?: { tx?: { bytes?: number } } }[];
        return j[0]?.stats64?.tx?.bytes ?? null;
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
