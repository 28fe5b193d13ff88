/**
 * What one simulated host does for the benchmarks, in any JavaScript runtime (a Node agent
 * process or a Chromium tab): opens links through a PeerMesh, runs the ring all-reduce
 * (tuned or the pre-tuning baseline), point-to-point streams, the all-to-all exchange and a
 * parameter-server client, and reports what each took. Isomorphic: the transport comes in
 * through the mesh.
 */
import { io, type Socket } from 'socket.io-client';
import type { Link } from '../../shared/allreduce/link.ts';
import { RingAllReduce } from '../../shared/allreduce/ring.ts';
import { TabswarmError } from '../../shared/errors.ts';
import { hashFloat32 } from '../../shared/hash.ts';
import { BaselineRingAllReduce } from './baseline/ring0.ts';
import type { AgentCmd, RingSetup, StepResult } from './hostProtocol.ts';
import { p2pSend, TrafficSink } from './traffic.ts';

export interface MeshLike {
  connect(remoteId: string, opts: { timeoutMs?: number }): Promise<Link>;
  destroy(err?: Error): void;
}

/** deterministic per-rank input, kept to reset the vector before every timed step */
export function benchInput(elems: number, rank: number): Float32Array {
  const v = new Float32Array(elems);
  for (let i = 0; i < elems; i++) v[i] = ((i * 31 + rank * 17) % 1000) / 1000 - 0.5;
  return v;
}

export class BenchHost {
  private readonly sink = new TrafficSink();
  private readonly attached = new Set<Link>();
  private readonly links = new Map<string, Link>();
  private ring: { r: RingAllReduce | BaselineRingAllReduce; src: Float32Array; vec: Float32Array } | null = null;
  private ps: { socket: Socket; rank: number } | null = null;

  constructor(
    readonly id: string,
    private readonly mesh: MeshLike,
  ) {}

  private link(peer: string): Link {
    const l = this.links.get(peer);
    if (!l || l.closed) throw new TabswarmError('LINK_CLOSED', `${this.id} has no open link to ${peer}`);
    return l;
  }

  private setupRing(c: RingSetup) {
    this.ring?.r.destroy();
    const common = {
      jobTag: 77, epoch: c.epoch, rank: c.rank, size: c.size, prev: this.link(c.prev), next: this.link(c.next), chunkElems: c.chunkBytes / 4, highWaterBytes: c.highWater,
    };
    const r = c.impl === 'baseline'
      ? new BaselineRingAllReduce(common)
      : new RingAllReduce({ ...common, lowWaterBytes: c.lowWater, encoding: c.encoding, exactTail: 3, schedule: c.schedule, paceBytesPerSec: c.pace, autoPace: c.autoPace });
    this.ring = { r, src: benchInput(c.elems, c.rank), vec: new Float32Array(c.elems) };
  }

  private async ringStep(step: number): Promise<StepResult> {
    const ring = this.ring;
    if (!ring) throw new TabswarmError('BAD_REQUEST', 'ringSetup first');
    ring.vec.set(ring.src);
    const s = await ring.r.allReduce(step, ring.vec, { timeoutMs: 120_000 });
    return { ms: s.ms, bytesSent: s.bytesSent, hash: hashFloat32(ring.vec), stallMs: (s as { stallMs?: number }).stallMs };
  }

  private async psStep(step: number, elems: number): Promise<StepResult> {
    if (!this.ps) throw new TabswarmError('BAD_REQUEST', 'psConnect first');
    const { socket, rank } = this.ps;
    const vec = benchInput(elems, rank);
    const t0 = performance.now();
    const result = new Promise<Uint8Array>((resolve) => {
      const on = (m: { step: number; data: Uint8Array }) => {
        if (m.step !== step) return;
        socket.off('result', on);
        resolve(m.data);
      };
      socket.on('result', on);
    });
    socket.emit('push', { rank, step, data: new Uint8Array(vec.buffer) });
    const sum = new Uint8Array(await result);
    const out = new Float32Array(sum.buffer, sum.byteOffset, sum.byteLength / 4);
    return { ms: performance.now() - t0, bytesSent: vec.byteLength, hash: hashFloat32(out) };
  }

  async handle(c: AgentCmd): Promise<unknown> {
    switch (c.op) {
      case 'connect': {
        const got = await Promise.all(c.peers.map((p) => this.mesh.connect(p, { timeoutMs: 30_000 })));
        got.forEach((l, i) => {
          this.links.set(c.peers[i]!, l);
          if (!this.attached.has(l)) {
            this.attached.add(l);
            this.sink.attach(l);
          }
        });
        return c.peers.length;
      }
      case 'ringSetup':
        return this.setupRing(c);
      case 'ringStep':
        return this.ringStep(c.step);
      case 'ringTeardown':
        this.ring?.r.destroy();
        this.ring = null;
        return null;
      case 'p2pSend':
        return p2pSend(this.link(c.to), c.bytes, c.chunkBytes, c.highWater);
      case 'a2a': {
        const byRank = new Map<number, Link>();
        c.peers.forEach((p, r) => r !== c.rank && byRank.set(r, this.link(p)));
        return this.sink.exchange(byRank, c.rank, c.step, benchInput(c.elems, c.rank), c.chunkBytes, c.highWater);
      }
      case 'psConnect': {
        const socket = io(c.url, { transports: ['websocket'], reconnection: false });
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', () => resolve());
          socket.once('connect_error', (e) => reject(new TabswarmError('LINK_FAILED', `parameter server ${c.url}: ${e.message}`)));
        });
        this.ps = { socket, rank: c.rank };
        return null;
      }
      case 'psStep':
        return this.psStep(c.step, c.elems);
      case 'usage':
      case 'exit':
        return null; // runtime-specific: the wrapper answers these
    }
  }

  close(): void {
    this.ring?.r.destroy();
    this.ps?.socket.disconnect();
    this.mesh.destroy();
  }
}
