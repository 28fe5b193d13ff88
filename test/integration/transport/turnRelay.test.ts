/**
 * The relayed path, for real: a coturn `turnserver` on 127.0.0.1 with TURN REST credentials
 * (use-auth-secret), Node peers (simple-peer on node-datachannel) given ICE servers by
 * server/ice.ts with iceTransportPolicy 'relay'. Must run in a loopback-only network
 * namespace (`bash test/run.sh test/integration/transport/turnRelay.test.ts`); CI installs
 * coturn (`.ci/run`), elsewhere the test installs it as root or skips saying so.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import SimplePeer from 'simple-peer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IceConfig } from '../../../server/ice.ts';
import { errorCode, TabswarmError } from '../../../shared/errors.ts';
import { watchRelayGathering, type IcePeerConnectionLike } from '../../../shared/iceRelay.ts';
import { RingAllReduce } from '../../../shared/allreduce/ring.ts';
import { hashFloat32 } from '../../../shared/hash.ts';
import { nodePeerOptions, shutdownNodeWebRTC } from '../../../server/transport/nodePeer.ts';
import { PeerLink, type PeerInstance, type SimplePeerConstructor } from '../../../shared/transport/peerLink.ts';
import { patterned } from '../../unit/allreduce/linkCompliance.ts';

const loopbackOnly = Object.keys(networkInterfaces()).every((name) => name === 'lo');

/** turnserver on PATH, installing coturn first when we are root and it is missing (CI installs it itself). */
function haveTurnserver(): string | null {
  const has = () => spawnSync('sh', ['-c', 'command -v turnserver'], { encoding: 'utf8' }).status === 0;
  if (has()) return null;
  if (process.getuid?.() !== 0) return 'turnserver (coturn) is not installed and this is not root: apt-get install coturn';
  if (loopbackOnly) return 'turnserver (coturn) is not installed and cannot be installed from inside the loopback-only namespace: apt-get install coturn first (.ci/run does)';
  const r = spawnSync('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq coturn'], { encoding: 'utf8', timeout: 300_000 });
  return r.status === 0 && has() ? null : `turnserver (coturn) is missing and installing it failed: ${(r.stderr || r.stdout || '').slice(-300)}`;
}
const missing = haveTurnserver();

it.skipIf(!missing)('needs coturn', () => {
  console.warn(`SKIPPED the TURN relay tests: ${missing}`);
});
it.skipIf(loopbackOnly)('refuses to run WebRTC outside a loopback-only network namespace', () => {
  throw new Error('run under: bash test/run.sh test/integration/transport/turnRelay.test.ts');
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Sends STUN Binding requests to 127.0.0.1:port until one is answered (the server is up), or throws at the deadline. */
async function waitForStun(port: number, deadlineMs: number, exited: () => string | null): Promise<void> {
  const sock = createSocket('udp4');
  const tid = randomBytes(12);
  const req = Buffer.concat([Buffer.from([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]), tid]);
  try {
    await new Promise<void>((resolve, reject) => {
      const t0 = Date.now();
      let timer: ReturnType<typeof setTimeout>;
      sock.on('message', (m) => {
        // a Binding success response (0x0101) carrying our transaction id
        if (m.length >= 20 && m.readUInt16BE(0) === 0x0101 && m.subarray(8, 20).equals(tid)) {
          clearTimeout(timer);
          resolve();
        }
      });
      sock.on('error', () => {}); // ICMP port unreachable before the server binds
      const probe = () => {
        const gone = exited();
        if (gone) return reject(new Error(`turnserver exited before it answered STUN: ${gone}`));
        if (Date.now() - t0 > deadlineMs) return reject(new Error(`turnserver did not answer STUN on 127.0.0.1:${port} within ${deadlineMs} ms`));
        sock.send(req, port, '127.0.0.1');
        timer = setTimeout(probe, 50);
      };
      sock.bind(0, '127.0.0.1', probe);
    });
  } finally {
    sock.close();
  }
}

interface Turn {
  port: number;
  secret: string;
  log: () => string;
  stop: () => Promise<void>;
}

async function startTurn(): Promise<Turn> {
  const dir = mkdtempSync(join(tmpdir(), 'tabswarm-turn-'));
  const secret = randomBytes(24).toString('base64url');
  const port = await freePort();
  const relayLo = 40000 + Math.floor(Math.random() * 20000);
  const args = [
    '-n', // no config file
    `--listening-ip=127.0.0.1`, `--relay-ip=127.0.0.1`, `--listening-port=${port}`,
    `--min-port=${relayLo}`, `--max-port=${relayLo + 200}`,
    '--use-auth-secret', `--static-auth-secret=${secret}`, '--realm=tabswarm.test',
    '--no-tls', '--no-dtls', '--no-tcp-relay',
    '--allow-loopback-peers', // peers' relayed addresses are on 127.0.0.1 too
    '--no-cli', '--log-file=stdout', '--simple-log',
    `--pidfile=${join(dir, 'turnserver.pid')}`, `--userdb=${join(dir, 'turndb')}`,
  ];
  const proc: ChildProcess = spawn('turnserver', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let exit: string | null = null;
  proc.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-64 * 1024)));
  proc.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-64 * 1024)));
  const exited = new Promise<void>((r) => proc.once('exit', (code, sig) => {
    exit = `exit code ${code} signal ${sig}`;
    r();
  }));
  proc.once('error', (e) => (exit = e.message));
  const stop = async () => {
    if (!exit) {
      proc.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (!exit) proc.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForStun(port, 10_000, () => exit && `${exit}\n${out.slice(-2000)}`);
  } catch (e) {
    await stop();
    throw e;
  }
  return { port, secret, log: () => out, stop };
}

