/**
 * The ring's own cost, without a network: N ranks in this process over in-memory links.
 * What is left is the algorithm's CPU time (framing, summing, encoding, queueing) and the
 * buffers it makes per all-reduce — the part tuning of the hot loop changes.
 */
import { memoryLinkPair } from '../../shared/allreduce/memoryLink.ts';
import type { Link } from '../../shared/allreduce/link.ts';
import { RingAllReduce } from '../../shared/allreduce/ring.ts';
import type { CodecName } from '../../shared/codec.ts';
import { BaselineRingAllReduce } from './baseline/ring0.ts';
import { benchInput } from './host.ts';
import type { RingImpl } from './hostProtocol.ts';

/** Counts what passes through a link's send: messages and the distinct buffers they came in. */
class CountingLink implements Link {
  sends = 0;
  buffers = new Set<ArrayBufferLike>();
  constructor(private readonly inner: Link) {}
  get remoteId() { return this.inner.remoteId; }
  get bufferedAmount() { return this.inner.bufferedAmount; }
  get closed() { return this.inner.closed; }
  send(d: Uint8Array) {
    this.sends++;
    this.buffers.add(d.buffer);
    this.inner.send(d);
  }
  drained(low: number) { return this.inner.drained(low); }
  onMessage(cb: (d: Uint8Array) => void) { return this.inner.onMessage(cb); }
  onClose(cb: (e?: Error) => void) { return this.inner.onClose(cb); }
  close(e?: Error) { this.inner.close(e); }
}

export interface InProcessFigure {
  wallMs: number;
  cpuMs: number;
  /** frames each rank sent, and the distinct buffers they were sent from (per rank, mean) */
  framesPerRank: number;
  sendBuffersPerRank: number;
  /** send buffers the ring made itself (not received frames it forwarded), per rank */
  ringBuffersPerRank: number;
}

export async function inProcessRing(impl: RingImpl, n: number, bytes: number, chunkBytes: number, encoding: CodecName = 'fp32'): Promise<InProcessFigure> {
  const next: CountingLink[] = [];
  const prev: Link[] = [];
  const received = new Set<ArrayBufferLike>();
  for (let i = 0; i < n; i++) {
    const [a, b] = memoryLinkPair(`r${(i + 1) % n}`, `r${i}`);
    next[i] = new CountingLink(a);
    b.onMessage((d) => received.add(d.buffer));
    prev[(i + 1) % n] = b;
  }
  const rings = Array.from({ length: n }, (_, rank) => {
    const o = { jobTag: 1, epoch: 1, rank, size: n, prev: prev[rank]!, next: next[rank]!, chunkElems: chunkBytes / 4 };
    return impl === 'baseline' ? new BaselineRingAllReduce(o) : new RingAllReduce({ ...o, encoding, exactTail: 3 });
  });
  const vecs = rings.map((_, r) => benchInput(bytes / 4, r));
  await Promise.all(rings.map((r, i) => r.allReduce(0, vecs[i]!))); // warm-up (JIT, pools)
  for (const l of next) {
    l.sends = 0;
    l.buffers.clear();
  }
  received.clear();
  rings.forEach((_, r) => vecs[r]!.set(benchInput(bytes / 4, r)));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(rings.map((r, i) => r.allReduce(1, vecs[i]!)));
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  for (const r of rings) r.destroy();
  return {
    wallMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    framesPerRank: next.reduce((a, l) => a + l.sends, 0) / n,
    sendBuffersPerRank: next.reduce((a, l) => a + l.buffers.size, 0) / n,
    ringBuffersPerRank: next.reduce((a, l) => a + [...l.buffers].filter((b) => !received.has(b)).length, 0) / n,
  };
}
