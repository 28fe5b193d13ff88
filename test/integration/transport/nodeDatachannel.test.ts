/**
 * Real WebRTC between simple-peer instances on node-datachannel, in one Node process.
 * Must run in a loopback-only network namespace:
 *   unshare -n bash -c 'ip link set lo up && npx vitest run test/integration/transport'
 */
import { networkInterfaces } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { RingAllReduce } from '../../../shared/allreduce/ring.ts';
import { LatencyAllReduce } from '../../../shared/allreduce/latencyAllReduce.ts';
import { partnersAt, workerSchedule, ARC_TREE_MAX_BYTES } from '../../../shared/allreduce/scheduleChoice.ts';
import { hashFloat32 } from '../../../shared/hash.ts';
import { mulberry32 } from '../../../shared/random.ts';
import type { LatencyAlgorithm } from '../../../shared/allreduce/schedule.ts';
import { nodePeerFactory, shutdownNodeWebRTC } from '../../../server/transport/nodePeer.ts';
import { PeerLink, type PeerFactory } from '../../../shared/transport/peerLink.ts';
import { PeerMesh, type MeshSignal } from '../../../shared/transport/peerMesh.ts';
import { linkCompliance, patterned, sendWindowed } from '../../unit/allreduce/linkCompliance.ts';

const loopbackOnly = Object.keys(networkInterfaces()).every((name) => name === 'lo');

it.skipIf(loopbackOnly)('refuses to run WebRTC outside a loopback-only network namespace', () => {
  throw new Error("run under: unshare -n bash -c 'ip link set lo up && npx vitest run test/integration/transport'");
});

/** A factory that counts the peers it made. */
function countingFactory(): PeerFactory & { made: number } {
  const inner = nodePeerFactory({ loopback: true });
  const f = ((o: { initiator: boolean }) => {
    f.made++;
    return inner(o);
  }) as PeerFactory & { made: number };
  f.made = 0;
  return f;
}

/** Two PeerLinks over one RTCPeerConnection pair, signaling wired directly. */
async function directPair(): Promise<[PeerLink, PeerLink]> {
  const make = nodePeerFactory({ loopback: true });
  const pa = make({ initiator: true });
  const pb = make({ initiator: false });
  pa.on('signal', (s) => pb.signal(s));
  pb.on('signal', (s) => pa.signal(s));
  const a = new PeerLink('b', pa);
  const b = new PeerLink('a', pb);
  await Promise.all([a.opened, b.opened]);
  return [a, b];
}

/** Meshes whose signals travel like socket.io messages: asynchronously, as JSON. */
class Relay {
  meshes = new Map<string, PeerMesh>();
  /** ids whose outgoing signals are lost */
  mute = new Set<string>();
  add(id: string, factory: PeerFactory = nodePeerFactory({ loopback: true }), timeoutMs = 10_000): PeerMesh {
    const mesh = new PeerMesh({
      localId: id,
      createPeer: factory,
      timeoutMs,
      sendSignal: (to: string, data: MeshSignal) => {
        if (this.mute.has(id)) return;
        const wire: unknown = JSON.parse(JSON.stringify(data));
        setImmediate(() => this.meshes.get(to)?.handleSignal(id, wire));
      },
    });
    this.meshes.set(id, mesh);
    return mesh;
  }
  destroy() {
    for (const m of this.meshes.values()) m.destroy();
  }
}

const relays: Relay[] = [];
afterAll(() => {
  for (const r of relays) r.destroy();
  shutdownNodeWebRTC();
});

