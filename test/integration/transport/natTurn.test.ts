/**
 * Peers behind NATs, for real: each Node peer (simple-peer on node-datachannel, in a child
 * process running bench/src/peerAgent.ts, driven over stdin/stdout by bench/src/peerProcs.ts)
 * sits in its own network namespace behind its own masquerading router (nftables,
 * symmetric: random source ports), and a coturn sits on the "public" side that every router
 * reaches (see natLab.ts). Host candidates cannot connect peer to peer; with TURN
 * credentials from server/ice.ts the peers connect through the relay and run a ring
 * all-reduce; without TURN connecting fails with a coded error within a bounded time.
 *
 * Must run as root in a loopback-only network namespace:
 *   bash test/run.sh test/integration/transport/natTurn.test.ts
 * Needs coturn (`turnserver`) and nftables (`nft`); as root outside the namespace it installs
 * what is missing, else the test skips saying why.
 */
import { spawnSync } from 'node:child_process';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IceConfig } from '../../../server/ice.ts';
import { hashFloat32 } from '../../../shared/hash.ts';
import { startCoturn, type Coturn } from '../../../bench/src/coturn.ts';
import { natLab, type NatLab } from './natLab.ts';
import { startPeers, type PeerProc } from '../../../bench/src/peerProcs.ts';

const loopbackOnly = Object.keys(networkInterfaces()).every((name) => name === 'lo');
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

function missingTools(): string | null {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'needs root on Linux (network namespaces, veth, nftables)';
  const need = [['turnserver', 'coturn'], ['nft', 'nftables'], ['nsenter', 'util-linux'], ['ip', 'iproute2']].filter(([t]) => !has(t!));
  if (need.length === 0) return null;
  const pkgs = need.map(([, p]) => p!).join(' ');
  if (loopbackOnly) return `missing ${pkgs} and cannot install from inside the loopback-only namespace: apt-get install ${pkgs} first`;
  const r = spawnSync('sh', ['-c', `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${pkgs}`], { encoding: 'utf8', timeout: 300_000 });
  return r.status === 0 ? null : `missing ${pkgs} and installing failed: ${(r.stderr || '').slice(-300)}`;
}
const missing = missingTools();

it.skipIf(!missing)('needs root, coturn and nftables', () => {
  console.warn(`SKIPPED the NAT/TURN tests: ${missing}`);
});
it.skipIf(loopbackOnly)('refuses to run WebRTC outside a loopback-only network namespace', () => {
  throw new Error('run under: bash test/run.sh test/integration/transport/natTurn.test.ts');
});

const vector = (rank: number, len: number) => Float32Array.from({ length: len }, (_, i) => ((i * 31 + rank * 17) % 2001) - 1000);