interface Made {
  peer: PeerInstance;
  pc: IcePeerConnectionLike & { selectedCandidatePair(): { local: { type: string; candidate: string }; remote: { type: string; candidate: string } } | null };
}

/**
 * A Node peer that may only use relayed candidates, with the given ICE servers.
 *
 * Its sockets bind 127.0.0.2, not the TURN server's 127.0.0.1, as on a real network where
 * peers and the relay have different addresses. On one address, libdatachannel's 'relay'
 * policy is not enough: the TURN permission each peer installs for the other's relayed
 * address (127.0.0.1) also admits the other's host socket (127.0.0.1 too; permissions are per
 * IP), so connectivity checks from a host socket succeed and a host/prflx pair gets selected
 * (seen here in about one run of three).
 */
function relayPeer(initiator: boolean, iceServers: RTCIceServer[]): Made {
  const base = nodePeerOptions({ bindAddress: '127.0.0.2', iceServers });
  const peer = new (SimplePeer as unknown as SimplePeerConstructor)({ ...base, initiator, config: { ...base.config, iceTransportPolicy: 'relay' } });
  const pc = (peer as unknown as { _pc: Made['pc'] })._pc;
  return { peer, pc };
}

/**
 * Connects two relay-only peers whose ICE servers come from `ice` (per peer id); resolves with
 * open links, or rejects with the first coded error (ICE_NO_RELAY when either side gathers no
 * relay candidate), never later than `timeoutMs`.
 */
async function relayPair(ice: { iceServersFor(id: string, now: number): RTCIceServer[] }, ids: [string, string], timeoutMs = 15_000) {
  // nodePeerOptions escapes the credentials for node-datachannel itself (escaping here too
  // would double-encode them: coturn then refuses every allocation)
  const a = relayPeer(true, ice.iceServersFor(ids[0], Date.now()));
  const b = relayPeer(false, ice.iceServersFor(ids[1], Date.now()));
  const watches = [watchRelayGathering(a.pc, { timeoutMs, peer: ids[1] }), watchRelayGathering(b.pc, { timeoutMs, peer: ids[0] })];
  a.peer.on('signal', (s) => b.peer.signal(s));
  b.peer.on('signal', (s) => a.peer.signal(s));
  const la = new PeerLink(ids[1], a.peer);
  const lb = new PeerLink(ids[0], b.peer);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      Promise.all([la.opened, lb.opened]),
      // a missing relay candidate fails at once; a relay candidate alone proves nothing yet
      Promise.all(watches.map((w) => w.relayed)).then(() => new Promise<never>(() => {})),
      new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new TabswarmError('TIMEOUT', `relayed connection ${ids[0]}–${ids[1]} not open after ${timeoutMs} ms`)), timeoutMs))),
    ]);
    return { la, lb, a, b };
  } catch (e) {
    la.close();
    lb.close();
    throw e;
  } finally {
    clearTimeout(timer);
    for (const w of watches) w.stop();
  }
}