describe.runIf(loopbackOnly)('WebRTC on node-datachannel (loopback only)', () => {
  linkCompliance('PeerLink, simple-peer on node-datachannel', directPair, { buffers: true });

  let k = 0;
  linkCompliance('PeerMesh links on node-datachannel', async () => {
    const relay = new Relay();
    relays.push(relay);
    k++;
    const a = relay.add(`x${k}a`);
    const b = relay.add(`x${k}b`);
    return Promise.all([a.connect(b.localId), b.connect(a.localId)]);
  }, { buffers: true });

  it('the mesh makes one connection per pair, whichever side connects first, and reuses it', async () => {
    const relay = new Relay();
    relays.push(relay);
    const fa = countingFactory();
    const fb = countingFactory();
    const a = relay.add('peer-a', fa);
    const b = relay.add('peer-b', fb);
    // the responder asks first; the initiator's offer completes it
    const fromB = b.connect('peer-a');
    const fromA = a.connect('peer-b');
    const [la, lb] = await Promise.all([fromA, fromB]);
    expect(fa.made + fb.made).toBe(2);
    expect(await a.connect('peer-b')).toBe(la);
    expect(await b.connect('peer-a')).toBe(lb);
    expect(fa.made + fb.made).toBe(2);
    const got = new Promise<Uint8Array>((r) => lb.onMessage(r));
    la.send(patterned(5, 1000));
    expect(await got).toEqual(patterned(5, 1000));
  });

  for (const n of [2, 3, 4]) {
    it(`a ${n}-rank ring all-reduce over mesh links (one connection per neighbour pair) sums exactly`, async () => {
      const relay = new Relay();
      relays.push(relay);
      const ids = Array.from({ length: n }, (_, r) => `ring${n}-${r}`);
      const meshes = ids.map((id) => relay.add(id));
      const links = await Promise.all(
        meshes.map(async (m, r) => {
          const [prev, next] = await Promise.all([m.connect(ids[(r + n - 1) % n]!), m.connect(ids[(r + 1) % n]!)]);
          return { prev, next };
        }),
      );
      if (n === 2) expect(links[0]!.prev).toBe(links[0]!.next);
      const len = 1_000_003;
      const vs = ids.map((_, r) => Float32Array.from({ length: len }, (_, i) => ((i * 31 + r * 17) % 2001) - 1000));
      const want = Float32Array.from({ length: len }, (_, i) => vs.reduce((acc, v) => acc + v[i]!, 0));
      const rings = links.map((l, rank) => new RingAllReduce({ jobTag: 9, epoch: 2, rank, size: n, prev: l.prev, next: l.next, chunkElems: 16_384 }));
      try {
        const stats = await Promise.all(rings.map((ring, r) => ring.allReduce(0, vs[r]!, { timeoutMs: 30_000 })));
        for (const v of vs) expect(hashFloat32(v)).toBe(hashFloat32(want));
        const ms = Math.max(...stats.map((st) => st.ms));
        const algbw = (len * 4) / 1e6 / (ms / 1000);
        console.info(`ring of ${n} over node-datachannel: ${(len * 4) / 1e6} MB in ${ms.toFixed(0)} ms, algbw ${algbw.toFixed(1)} MB/s, busbw ${((algbw * 2 * (n - 1)) / n).toFixed(1)} MB/s`);
      } finally {
        for (const ring of rings) ring.destroy();
      }
    });
  }

  // the latency schedules as workers run them (workerSchedule: arc-tree, lanes of one 64 KiB frame), and halving/doubling on Gray-coded ranks
  for (const [n, len, forced] of [[4, 20_000, null], [5, 60_000, null], [4, 20_000, 'halving-doubling']] as const) {
    const sched = forced ? { kind: forced, rankAt: [0, 1, 3, 2] } : workerSchedule(len * 4, n, 'fp32', ARC_TREE_MAX_BYTES);
    it(`${n} ranks, ${(len * 4) / 1000} KB: ${sched.kind} over ring-neighbour links only sums exactly; random floats end bit-identical on every rank`, async () => {
      if (!forced) expect(sched.kind).toBe('arc-tree');
      const relay = new Relay();
      relays.push(relay);
      const ids = Array.from({ length: n }, (_, r) => `${sched.kind}${n}-${r}`);
      const meshes = ids.map((id) => relay.add(id));
      const posOf = new Map(sched.rankAt.map((r, i) => [r, i]));
      const reducers = await Promise.all(
        meshes.map(async (m, pos) => {
          const partners = partnersAt(sched, pos);
          for (const p of partners) expect([(pos + 1) % n, (pos + n - 1) % n]).toContain(p);
          const byPos = new Map(await Promise.all(partners.map(async (p) => [p, await m.connect(ids[p]!)] as const)));
          const links = Array.from({ length: n }, (_, r) => byPos.get(posOf.get(r)!) ?? null);
          return new LatencyAllReduce({ jobTag: 9, epoch: 3, rank: sched.rankAt[pos]!, size: n, algorithm: sched.kind as LatencyAlgorithm, links, chunkElems: 16_384, pipelineElems: 16_384 });
        }),
      );
      try {
        for (let step = 0; step < 3; step++) {
          const ints = ids.map((_, r) => Float32Array.from({ length: len }, (_, i) => ((i * 31 + r * 17 + step) % 2001) - 1000));
          const want = Float32Array.from({ length: len }, (_, i) => ints.reduce((acc, v) => acc + v[i]!, 0));
          const stats = await Promise.all(reducers.map((a, pos) => a.allReduce(2 * step, ints[pos]!, { timeoutMs: 30_000 })));
          for (const v of ints) expect(hashFloat32(v)).toBe(hashFloat32(want));
          console.info(`${sched.kind} of ${n} over node-datachannel, ${(len * 4) / 1024} KiB: ${Math.max(...stats.map((st) => st.ms)).toFixed(1)} ms`);
          const rnd = mulberry32(step + 7 * n);
          const floats = ids.map(() => Float32Array.from({ length: len }, () => (rnd() - 0.5) * 2 ** Math.floor(rnd() * 20)));
          await Promise.all(reducers.map((a, pos) => a.allReduce(2 * step + 1, floats[pos]!, { timeoutMs: 30_000 })));
          expect(new Set(floats.map(hashFloat32)).size).toBe(1);
        }
      } finally {
        for (const a of reducers) a.destroy();
      }
    });
  }

  it('retain() closes the links to peers left out; both sides see it; a later connect() makes a new one', async () => {
    const relay = new Relay();
    relays.push(relay);
    const [a, b, c] = ['r-a', 'r-b', 'r-c'].map((id) => relay.add(id)) as [PeerMesh, PeerMesh, PeerMesh];
    const [ab, ac] = await Promise.all([a.connect('r-b'), a.connect('r-c'), b.connect('r-a'), c.connect('r-a')]);
    const ca = c.get('r-a')!;
    const caClosed = new Promise<void>((r) => ca.onClose(() => r()));
    a.retain(['r-b']);
    expect(ac.closed).toBe(true);
    expect(ab.closed).toBe(false);
    await caClosed;
    expect(c.get('r-a')).toBeUndefined();
    expect(a.openPeers()).toEqual(['r-b']);
    const [ac2] = await Promise.all([a.connect('r-c'), c.connect('r-a')]);
    expect(ac2).not.toBe(ac);
    const got = new Promise<Uint8Array>((r) => c.get('r-a')!.onMessage(r));
    ac2.send(Uint8Array.of(9, 8, 7));
    expect(await got).toEqual(Uint8Array.of(9, 8, 7));
  });

  it('a connect() nobody answers times out and says what timed out', async () => {
    const relay = new Relay();
    relays.push(relay);
    const a = relay.add('t-a');
    relay.add('t-b');
    relay.mute.add('t-b'); // t-b's answers are lost
    await expect(a.connect('t-b', { timeoutMs: 300 })).rejects.toThrow(
      /TIMEOUT: WebRTC connection from t-a to peer t-b \(offered connection \d+, data channel not open\) timed out after 300 ms/,
    );
    const lone = relay.add('t-z');
    await expect(lone.connect('t-c', { timeoutMs: 200 })).rejects.toThrow(/from t-z to peer t-c \(no offer received from t-c\) timed out after 200 ms/);
  });

  it('measures one link: throughput of 64 KiB messages (and 16 KiB, 256 KiB) with a 4 MiB window', async () => {
    const [a, b] = await directPair();
    const total = 64 * 1024 * 1024;
    const results: string[] = [];
    for (const size of [16 * 1024, 64 * 1024, 256 * 1024]) {
      const count = total / size;
      const msg = patterned(1, size);
      let got = 0;
      const done = new Promise<void>((resolve) => {
        const off = b.onMessage((d) => {
          got += d.byteLength;
          if (got === total) {
            off();
            resolve();
          }
        });
      });
      const t0 = performance.now();
      await sendWindowed(a, (function* () {
        for (let i = 0; i < count; i++) yield msg;
      })());
      await done;
      const mbps = total / 1e6 / ((performance.now() - t0) / 1000);
      results.push(`${size / 1024} KiB: ${mbps.toFixed(1)} MB/s`);
      expect(mbps).toBeGreaterThan(5);
    }
    console.info(`node-datachannel link throughput (64 MiB each): ${results.join(', ')}`);
    a.close();
  });
});