describe.runIf(loopbackOnly && !missing)('peers behind symmetric NATs, TURN on the public side', () => {
  const N = 3;
  let lab: NatLab;
  let turn: Coturn;
  const started: PeerProc[] = [];

  beforeAll(async () => {
    lab = await natLab(N);
    turn = await startCoturn({
      ip: lab.serverAddr,
      relayIp: lab.relayAddr,
      spawn: (cmd, args, opts) => lab.spawnInPub(cmd, args, opts),
      exec: (cmd, args) => lab.spawnInPub(cmd, args, { stdio: 'ignore' }),
    });
  }, 60_000);
  afterAll(async () => {
    await Promise.all(started.map((p) => p.stop()));
    await turn?.stop();
    await lab?.close();
  });

  async function peers(ids: string[], ice: IceConfig | null, policy?: 'relay', healMs?: number): Promise<PeerProc[]> {
    const ps = await startPeers(ids, (i, cmd, args, opts) => lab.spawnInHost(i, cmd, args, opts));
    started.push(...ps);
    await Promise.all(ps.map((p, i) => p.request('mesh', { id: p.id, bind: lab.hostAddr(i), iceServers: ice ? ice.iceServersFor(p.id, Date.now()) : [], policy, timeoutMs: 20_000, healMs })));
    return ps;
  }

  it('host candidates cannot connect; with TURN credentials the peers connect relayed and a ring all-reduce sums exactly', async () => {
    const ice = new IceConfig({ turn: [turn.url], turnSecret: turn.secret, turnTtlSec: 600 });
    const ids = Array.from({ length: N }, (_, r) => `nat-${r}`);
    // 'relay': with 'all', libjuice (node-datachannel 0.33.4) asks coturn 4.6.1 for one
    // permission per remote candidate at once, gets 438 Stale Nonce on one and 400 on its
    // retry, and the relay-to-relay pair never gets its permission (see the report)
    const ps = await peers(ids, ice, 'relay');
    const conns = await Promise.all(ps.map((p, r) => p.request('connect', { peers: [ids[(r + N - 1) % N], ids[(r + 1) % N]], timeoutMs: 20_000 }, 30_000)));
    // every end of every link: the selected pair goes through the relay (no direct path exists)
    const seen: string[] = [];
    for (const [r, c] of conns.entries()) {
      for (const [peer, st] of Object.entries(c.pairs as Record<string, { relayed: boolean; localType: string; remoteType: string }>)) {
        seen.push(`${ids[r]}→${peer}: ${st.localType}/${st.remoteType}`);
        expect(st.relayed, `${ids[r]}→${peer} ${st.localType}/${st.remoteType}`).toBe(true);
        expect(st.localType === 'host' && st.remoteType === 'host').toBe(false);
      }
    }
    console.info(`selected pairs behind NAT: ${seen.join(', ')}`);
    const len = 200_003;
    const vs = ids.map((_, r) => vector(r, len));
    const want = Float32Array.from({ length: len }, (_, i) => vs.reduce((acc, v) => acc + v[i]!, 0));
    const res = await Promise.all(ps.map((p, r) => p.request('ring', { rank: r, size: N, prev: ids[(r + N - 1) % N], next: ids[(r + 1) % N], len, timeoutMs: 30_000 }, 40_000)));
    for (const x of res) expect(x.hash).toBe(hashFloat32(want));
    console.info(`ring of ${N} through TURN behind NAT: ${(len * 4) / 1e6} MB in ${Math.max(...res.map((x) => Number(x.ms))).toFixed(0)} ms`);
  }, 90_000);

  it('without TURN the same peers cannot connect: a coded error within a bounded time, not a hang', async () => {
    const ids = ['nat-noturn-0', 'nat-noturn-1'];
    const ps = await peers(ids, null);
    const t0 = performance.now();
    const errs = await Promise.all(ps.map((p, r) => p.request('connect', { peers: [ids[1 - r]], timeoutMs: 10_000 }, 20_000).then(() => null, (e: Error & { code?: string }) => e)));
    const ms = performance.now() - t0;
    for (const [r, e] of errs.entries()) {
      expect(e, 'connect must fail').toBeInstanceOf(Error);
      expect(['LINK_FAILED', 'TIMEOUT'], e!.message).toContain(e!.code);
      expect(e!.message).toContain(`to peer ${ids[1 - r]}`);
    }
    expect(ms).toBeLessThan(15_000);
    console.info(`without TURN: failed after ${ms.toFixed(0)} ms: ${errs.map((e) => e!.message).join(' | ')}`);
  }, 60_000);

  /**
   * A link forced down mid-transfer (host 0's link to its router). node-datachannel's
   * polyfill cannot restart ICE (`restartIce()` throws "Not implemented"; libdatachannel has
   * no ICE restart) and reports no ICE state change for ~25 s: a short outage heals
   * underneath, by SCTP retransmission over the same relayed pair; a long one shows as queued
   * data that stops moving (PeerLink's stall watch, 4 s), the link heals for healMs (5 s)
   * and then closes with LINK_FAILED. (Where restartIce() works, in Chromium, healing also
   * restarts ICE: unit-tested in test/unit/transport/peerLinkHeal.test.ts.)
   */
  async function streamAcrossOutage(tag: string, downMs: number) {
    const ids = [`${tag}-0`, `${tag}-1`];
    const ps = await peers(ids, new IceConfig({ turn: [turn.url], turnSecret: turn.secret, turnTtlSec: 600 }), 'relay', 5000);
    await Promise.all(ps.map((p, r) => p.request('connect', { peers: [ids[1 - r]], timeoutMs: 20_000 }, 30_000)));
    // settled outcomes: a failure during the outage is a result here, not an unhandled rejection
    const settle = (p: Promise<Record<string, unknown>>) => p.then((v) => ({ ok: true as const, v }), (e: Error) => ({ ok: false as const, e }));
    const closed = settle(ps[0]!.request('watchClose', { peer: ids[1] }, 120_000));
    const total = 24e6;
    const got = settle(ps[1]!.request('expect', { from: ids[0], bytes: total }, 120_000));
    const sent = settle(ps[0]!.request('stream', { to: ids[1], bytes: total, msg: 65_536 }, 120_000));
    await ps[1]!.request('expect', { from: ids[0], bytes: 2e6 }, 20_000); // mid-transfer
    await lab.setHostLink(0, false);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, downMs)); // the outage itself, not a synchronisation
    await lab.setHostLink(0, true);
    return { ps, closed, got, sent, t0 };
  }

  it('down for 2 s mid-transfer: the link heals without closing and every byte arrives', async () => {
    const { ps, closed, got, sent } = await streamAcrossOutage('heal', 2000);
    try {
      const [s1, g1] = await Promise.all([sent, got]);
      expect(s1.ok && g1.ok, `${!s1.ok ? s1.e.message : ''} ${!g1.ok ? g1.e.message : ''}`).toBe(true);
      let isClosed = false;
      void closed.then(() => (isClosed = true));
      const st = await ps[0]!.request('stats', { peer: 'heal-1' });
      expect(st.stats, 'the link is still open').not.toBeNull();
      expect(isClosed).toBe(false);
    } finally {
      await Promise.all(ps.map((p) => p.stop()));
    }
  }, 90_000);

  it('down for 12 s: the link closes with LINK_FAILED after the stall watch and the heal window, not a hang', async () => {
    const { ps, closed, got, sent, t0 } = await streamAcrossOutage('gone', 12_000);
    try {
      const w = await closed;
      const ms = performance.now() - t0;
      expect(w.ok, 'watchClose answered').toBe(true);
      const c = (w as { v: Record<string, unknown> }).v;
      expect(c.code, String(c.message)).toBe('LINK_FAILED');
      expect(String(c.message)).toMatch(/lost \(stalled: .*\) and not restored within 5000 ms/);
      // stall watch (4 s, polled every 0.5 s) + heal window (5 s), while the link is still down
      expect(Number(c.closedAfterMs)).toBeLessThan(11_000);
      expect(Number(c.closedAfterMs)).toBeGreaterThan(8_500);
      expect(ms).toBeLessThan(20_000);
      const s1 = await sent;
      expect(s1.ok).toBe(false);
      expect(!s1.ok && s1.e.message).toMatch(/LINK_(CLOSED|FAILED)/);
      void got; // the receiver learns later (its ICE reports failed ~25 s after the outage); stopping it ends the request
      console.info(`link down 12 s: closed ${(Number(c.closedAfterMs) / 1000).toFixed(1)} s after the outage began: ${c.code}: ${c.message}`);
    } finally {
      await Promise.all(ps.map((p) => p.stop()));
    }
  }, 90_000);
});
