/**
 * Four Node peers join a job on the real server over real socket.io, signal through it, open
 * real WebRTC data channels (node-datachannel) to their ring neighbours and all-reduce a 4 MB
 * vector; then the coordinator commits on their agreeing hashes. Then the same all-reduce
 * again with each peer's input arriving piece by piece while the ring already runs (the
 * overlap of compute and all-reduce): the same bits. And once more paced under a stated
 * uplink rate (PacedLink): the same bits, never faster than the pace allows. And once more
 * paced automatically: the same bits, and every rank gets its next rank's one-way delay
 * reports over the real data channel.
 */
import { networkInterfaces } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { io, type Socket } from 'socket.io-client';
import { decodeDelayReport } from '../../shared/allreduce/delayReport.ts';
import { InputGate } from '../../shared/allreduce/inputGate.ts';
import { RingAllReduce } from '../../shared/allreduce/ring.ts';
import { hashFloat32, hashString32 } from '../../shared/hash.ts';
import { PROTOCOL_VERSION, type ServerMessage } from '../../shared/protocol.ts';
import { mulberry32 } from '../../shared/random.ts';
import { nodePeerFactory, shutdownNodeWebRTC } from '../../server/transport/nodePeer.ts';
import { PeerMesh } from '../../shared/transport/peerMesh.ts';
import { createJob, startServer, waitFor } from '../e2e/helpers.ts';

const loopbackOnly = Object.keys(networkInterfaces()).every((n) => n === 'lo');
const N = 4;
const LEN = (4 * 1024 * 1024) / 4;

interface Peer {
  socket: Socket;
  inbox: ServerMessage[];
  peerId: string;
  mesh: PeerMesh | null;
}

const closers: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c();
  shutdownNodeWebRTC();
});