describe.runIf(loopbackOnly && !missing)('TURN relay through coturn (loopback only)', () => {
  let turn: Turn;
  beforeAll(async () => {
    turn = await startTurn();
  });
  afterAll(async () => {
    await turn?.stop();
    shutdownNodeWebRTC();
  });

  const goodIce = () => new IceConfig({ turn: [`turn:127.0.0.1:${turn.port}?transport=udp`], turnSecret: turn.secret, turnTtlSec: 600 });

  it('two relay-only peers connect through TURN, exchange data, and the selected pair is relayed on both ends', async () => {
    const { la, lb, a, b } = await relayPair(goodIce(), ['turn-a', 'turn-b']);
    try {
      for (const m of [a, b]) {
        const pair = m.pc.selectedCandidatePair();
        expect(pair, 'a selected candidate pair').not.toBeNull();
        expect(pair!.local.type).toBe('relay');
        expect(pair!.remote.type).toBe('relay');
        expect(pair!.local.candidate).toContain(`typ relay`);
      }
      const got = new Promise<Uint8Array[]>((resolve) => {
        const msgs: Uint8Array[] = [];
        lb.onMessage((d) => {
          msgs.push(d);
          if (msgs.length === 20) resolve(msgs);
        });
      });
      const sent = Array.from({ length: 20 }, (_, i) => patterned(i, 60_000));
      for (const m of sent) la.send(m);
      expect(await got).toEqual(sent);
      const back = new Promise<Uint8Array>((r) => la.onMessage(r));
      lb.send(Uint8Array.of(1, 2, 3));
      expect(await back).toEqual(Uint8Array.of(1, 2, 3));
    } finally {
      la.close();
      lb.close();
    }
  });

  it('a 4-rank ring all-reduce over relayed links sums exactly', async () => {
    const n = 4;
    const ids = Array.from({ length: n }, (_, r) => `turn-ring-${r}`);
    const ice = goodIce();
    const pairs = await Promise.all(ids.map((id, r) => relayPair(ice, [id, ids[(r + 1) % n]!])));
    const len = 100_003;
    const vs = ids.map((_, r) => Float32Array.from({ length: len }, (_, i) => ((i * 31 + r * 17) % 2001) - 1000));
    const want = Float32Array.from({ length: len }, (_, i) => vs.reduce((acc, v) => acc + v[i]!, 0));
    // pair r is rank r → rank r+1: its la is rank r's next, its lb rank r+1's prev
    const rings = ids.map((_, r) => new RingAllReduce({ jobTag: 3, epoch: 1, rank: r, size: n, prev: pairs[(r + n - 1) % n]!.lb, next: pairs[r]!.la, chunkElems: 16_384 }));
    try {
      await Promise.all(rings.map((ring, r) => ring.allReduce(0, vs[r]!, { timeoutMs: 30_000 })));
      for (const v of vs) expect(hashFloat32(v)).toBe(hashFloat32(want));
      const types = pairs.map((p) => [p.a, p.b].map((m) => { const s = m.pc.selectedCandidatePair(); return `${s?.local.type}-${s?.remote.type}`; }).join(','));
      expect(types).toEqual(pairs.map(() => 'relay-relay,relay-relay'));
    } finally {
      for (const ring of rings) ring.destroy();
      for (const p of pairs) {
        p.la.close();
        p.lb.close();
      }
    }
  });

  it('wrong TURN credentials: no relay candidate, and ICE_NO_RELAY within a bounded time (not a hang)', async () => {
    const wrong = new IceConfig({ turn: [`turn:127.0.0.1:${turn.port}?transport=udp`], turnSecret: 'not-the-servers-secret-0123456789', turnTtlSec: 600 });
    const t0 = performance.now();
    const err = await relayPair(wrong, ['bad-a', 'bad-b'], 15_000).then(
      () => null,
      (e: unknown) => e,
    );
    const ms = performance.now() - t0;
    expect(err).toBeInstanceOf(TabswarmError);
    expect(errorCode(err), String(err)).toBe('ICE_NO_RELAY');
    expect(String(err)).toMatch(/no relay candidate .*TURN authentication failed/);
    expect(ms).toBeLessThan(5_000); // the answerer's gathering ends at once, without a relay candidate
    console.info(`wrong TURN credentials detected in ${ms.toFixed(0)} ms: ${(err as Error).message}`);
  });

  it('expired TURN credentials are refused the same way', async () => {
    const ice = goodIce();
    const stale = { iceServersFor: (id: string, now: number) => ice.iceServersFor(id, now - 3_600_000) }; // expired 50 min ago
    const err = await relayPair(stale, ['old-a', 'old-b'], 20_000).then(() => null, (e: unknown) => e);
    expect(errorCode(err), String(err)).toBe('ICE_NO_RELAY');
  });
});
