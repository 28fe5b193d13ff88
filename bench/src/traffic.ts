/**
 * Non-ring bench traffic over Links: one-way point-to-point throughput of a single channel,
 * and the all-to-all exchange of full vectors (every peer sends its whole vector to every
 * other peer and sums what it receives, in rank order).
 */
import type { Link } from '../../shared/allreduce/link.ts';
import { TabswarmError } from '../../shared/errors.ts';
import { hashFloat32 } from '../../shared/hash.ts';
import { BENCH_TAG, Kind, type StepResult } from './hostProtocol.ts';

const A2A_HEADER = 12; // tag, kind, u16 from-rank, u32 step, u32 offset (elements)

/** Sends `bytes` in messages of `chunkBytes` with the ring's backpressure; resolves with ms once the receiver acknowledged the end. */
export async function p2pSend(link: Link, bytes: number, chunkBytes: number, highWater: number): Promise<StepResult> {
  const msg = new Uint8Array(chunkBytes);
  msg[0] = BENCH_TAG;
  msg[1] = Kind.P2pData;
  let off: () => void = () => {};
  const acked = new Promise<void>((resolve) => {
    off = link.onMessage((m) => {
      if (m[0] === BENCH_TAG && m[1] === Kind.P2pAck) resolve();
    });
  });
  const t0 = performance.now();
  let sent = 0;
  try {
    while (sent < bytes) {
      if (link.bufferedAmount > highWater) await link.drained(highWater / 2);
      const n = Math.min(chunkBytes, bytes - sent);
      link.send(n === chunkBytes ? msg : msg.subarray(0, n));
      sent += n;
    }
    link.send(Uint8Array.of(BENCH_TAG, Kind.P2pEnd));
    await acked;
  } finally {
    off();
  }
  return { ms: performance.now() - t0, bytesSent: sent, hash: '' };
}

interface A2aState {
  step: number;
  from: Map<number, { vec: Float32Array; got: number }>;
  elems: number;
  done: (() => void) | null;
}

/** Answers p2p ends and collects all-to-all pieces on every link of an agent. */
export class TrafficSink {
  private a2a = new Map<number, A2aState>();

  attach(link: Link): () => void {
    return link.onMessage((m) => {
      if (m[0] !== BENCH_TAG) return;
      if (m[1] === Kind.P2pEnd) link.send(Uint8Array.of(BENCH_TAG, Kind.P2pAck));
      else if (m[1] === Kind.A2a) this.onPiece(m);
    });
  }

  private state(step: number): A2aState {
    let s = this.a2a.get(step);
    if (!s) {
      s = { step, from: new Map(), elems: -1, done: null };
      this.a2a.set(step, s);
    }
    return s;
  }

  private onPiece(m: Uint8Array) {
    const dv = new DataView(m.buffer, m.byteOffset, m.byteLength);
    const from = dv.getUint16(2, true);
    const s = this.state(dv.getUint32(4, true));
    const offset = dv.getUint32(8, true);
    const n = (m.byteLength - A2A_HEADER) / 4;
    let entry = s.from.get(from);
    if (!entry) {
      entry = { vec: new Float32Array(Math.max(s.elems, offset + n)), got: 0 };
      s.from.set(from, entry);
    }
    if (entry.vec.length < offset + n) {
      const bigger = new Float32Array(offset + n);
      bigger.set(entry.vec);
      entry.vec = bigger;
    }
    const src = (m.byteOffset & 3) === 0 ? new Float32Array(m.buffer, m.byteOffset + A2A_HEADER, n) : new Float32Array(m.slice(A2A_HEADER).buffer);
    entry.vec.set(src, offset);
    entry.got += n;
    s.done?.();
  }

  /** Sends `vec` to every peer and waits for every peer's vector; sums in rank order. */
  async exchange(links: Map<number, Link>, rank: number, step: number, vec: Float32Array, chunkBytes: number, highWater: number): Promise<StepResult> {
    const s = this.state(step);
    s.elems = vec.length;
    const t0 = performance.now();
    const per = Math.floor((chunkBytes - A2A_HEADER) / 4);
    const msg = new Uint8Array(A2A_HEADER + per * 4);
    let bytesSent = 0;
    const complete = () => [...links.keys()].every((r) => (s.from.get(r)?.got ?? 0) >= vec.length);
    const received = new Promise<void>((resolve) => {
      s.done = () => complete() && resolve();
      s.done();
    });
    // one send loop per peer: each waits only for its own link's backpressure
    await Promise.all(
      [...links.values()].map(async (link) => {
        for (let off = 0; off < vec.length; off += per) {
          if (link.closed) throw new TabswarmError('LINK_CLOSED', `all-to-all link to ${link.remoteId} closed`);
          if (link.bufferedAmount > highWater) await link.drained(highWater / 2);
          const n = Math.min(per, vec.length - off);
          const dv = new DataView(msg.buffer);
          msg[0] = BENCH_TAG;
          msg[1] = Kind.A2a;
          dv.setUint16(2, rank, true);
          dv.setUint32(4, step, true);
          dv.setUint32(8, off, true);
          new Float32Array(msg.buffer, A2A_HEADER, n).set(vec.subarray(off, off + n));
          const out = msg.subarray(0, A2A_HEADER + n * 4);
          link.send(out);
          bytesSent += out.byteLength;
        }
      }),
    );
    await received;
    const order = [...links.keys(), rank].sort((a, b) => a - b);
    const sum = new Float32Array(vec.length);
    for (const r of order) {
      const v = r === rank ? vec : s.from.get(r)!.vec;
      for (let i = 0; i < sum.length; i++) sum[i]! += v[i]!;
    }
    vec.set(sum);
    this.a2a.delete(step);
    return { ms: performance.now() - t0, bytesSent, hash: hashFloat32(vec) };
  }
}