describe.runIf(loopbackOnly)('Node peers through the real server', () => {
  it('4 peers signal through the server, all-reduce 4 MB over WebRTC, and get a commit', async () => {
    const server = await startServer();
    closers.push(() => server.close());
    const job = await createJob(server.url, { preset: 'iris-mlp', minWorkers: N, steps: 5 });

    const peers: Peer[] = [];
    for (let i = 0; i < N; i++) {
      const socket = io(server.url, { transports: ['websocket'], forceNew: true });
      closers.push(() => socket.close());
      const p: Peer = { socket, inbox: [], peerId: '', mesh: null };
      socket.on('msg', (m: ServerMessage) => {
        if (m.type === 'signal') p.mesh?.handleSignal(m.from, m.data);
        else p.inbox.push(m);
      });
      socket.emit('msg', { type: 'join', protocol: PROTOCOL_VERSION, jobId: job.id });
      peers.push(p);
    }
    for (const p of peers) {
      const welcome = await waitFor('welcome', () => p.inbox.find((m) => m.type === 'welcome'), 10_000, 5);
      p.peerId = welcome.peerId;
      p.mesh = new PeerMesh({
        localId: p.peerId,
        sendSignal: (to, data) => p.socket.emit('msg', { type: 'signal', to, data: data as unknown as Record<string, unknown> }),
        createPeer: nodePeerFactory({ loopback: true }),
      });
      closers.push(() => p.mesh!.destroy());
      p.socket.emit('msg', { type: 'ready', info: { backend: 'cpu', adapter: '', reason: 'test', calibration: {}, userAgent: 'node' }, samplesPerSec: 100 });
    }

    const vectors = peers.map((_, r) => {
      const rnd = mulberry32(r + 1);
      return Float32Array.from({ length: LEN }, () => rnd() * 2 - 1);
    });
    const want = new Float64Array(LEN);
    for (const v of vectors) for (let i = 0; i < LEN; i++) want[i]! += v[i]!;

    const results = await Promise.all(
      peers.map(async (p, i) => {
        const step = await waitFor('step', () => p.inbox.find((m) => m.type === 'step'), 10_000, 5);
        const rank = step.ring.indexOf(p.peerId);
        const prevId = step.ring[(rank + N - 1) % N]!;
        const nextId = step.ring[(rank + 1) % N]!;
        const [prev, next] = await Promise.all([p.mesh!.connect(prevId, { timeoutMs: 15_000 }), p.mesh!.connect(nextId, { timeoutMs: 15_000 })]);
        const ring = new RingAllReduce({ jobTag: hashString32(job.id), epoch: step.epoch, rank, size: N, prev, next, chunkElems: 16384, firstStep: step.step });
        // the later rings listen from now on: a neighbour may start one while this rank still runs the previous
        const gated = new RingAllReduce({ jobTag: hashString32(job.id), epoch: step.epoch + 1, rank, size: N, prev, next, chunkElems: 16384, firstStep: 0 });
        const pace = 20e6;
        const paced = new RingAllReduce({ jobTag: hashString32(job.id), epoch: step.epoch + 2, rank, size: N, prev, next, chunkElems: 16384, firstStep: 0, paceBytesPerSec: pace });
        const auto = new RingAllReduce({ jobTag: hashString32(job.id), epoch: step.epoch + 3, rank, size: N, prev, next, chunkElems: 16384, firstStep: 0, autoPace: true });
        let reports = 0;
        const unsubReports = next.onMessage((d) => {
          if (decodeDelayReport(d)) reports++;
        });
        const v = vectors[i]!.slice();
        await ring.allReduce(step.step, v, { timeoutMs: 30_000 });
        const hash = hashFloat32(v);
        p.socket.emit('msg', { type: 'reduced', step: step.step, epoch: step.epoch, hash, paramHash: 'ab'.repeat(8), computeMs: 1, allreduceMs: 1, loss: 1, correct: 0, count: 1 });
        ring.destroy();
        // again, on the same links, with the input written in 64 pieces (last first, like
        // backpropagation) between event-loop turns while the ring runs
        const w = new Float32Array(LEN);
        const gate = new InputGate(LEN);
        const reducing = gated.allReduce(0, w, { timeoutMs: 30_000, input: gate });
        const piece = LEN / 64;
        let sentBeforeComplete = 0;
        for (let k = 63; k >= 0; k--) {
          await new Promise((r) => setTimeout(r, 0));
          w.set(vectors[i]!.subarray(k * piece, (k + 1) * piece), k * piece);
          gate.markReady(k * piece, piece);
          if (!gate.complete) sentBeforeComplete = (gated as unknown as { run: { stats: { framesSent: number } } | null }).run?.stats.framesSent ?? 0;
        }
        await reducing;
        gated.destroy();
        // paced: 20 MB/s, so the 6 MB each rank sends take at least (6 MB − one bucket − one frame) / rate
        const u = vectors[i]!.slice();
        const t0 = performance.now();
        const ps = await paced.allReduce(0, u, { timeoutMs: 30_000 });
        const pacedMs = performance.now() - t0;
        paced.destroy();
        const a = vectors[i]!.slice();
        await auto.allReduce(0, a, { timeoutMs: 30_000 });
        auto.destroy();
        unsubReports();
        const bucket = Math.max(64 * 1024, 16384 * 4 + 32, pace * 0.008);
        return { v, hash, gatedHash: hashFloat32(w), sentBeforeComplete, pacedHash: hashFloat32(u), pacedMs, pacedFloorMs: ((ps.bytesSent - bucket - (16384 * 4 + 32)) / pace) * 1000, autoHash: hashFloat32(a), reports };
      }),
    );

    expect(new Set(results.map((r) => r.hash)).size).toBe(1);
    for (const r of results) expect(r.gatedHash).toBe(r.hash);
    for (const r of results) expect(r.pacedHash).toBe(r.hash);
    for (const r of results) expect(r.pacedMs).toBeGreaterThanOrEqual(r.pacedFloorMs);
    for (const r of results) expect(r.autoHash).toBe(r.hash);
    for (const r of results) expect(r.reports).toBeGreaterThan(0);
    // the overlap is real: frames left before the last piece of input was in
    expect(results.some((r) => r.sentBeforeComplete > 0)).toBe(true);
    let maxErr = 0;
    for (let i = 0; i < LEN; i++) maxErr = Math.max(maxErr, Math.abs(results[0]!.v[i]! - want[i]!));
    expect(maxErr).toBeLessThan(1e-5);
    for (const p of peers) {
      const commit = await waitFor('commit', () => p.inbox.find((m) => m.type === 'commit'), 10_000, 5);
      expect(commit.step).toBe(0);
    }
  }, 90_000);
});
